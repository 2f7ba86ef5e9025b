//! One pump-protocol (WPP v1) connection: frame, parse, judge, then forward the original bytes or
//! answer the controller with the protocol's NAK; the pump's replies, status reports and alarms
//! flow back through the same inspection and feed the route's pump state.

use std::collections::VecDeque;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;
use wardgate_pump::{
    Frame, FrameDecoder, FrameError, Header, NakReason, ParseError, ReplyTo, build_nak,
};
use wardgate_rules::{Denial, Verdict};

use crate::audit::AuditRecord;
use crate::audit_gate::{self, Ahead};
use crate::config::FailurePolicy;
use crate::hl7_conn::Peer;
use crate::io::BoxedIo;
use crate::link::{self, Close, Exchange, Link, Words, send};
use crate::route::Route;
use crate::telemetry;

pub(crate) mod inbox;
mod outbound;
mod wire;

use inbox::{frame_error_kind, payload_limit};
use wire::{command_name, control_id, denial_nak, expects_reply, push_bounded};

/// A command forwarded to the pump whose response has not been seen yet.
struct Outstanding {
    sequence: u32,
    control_id: String,
    sent: Instant,
}

struct Driver {
    link: Link<FrameDecoder>,
    /// Forwarded commands the pump owes a response (HELLO, STATUS, ack-requested): the ack
    /// timeout runs on these, and losing the pump with any of them closes the connection.
    awaiting: VecDeque<Outstanding>,
    /// Forwarded commands without ack-requested: the pump answers only to refuse them, so a NAK
    /// can still be matched; bounded, oldest forgotten first.
    unanswered: VecDeque<Outstanding>,
    /// Sequence numbers of the pump's own requests (ALARM) awaiting the controller's ACK; bounded.
    pump_requests: VecDeque<u32>,
}

/// Serve one controller connection until it closes, idles out, or shutdown drains it.
pub async fn serve(
    route: Arc<Route>,
    peer: Peer,
    client: BoxedIo,
    shutdown: watch::Receiver<bool>,
) {
    let max = route.config.limits.max_message_bytes;
    let mut driver = Driver {
        link: Link::new(route, peer, client, FrameDecoder::new(payload_limit(max))),
        awaiting: VecDeque::new(),
        unanswered: VecDeque::new(),
        pump_requests: VecDeque::new(),
    };
    link::serve(&mut driver, shutdown).await;
}

impl Exchange for Driver {
    type Framer = FrameDecoder;
    const WORDS: Words = Words {
        client: "controller",
        upstream: "pump",
        no_reply: "the pump did not respond in time",
    };

    fn link(&self) -> &Link<FrameDecoder> {
        &self.link
    }

    fn link_mut(&mut self) -> &mut Link<FrameDecoder> {
        &mut self.link
    }

    fn oldest_owed(&self) -> Option<Instant> {
        self.awaiting.front().map(|o| o.sent)
    }

    fn upstream_framer(&self) -> FrameDecoder {
        FrameDecoder::new(payload_limit(
            self.link.route.config.limits.max_message_bytes,
        ))
    }

    async fn drain_inbound(&mut self) -> Result<(), Close> {
        Driver::drain_inbound(self).await
    }

    async fn drain_outbound(&mut self) -> Result<(), Close> {
        Driver::drain_outbound(self).await
    }

    /// Every forwarded command the pump owed a response is audited as lost; the controller
    /// connection then closes, so the controller re-queries instead of assuming an outcome.
    fn lose_outstanding(&mut self, why: &str) {
        telemetry::upstream_failure(self.link.route.name(), "lost");
        for o in std::mem::take(&mut self.awaiting) {
            let mut rec = self.link.base_record("inbound");
            rec.verdict = "upstream-lost";
            rec.control_id = Some(o.control_id);
            rec.reason = Some(format!("{why}; no response reached the controller"));
            rec.forwarded = true;
            self.link.route.audit(rec);
        }
    }

    /// The pump's unanswered commands and its own requests belong to the connection that is gone.
    fn forget_upstream(&mut self) {
        self.unanswered.clear();
        self.pump_requests.clear();
    }
}

