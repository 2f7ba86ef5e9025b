//! The sender's side of a connection: each message judged, then forwarded as sent or refused
//! with a NACK.

use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use wardgate_hl7::{
    ErrorCode, FrameKind, Header, Message, ParseError, Refusal, ReplyContext, Severity, build_nack,
    wrap,
};
use wardgate_rules::Verdict;

use super::{Driver, Frame, Outstanding, message_ids, message_type, mllp_kind, send};
use crate::audit::AuditRecord;
use crate::audit_gate::{self, Ahead};
use crate::config::FailurePolicy;
use crate::link::{Close, Exchange};
use crate::{clock, telemetry};

impl Driver {
    pub(super) async fn drain_inbound(&mut self) -> Result<(), Close> {
        loop {
            let frame = match self.link.inbox.take() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    telemetry::parse_error(self.link.route.name(), mllp_kind(&e));
                    self.link.connection_event(
                        "inbound",
                        "closed",
                        format!("{e}; connection closed, nothing of the frame was forwarded"),
                    );
                    return Err(Close::Abort);
                }
            };
            match frame.kind {
                // Boxed: the judging future is several KiB and only lives while a message is
                // judged, so an idle connection does not carry it (see `server::handle`).
                FrameKind::Message => Box::pin(self.inbound_message(frame)).await?,
                // Commit-level ACK/NAK blocks carry no content; pass them on if there is a peer.
                FrameKind::CommitAck | FrameKind::CommitNak => {
                    if let Some(up) = self.link.upstream.as_mut() {
                        send(&mut up.io, &frame.bytes)
                            .await
                            .map_err(|_| Close::Abort)?;
                    }
                }
            }
        }
    }

    async fn inbound_message(&mut self, frame: Frame) -> Result<(), Close> {
        let started = std::time::Instant::now();
        let payload = frame.bytes.get(frame.payload.clone()).unwrap_or_default();
        let mut rec = self.link.base_record("inbound");
        rec.bytes = payload.len();
        rec.sha256 = Some(crate::audit::to_hex(&Sha256::digest(payload)));
        let route = self.link.route.clone();
        match Message::parse(payload, &route.parse_limits) {
            Ok(msg) => {
                if let Some(inventory) = route.learned() {
                    inventory.hl7(&route, &self.link.peer, &msg, true);
                }
                let header = msg.header();
                let (message_type, control) = message_ids(&msg);
                rec.message_type = Some(message_type);
                rec.control_id = control.map(|v| v.to_text());
                let now_ms = SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let glass = crate::breakglass::in_force(&route);
                rec.break_glass = glass.marks;
                let verdict = route.rules().evaluate_hl7_with(
                    &msg,
                    &self.link.peer.sender,
                    Some(now_ms),
                    &glass.overrides,
                );
                telemetry::judged(&route, started, &verdict);
                match verdict {
                    Verdict::Permit(p) => {
                        rec.permitted(p);
                        let control = control.map(|v| v.raw().to_vec()).unwrap_or_default();
                        self.forward(&frame.bytes, control, header, rec).await
                    }
                    Verdict::Deny(d) => {
                        rec.verdict = "deny";
                        rec.rule = Some(d.rule.to_string());
                        rec.reason = Some(d.reason.clone());
                        rec.code = d.application_code;
                        // Every HL7 denial carries ERR-3; 207 only guards a denial built elsewhere.
                        let error = d
                            .hl7_error
                            .map_or(ErrorCode::APPLICATION_INTERNAL_ERROR, ErrorCode);
                        telemetry::refusal(
                            route.name(),
                            d.application_code
                                .map_or_else(|| error.0.to_string(), |c| c.to_string()),
                        );
                        let code = header.ack_mode().reject();
                        let text = format!("refused by wardgate rule {}: {}", d.rule, d.reason);
                        let refusal = Refusal {
                            code,
                            error,
                            severity: Severity::Error,
                            application_code: d.application_code,
                            user_message: &text,
                        };
                        self.refuse(header, &refusal, rec).await
                    }
                }
            }
            Err(e) => self.inbound_malformed(&frame, payload, e, rec).await,
        }
    }

    async fn inbound_malformed(
        &mut self,
        frame: &Frame,
        payload: &[u8],
        error: ParseError,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        telemetry::parse_error(self.link.route.name(), "hl7");
        let header = Header::parse(payload).ok();
        if let Some(h) = &header {
            rec.message_type = Some(message_type(h));
            rec.control_id = h.control_id().map(|v| v.to_text());
        }
        rec.reason = Some(format!("message does not parse: {error}"));
        if self.link.route.config.failure_policy == FailurePolicy::Open {
            rec.verdict = "fail-open";
            tracing::warn!(route = %self.link.route.name(), conn = self.link.peer.id, %error, "forwarding an uninspectable message (failure_policy = open)");
            let control = header
                .as_ref()
                .and_then(|h| h.control_id())
                .map(|v| v.raw().to_vec())
                .unwrap_or_default();
            return match header {
                Some(h) => self.forward(&frame.bytes, control, &h, rec).await,
                None => self.forward_raw(&frame.bytes, control, rec).await,
            };
        }
        rec.verdict = "malformed";
        let Some(h) = header else {
            rec.reason = Some(format!(
                "{}; no MSH could be read, connection closed",
                rec.reason.unwrap_or_default()
            ));
            self.link.route.audit(rec);
            return Err(Close::Abort);
        };
        let code = h.ack_mode().error();
        let error_code = ErrorCode::for_parse_error(&error);
        let text = format!("wardgate could not parse the message: {error}");
        let refusal = Refusal {
            code,
            error: error_code,
            severity: Severity::Error,
            application_code: None,
            user_message: &text,
        };
        self.refuse(&h, &refusal, rec).await
    }

    /// Send a NACK to the client; the connection stays usable.
    async fn refuse(
        &mut self,
        header: &Header<'_>,
        refusal: &Refusal<'_>,
        rec: AuditRecord,
    ) -> Result<(), Close> {
        let now = clock::hl7_timestamp(SystemTime::now());
        let control_id = self.link.route.next_control_id();
        let nack = build_nack(
            header,
            refusal,
            &ReplyContext {
                timestamp: &now,
                control_id: &control_id,
            },
        );
        telemetry::message(&self.link.route, "inbound", rec.verdict, rec.bytes);
        self.link.route.audit(rec);
        send(&mut self.link.client, &wrap(&nack))
            .await
            .map_err(|_| Close::Abort)
    }

    /// Forward the original frame; if the upstream cannot take it, the sender gets an AE/CE NACK
    /// (the message was certainly not delivered), never silence and never a positive ACK.
    async fn forward(
        &mut self,
        bytes: &[u8],
        control_id: Vec<u8>,
        header: &Header<'_>,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        if self.outstanding.len() >= self.link.route.config.limits.max_outstanding {
            rec.verdict = "refused-backlog";
            rec.reason = Some("too many messages await the upstream's acknowledgement".into());
            let refusal = Refusal {
                code: header.ack_mode().error(),
                error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                severity: Severity::Error,
                application_code: None,
                user_message: "wardgate: too many messages await the upstream's acknowledgement; resend later",
            };
            return self.refuse(header, &refusal, rec).await;
        }
        let ahead = match self.ensure_upstream().await {
            Ok(_) => audit_gate::before_forwarding(&self.link.route, &mut rec),
            Err(_) => Ahead::Later,
        };
        if let Ahead::Refuse(why) = ahead {
            rec.verdict = audit_gate::AUDIT_UNAVAILABLE;
            rec.reason = Some(why);
            let refusal = Refusal {
                code: header.ack_mode().error(),
                error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                severity: Severity::Error,
                application_code: None,
                user_message: "wardgate cannot write its audit log, so the message was not delivered; resend later",
            };
            return self.refuse(header, &refusal, rec).await;
        }
        match self.write_upstream(bytes).await {
            Ok(()) => {
                rec.forwarded = true;
                telemetry::message(&self.link.route, "inbound", rec.verdict, rec.bytes);
                if !matches!(ahead, Ahead::Written) {
                    self.link.route.audit(rec);
                }
                self.outstanding.push_back(Outstanding {
                    control_id,
                    sent: Instant::now(),
                });
                Ok(())
            }
            Err(why) => {
                telemetry::upstream_failure(self.link.route.name(), "unavailable");
                rec.verdict = "upstream-unavailable";
                rec.reason = Some(why.clone());
                let text = format!("wardgate could not deliver the message: {why}");
                let refusal = Refusal {
                    code: header.ack_mode().error(),
                    error: ErrorCode::APPLICATION_INTERNAL_ERROR,
                    severity: Severity::Error,
                    application_code: None,
                    user_message: &text,
                };
                self.refuse(header, &refusal, rec).await
            }
        }
    }

    /// Fail-open forwarding of a frame with no readable header: nothing to NACK with, so a failure
    /// to deliver closes the connection.
    async fn forward_raw(
        &mut self,
        bytes: &[u8],
        control_id: Vec<u8>,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        match self.write_upstream(bytes).await {
            Ok(()) => {
                rec.forwarded = true;
                self.link.route.audit(rec);
                self.outstanding.push_back(Outstanding {
                    control_id,
                    sent: Instant::now(),
                });
                Ok(())
            }
            Err(why) => {
                rec.verdict = "upstream-unavailable";
                rec.reason = Some(why);
                self.link.route.audit(rec);
                Err(Close::Abort)
            }
        }
    }
}
