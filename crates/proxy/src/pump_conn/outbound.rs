//! The pump's side of a connection: responses matched to the commands they answer, the pump's
//! own requests (ALARM), and the controller's responses to those.

use sha2::{Digest, Sha256};
use wardgate_pump::{Command, Frame, Header};

use super::inbox::frame_error_kind;
use super::wire::{command_name, control_id, push_bounded};
use super::{Driver, send};
use crate::audit::AuditRecord;
use crate::config::{FailurePolicy, UnmatchedAck};
use crate::link::{self, Close};
use crate::telemetry;

impl Driver {
    /// The controller's response to one of the pump's own requests (the ACK of an ALARM).
    pub(super) async fn inbound_response(
        &mut self,
        bytes: &[u8],
        h: &Header,
        mut rec: AuditRecord,
    ) -> Result<(), Close> {
        let matched = self.pump_requests.iter().position(|&s| s == h.sequence);
        let forward = match matched {
            Some(i) => {
                self.pump_requests.remove(i);
                rec.verdict = "allow";
                true
            }
            None => {
                telemetry::unmatched_ack(self.link.route.name());
                rec.verdict = "unmatched-ack";
                rec.reason = Some(format!(
                    "response to sequence {}, which the pump did not send on this connection",
                    h.sequence
                ));
                self.link.route.config.unmatched_ack == UnmatchedAck::Flag
            }
        };
        if !forward {
            telemetry::message(&self.link.route, "inbound", rec.verdict, rec.bytes);
            self.link.route.audit(rec);
            return Ok(());
        }
        self.forward_raw(bytes, rec).await
    }

    pub(super) async fn drain_outbound(&mut self) -> Result<(), Close> {
        loop {
            let Some(up) = self.link.upstream.as_mut() else {
                return Ok(());
            };
            match up.inbox.take() {
                Ok(Some(bytes)) => self.outbound_frame(bytes).await?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    telemetry::parse_error(self.link.route.name(), frame_error_kind(&e));
                    self.link.connection_event(
                        "outbound",
                        "closed",
                        format!("pump sent bad framing: {e}"),
                    );
                    return link::upstream_gone(self, "the pump's framing broke");
                }
            }
        }
    }

    /// A frame from the pump: a response (matched to the command it answers) or the pump's own
    /// request (ALARM). Either is observed into the route's pump state and passed on.
    async fn outbound_frame(&mut self, bytes: Vec<u8>) -> Result<(), Close> {
        let mut rec = self.link.base_record("outbound");
        rec.bytes = bytes.len();
        rec.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        let route = self.link.route.clone();
        let frame = match Frame::parse(&bytes) {
            Ok(f) => f,
            Err(e) => {
                telemetry::parse_error(route.name(), "pump-upstream");
                if let Ok(h) = Header::parse(&bytes) {
                    rec.message_type = Some(command_name(h.code));
                    rec.control_id = Some(control_id(&h));
                }
                rec.reason = Some(format!("pump frame does not parse: {e}"));
                if route.config.failure_policy == FailurePolicy::Open {
                    rec.verdict = "fail-open";
                    rec.forwarded = true;
                    route.audit(rec);
                    return send(&mut self.link.client, &bytes)
                        .await
                        .map_err(|_| Close::Abort);
                }
                rec.verdict = "malformed";
                route.audit(rec);
                return Ok(());
            }
        };
        if let Some(inventory) = route.learned() {
            inventory.pump(&route, &self.link.peer, &frame, false);
        }
        let h = frame.header;
        rec.message_type = Some(command_name(h.code));
        rec.control_id = Some(control_id(&h));
        if let Command::Nak(n) = &frame.command {
            rec.reason = Some(format!("pump refused: {}", n.reason));
        }
        let forward = if h.flags.response {
            self.match_response(&h, &mut rec)
        } else {
            rec.verdict = "allow";
            if h.flags.ack_requested {
                let cap = route.config.limits.max_outstanding;
                push_bounded(&mut self.pump_requests, h.sequence, cap);
            }
            true
        };
        if forward {
            let now = route.now_ms();
            route.with_pump_state(|state| route.rules().observe_pump(&frame, now, state));
        }
        rec.forwarded = forward;
        telemetry::message(&route, "outbound", rec.verdict, rec.bytes);
        route.audit(rec);
        if forward {
            send(&mut self.link.client, &bytes)
                .await
                .map_err(|_| Close::Abort)?;
        }
        Ok(())
    }

    /// Match a pump response to the command it answers; returns whether to forward it.
    fn match_response(&mut self, h: &Header, rec: &mut AuditRecord) -> bool {
        if let Some(i) = self.awaiting.iter().position(|o| o.sequence == h.sequence) {
            if let Some(o) = self.awaiting.remove(i) {
                telemetry::upstream_round_trip(&self.link.route, o.sent.elapsed());
            }
            rec.verdict = "allow";
            return true;
        }
        if let Some(i) = self
            .unanswered
            .iter()
            .position(|o| o.sequence == h.sequence)
        {
            self.unanswered.remove(i);
            rec.verdict = "allow";
            return true;
        }
        telemetry::unmatched_ack(self.link.route.name());
        rec.verdict = "unmatched-ack";
        rec.reason = Some(format!(
            "response to sequence {}, which was not sent on this connection",
            h.sequence
        ));
        self.link.route.config.unmatched_ack == UnmatchedAck::Flag
    }
}