impl Driver {
    async fn drain_inbound(&mut self) -> Result<(), Close> {
        loop {
            match self.link.inbox.take() {
                // Boxed: only alive while a frame is judged (idle connections stay small).
                Ok(Some(bytes)) => Box::pin(self.inbound_frame(bytes)).await?,
                Ok(None) => return Ok(()),
                Err(e) => return self.inbound_framing_error(e).await,
            }
        }
    }

    /// The envelope is broken: nothing is forwarded and the stream cannot be resynchronised.
    /// A bad CRC under a readable header is answered NAK 2 first (§4.4); then the connection closes.
    async fn inbound_framing_error(&mut self, e: FrameError) -> Result<(), Close> {
        telemetry::parse_error(self.link.route.name(), frame_error_kind(&e));
        let mut rec = self.link.base_record("inbound");
        rec.verdict = "closed";
        rec.reason = Some(format!(
            "{e}; connection closed, nothing of the frame was forwarded"
        ));
        let header = match e {
            FrameError::BadCrc { .. } => self.link.inbox.header().filter(|h| !h.flags.response),
            _ => None,
        };
        if let Some(h) = &header {
            rec.message_type = Some(command_name(h.code));
            rec.control_id = Some(control_id(h));
        }
        self.link.route.audit(rec);
        if let Some(h) = header {
            let nak = build_nak(&ReplyTo::from(&h), NakReason::CRC, Some(&e.to_string()));
            let _ = send(&mut self.link.client, &nak).await;
        }
        Err(Close::Abort)
    }

    async fn inbound_frame(&mut self, bytes: Vec<u8>) -> Result<(), Close> {
        let started = std::time::Instant::now();
        let mut rec = self.link.base_record("inbound");
        rec.bytes = bytes.len();
        rec.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        let route = self.link.route.clone();
        let frame = match Frame::parse(&bytes) {
            Ok(f) => f,
            Err(e) => return self.inbound_malformed(&bytes, e, rec).await,
        };
        if let Some(inventory) = route.learned() {
            inventory.pump(&route, &self.link.peer, &frame, true);
        }
        let h = frame.header;
        rec.message_type = Some(command_name(h.code));
        rec.control_id = Some(control_id(&h));
        if h.flags.response {
            return self.inbound_response(&bytes, &h, rec).await;
        }
        let now = route.now_ms();
        let glass = crate::breakglass::in_force(&route);
        rec.break_glass = glass.marks;
        let verdict = route
            .with_pump_state(|state| {
                route.rules().evaluate_pump_with(
                    &frame,
                    &self.link.peer.sender,
                    now,
                    state,
                    &glass.overrides,
                )
            })
            .unwrap_or_else(|| {
                Verdict::Deny(Denial::outside_hl7(
                    "wardgate",
                    "the route keeps no pump state".into(),
                    None,
                ))
            });
        telemetry::judged(&route, started, &verdict);
        match verdict {
            Verdict::Permit(p) => {
                rec.permitted(p);
                self.forward(&bytes, &h, rec).await
            }
            Verdict::Deny(d) => {
                rec.verdict = "deny";
                rec.rule = Some(d.rule.to_string());
                rec.reason = Some(d.reason.clone());
                rec.code = d.application_code;
                telemetry::refusal(
                    route.name(),
                    d.application_code
                        .map_or_else(|| "policy".to_owned(), |c| c.to_string()),
                );
                let (reason, text) = denial_nak(&d);
                self.nak(&h, reason, &text, rec).await
            }
        }
    }

    /// A frame whose envelope is sound but whose header or TLVs break the spec.
    async fn inbound_malformed(
        &mut self,
        bytes: &[u8],
        error: ParseError,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        telemetry::parse_error(self.link.route.name(), "pump");
        let header = Header::parse(bytes).ok();
        if let Some(h) = &header {
            rec.message_type = Some(command_name(h.code));
            rec.control_id = Some(control_id(h));
        }
        rec.reason = Some(format!("frame does not parse: {error}"));
        if self.link.route.config.failure_policy == FailurePolicy::Open {
            rec.verdict = "fail-open";
            tracing::warn!(route = %self.link.route.name(), conn = self.link.peer.id, %error, "forwarding an uninspectable frame (failure_policy = open)");
            return match header {
                Some(h) if !h.flags.response => self.forward(bytes, &h, rec).await,
                _ => self.forward_raw(bytes, rec).await,
            };
        }
        rec.verdict = "malformed";
        match header {
            Some(h) if !h.flags.response => {
                let text = format!("wardgate could not parse the frame: {error}");
                self.nak(&h, error.nak_reason(), &text, rec).await
            }
            Some(_) => {
                // A response cannot be answered; drop it, the connection stays usable.
                self.link.route.audit(rec);
                Ok(())
            }
            None => {
                rec.reason = Some(format!(
                    "{}; the header does not read, so no NAK can be addressed: connection closed",
                    rec.reason.unwrap_or_default()
                ));
                self.link.route.audit(rec);
                Err(Close::Abort)
            }
        }
    }

