//! The upstream's side of a connection: replies matched to the messages they acknowledge and
//! passed back to the sender.

use sha2::{Digest, Sha256};
use wardgate_hl7::{FrameKind, Message, read_ack};

use super::{Driver, Frame, message_ids, mllp_kind, send};
use crate::config::{FailurePolicy, UnmatchedAck};
use crate::link::{self, Close};
use crate::telemetry;

impl Driver {
    pub(super) async fn drain_outbound(&mut self) -> Result<(), Close> {
        loop {
            let Some(up) = self.link.upstream.as_mut() else {
                return Ok(());
            };
            let frame = match up.inbox.take() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    telemetry::parse_error(self.link.route.name(), mllp_kind(&e));
                    self.link.connection_event(
                        "outbound",
                        "closed",
                        format!("upstream sent bad framing: {e}"),
                    );
                    return link::upstream_gone(self, "the upstream's framing broke");
                }
            };
            match frame.kind {
                FrameKind::Message => self.outbound_message(frame).await?,
                FrameKind::CommitAck | FrameKind::CommitNak => {
                    send(&mut self.link.client, &frame.bytes)
                        .await
                        .map_err(|_| Close::Abort)?;
                }
            }
        }
    }

    async fn outbound_message(&mut self, frame: Frame) -> Result<(), Close> {
        let payload = frame.bytes.get(frame.payload.clone()).unwrap_or_default();
        let mut rec = self.link.base_record("outbound");
        rec.bytes = payload.len();
        rec.sha256 = Some(crate::audit::to_hex(&Sha256::digest(payload)));
        let route = self.link.route.clone();
        let msg = match Message::parse(payload, &route.parse_limits) {
            Ok(m) => {
                if let Some(inventory) = route.learned() {
                    inventory.hl7(&route, &self.link.peer, &m, false);
                }
                m
            }
            Err(e) => {
                telemetry::parse_error(route.name(), "hl7-upstream");
                rec.reason = Some(format!("upstream reply does not parse: {e}"));
                if route.config.failure_policy == FailurePolicy::Open {
                    rec.verdict = "fail-open";
                    rec.forwarded = true;
                    route.audit(rec);
                    return send(&mut self.link.client, &frame.bytes)
                        .await
                        .map_err(|_| Close::Abort);
                }
                rec.verdict = "malformed";
                route.audit(rec);
                return Ok(());
            }
        };
        let (message_type, control) = message_ids(&msg);
        rec.message_type = Some(message_type);
        rec.control_id = control.map(|v| v.to_text());
        let acked = read_ack(&msg).map(|(_, id)| id.raw().to_vec());
        let matched = acked
            .as_ref()
            .and_then(|id| self.outstanding.iter().position(|o| &o.control_id == id));
        let forward = match (acked, matched) {
            (Some(_), Some(i)) => {
                if let Some(o) = self.outstanding.remove(i) {
                    telemetry::upstream_round_trip(&route, o.sent.elapsed());
                }
                rec.verdict = "allow";
                true
            }
            (Some(id), None) => {
                telemetry::unmatched_ack(route.name());
                rec.verdict = "unmatched-ack";
                rec.reason = Some(format!(
                    "acknowledgement for {:?}, which was not sent on this connection",
                    String::from_utf8_lossy(&id)
                ));
                route.config.unmatched_ack == UnmatchedAck::Flag
            }
            (None, _) => {
                rec.verdict = "allow";
                rec.reason = Some("upstream message without MSA".into());
                true
            }
        };
        rec.forwarded = forward;
        telemetry::message(&route, "outbound", rec.verdict, rec.bytes);
        // The reply goes out before its line is written: an upstream reply is not gated on the
        // audit log (a failed write is counted and logged either way), so its write need not sit
        // between the upstream and the sender. It is written before this connection reads
        // anything else, so the connection's lines keep their order.
        let sent = if forward {
            send(&mut self.link.client, &frame.bytes).await
        } else {
            Ok(())
        };
        route.audit(rec);
        sent.map_err(|_| Close::Abort)
    }
}