    /// Answer the controller with a NAK; the pump never sees the command. The connection stays usable.
    async fn nak(
        &mut self,
        h: &Header,
        reason: NakReason,
        text: &str,
        rec: AuditRecord,
    ) -> Result<(), Close> {
        let nak = build_nak(&ReplyTo::from(h), reason, Some(text));
        telemetry::message(&self.link.route, "inbound", rec.verdict, rec.bytes);
        self.link.route.audit(rec);
        send(&mut self.link.client, &nak)
            .await
            .map_err(|_| Close::Abort)
    }

    /// A permitted command did not reach the pump: the rule state must not count it.
    fn undelivered(&self, h: &Header) {
        let route = &self.link.route;
        route.with_pump_state(|state| route.rules().pump_undelivered(h, state));
    }

    /// Forward the original command bytes; if the pump cannot take them the controller gets
    /// NAK 7 (busy) saying why: never silence, never an ACK wardgate made up.
    async fn forward(
        &mut self,
        bytes: &[u8],
        h: &Header,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        let limits = self.link.route.config.limits;
        let owed = expects_reply(h);
        if owed && self.awaiting.len() >= limits.max_outstanding {
            self.undelivered(h);
            rec.verdict = "refused-backlog";
            rec.reason = Some("too many commands await the pump's response".into());
            let text = "wardgate: too many commands await the pump's response; resend later";
            return self.nak(h, NakReason::BUSY, text, rec).await;
        }
        let ahead = match self.ensure_upstream().await {
            Ok(_) => audit_gate::before_forwarding(&self.link.route, &mut rec),
            Err(_) => Ahead::Later,
        };
        if let Ahead::Refuse(why) = ahead {
            self.undelivered(h);
            rec.verdict = audit_gate::AUDIT_UNAVAILABLE;
            rec.reason = Some(why);
            let text = "wardgate cannot write its audit log, so the command was not delivered; resend later";
            return self.nak(h, NakReason::BUSY, text, rec).await;
        }
        match self.write_upstream(bytes).await {
            Ok(()) => {
                rec.forwarded = true;
                telemetry::message(&self.link.route, "inbound", rec.verdict, rec.bytes);
                if !matches!(ahead, Ahead::Written) {
                    self.link.route.audit(rec);
                }
                let o = Outstanding {
                    sequence: h.sequence,
                    control_id: control_id(h),
                    sent: Instant::now(),
                };
                if owed {
                    self.awaiting.push_back(o);
                } else {
                    push_bounded(&mut self.unanswered, o, limits.max_outstanding);
                }
                Ok(())
            }
            Err(why) => {
                self.undelivered(h);
                telemetry::upstream_failure(self.link.route.name(), "unavailable");
                rec.verdict = "upstream-unavailable";
                rec.reason = Some(why.clone());
                let text = format!("wardgate could not deliver the command: {why}");
                self.nak(h, NakReason::BUSY, &text, rec).await
            }
        }
    }

    /// Forward bytes nothing can be addressed to (fail-open frames with no readable header,
    /// responses): a failure to deliver closes the connection.
    async fn forward_raw(&mut self, bytes: &[u8], mut rec: AuditRecord) -> Result<(), Close> {
        match self.write_upstream(bytes).await {
            Ok(()) => {
                rec.forwarded = true;
                telemetry::message(&self.link.route, "inbound", rec.verdict, rec.bytes);
                self.link.route.audit(rec);
                Ok(())
            }
            Err(why) => {
                telemetry::upstream_failure(self.link.route.name(), "unavailable");
                rec.verdict = "upstream-unavailable";
                rec.reason = Some(why);
                self.link.route.audit(rec);
                Err(Close::Abort)
            }
        }
    }
}
