//! PDUs from the association acceptor (the SCP): its A-ASSOCIATE-AC is judged against the
//! rules before the requestor sees it; responses and data sets are inspected for state and
//! forwarded as the original bytes.

use sha2::{Digest, Sha256};
use wardgate_dicom::{AbortReason, Assembled, AssociateAc, CommandSet, Pdu, PduError};

use super::held::Fate;
use super::inbox::{RawPdu, framer_error_kind};
use super::names::{command_name, control_id, pdu_name, sop_class};
use super::policy;
use super::{Close, Driver, Side, push_bounded, remove_id};
use crate::telemetry;

impl Driver {
    pub(super) async fn drain_upstream(&mut self) -> Result<(), Close> {
        loop {
            if self.assoc.is_closed() {
                return Ok(());
            }
            let next = match self.upstream.as_mut() {
                Some(up) => up.inbox.take(),
                None => return Ok(()),
            };
            match next {
                // Boxed, like the requestor's: only alive while a PDU is handled.
                Ok(Some(pdu)) => Box::pin(self.on_acceptor_pdu(pdu)).await?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let reason = PduError::from(e).abort_reason();
                    let what = format!("framing: {e}");
                    return self
                        .protocol_error(Side::Acceptor, reason, &what, framer_error_kind(&e), None)
                        .await;
                }
            }
        }
    }

    async fn on_acceptor_pdu(&mut self, pdu: RawPdu) -> Result<(), Close> {
        let name = Some(pdu_name(pdu.pdu_type));
        let Some(decoded) = self.decode_in_state(Side::Acceptor, &pdu).await? else {
            return Ok(());
        };
        match decoded {
            Pdu::AssociateAc(ac) => self.associate_ac(&ac, &pdu.bytes).await,
            Pdu::AssociateRj(rj) => {
                self.awaiting = None;
                let mut rec = self.base_record(Side::Acceptor);
                rec.verdict = "allow";
                rec.message_type = name;
                rec.code = Some(u16::from(rj.reason.0));
                rec.reason = Some(format!(
                    "the acceptor rejected the association (result {}, source {}, reason {})",
                    rj.result.0, rj.source.0, rj.reason.0
                ));
                rec.forwarded = true;
                self.route.audit(rec);
                self.write_client(&pdu.bytes).await?;
                Err(Close::Done)
            }
            Pdu::PDataTf(pdvs) => {
                if let Err(reason) = self.inspect_outbound(&pdvs) {
                    self.abort_both(AbortReason::NOT_SPECIFIED, reason).await;
                    return Err(Close::Abort);
                }
                telemetry::bytes(&self.route, "outbound", pdu.bytes.len());
                self.write_client(&pdu.bytes).await?;
                self.flush_replies().await
            }
            Pdu::ReleaseRq => {
                self.write_client(&pdu.bytes).await?;
                Ok(())
            }
            Pdu::ReleaseRp => {
                self.awaiting = None;
                self.write_client(&pdu.bytes).await?;
                self.association_end(Side::Acceptor, "released");
                Ok(())
            }
            Pdu::Abort(a) => {
                let mut rec = self.base_record(Side::Acceptor);
                rec.verdict = "allow";
                rec.message_type = name;
                rec.code = Some(u16::from(a.reason.0));
                rec.reason = Some("the acceptor aborted the association".into());
                rec.forwarded = true;
                self.route.audit(rec);
                self.write_client(&pdu.bytes).await?;
                Err(Close::Done)
            }
            // The association state lets nothing else through from the acceptor.
            Pdu::AssociateRq(_) => Err(Close::Abort),
        }
    }

    /// Judge the acceptor's answer: contexts it accepted for syntaxes the rules forbid abort
    /// the association on both sides.
    async fn associate_ac(&mut self, ac: &AssociateAc, bytes: &[u8]) -> Result<(), Close> {
        self.awaiting = None;
        let route = self.route.clone();
        let mut rec = self.base_record(Side::Acceptor);
        rec.message_type = Some("A-ASSOCIATE-AC".into());
        rec.bytes = bytes.len();
        rec.sha256 = Some(hex::encode(Sha256::digest(bytes)));
        let accepted = ac
            .presentation_contexts
            .iter()
            .filter(|c| c.result.is_accepted())
            .count();
        let glass = crate::breakglass::in_force(&route);
        rec.break_glass = glass.marks;
        let verdict = match self.rq.as_ref() {
            Some(rq) => policy::accept(&route.rules(), rq, ac, &self.peer.sender, &glass.overrides),
            // The association state saw the request; this cannot happen.
            None => return Err(Close::Abort),
        };
        match verdict {
            Ok(()) => {
                rec.verdict = "allow";
                rec.reason = Some(format!(
                    "{accepted} of {} presentation contexts accepted",
                    ac.presentation_contexts.len()
                ));
                rec.forwarded = true;
                telemetry::message(&route, "outbound", "allow", 0);
                route.audit(rec);
                self.ac = Some(ac.clone());
                self.write_client(bytes).await
            }
            Err(denial) => {
                rec.verdict = "deny";
                rec.rule = Some(denial.rule.to_string());
                rec.reason = Some(format!(
                    "{}; association aborted on both sides",
                    denial.reason
                ));
                telemetry::rule_verdict(&route, &denial.rule, "deny");
                telemetry::refusal(route.name(), "associate-ac".into());
                telemetry::message(&route, "outbound", "deny", 0);
                route.audit(rec);
                self.abort_both(AbortReason::NOT_SPECIFIED, AbortReason::NOT_SPECIFIED)
                    .await;
                Err(Close::Abort)
            }
        }
    }

    /// Follow the acceptor's messages: responses close requests, requests it sends (C-GET
    /// sub-operations) are tracked; a stream that breaks PS3.8 Annex E aborts.
    fn inspect_outbound(&mut self, pdvs: &[wardgate_dicom::Pdv<'_>]) -> Result<(), AbortReason> {
        let invalid = AbortReason::INVALID_PDU_PARAMETER_VALUE;
        for pdv in pdvs {
            match self.outbound.assembler.push(pdv) {
                Err(e) => {
                    self.malformed_outbound(&e.to_string(), "reassembly");
                    return Err(invalid);
                }
                Ok(Assembled::CommandPending) => self.outbound.command_pending = true,
                Ok(Assembled::Command { context_id, bytes }) => {
                    let cmd = match CommandSet::parse(&bytes) {
                        Ok(c) => c,
                        Err(e) => {
                            self.malformed_outbound(&format!("command set: {e}"), "command");
                            return Err(invalid);
                        }
                    };
                    self.acceptor_may_send(context_id, &cmd)?;
                    self.outbound.on_command(&cmd, Fate::Forward);
                    self.acceptor_command(context_id, &cmd, &bytes);
                }
                Ok(Assembled::DataSet { last, .. }) => self.outbound.data_due = !last,
            }
        }
        Ok(())
    }

    /// A request from the acceptor outside the negotiated roles ([`policy::acceptor_request`])
    /// is refused by aborting the association, so a compromised or confused SCP cannot drive
    /// the requestor's device.
    fn acceptor_may_send(&self, context_id: u8, cmd: &CommandSet<'_>) -> Result<(), AbortReason> {
        if cmd.command_field.is_response() {
            return Ok(());
        }
        let context = self.assoc.context(context_id);
        let Err(why) = policy::acceptor_request(self.rq.as_ref(), self.ac.as_ref(), context, cmd)
        else {
            return Ok(());
        };
        let mut rec = self.base_record(Side::Acceptor);
        rec.verdict = "deny";
        rec.message_type = Some(command_name(cmd));
        rec.control_id = Some(control_id(context_id, cmd));
        rec.sop_class = sop_class(cmd, context);
        rec.reason = Some(format!("{why}; nothing of it was forwarded"));
        telemetry::refusal(self.route.name(), "acceptor-role".into());
        telemetry::message(&self.route, "outbound", "deny", 0);
        self.route.audit(rec);
        Err(AbortReason::UNEXPECTED_PDU_PARAMETER)
    }

    fn acceptor_command(&mut self, context_id: u8, cmd: &CommandSet<'_>, bytes: &[u8]) {
        let limit = self.route.config.limits.max_outstanding;
        let pending = cmd.status.is_some_and(|s| s.is_pending());
        if cmd.command_field.is_response() {
            if pending {
                return;
            }
            if let Some(id) = cmd.message_id_being_responded_to {
                remove_id(&mut self.outstanding, id);
            }
        } else if let Some(id) = cmd.message_id {
            push_bounded(&mut self.sub_outstanding, id, limit);
        }
        let context = self.assoc.context(context_id).cloned();
        let mut rec = self.base_record(Side::Acceptor);
        rec.verdict = "allow";
        rec.message_type = Some(command_name(cmd));
        rec.control_id = Some(control_id(context_id, cmd));
        rec.sop_class = sop_class(cmd, context.as_ref());
        rec.code = cmd.status.map(|s| s.0);
        rec.bytes = bytes.len();
        rec.sha256 = Some(hex::encode(Sha256::digest(bytes)));
        rec.forwarded = true;
        if !cmd.command_field.is_response() {
            rec.reason = Some(
                "a request from the acceptor, within the roles negotiated; not judged by the rules"
                    .into(),
            );
        }
        telemetry::message(&self.route, "outbound", "allow", 0);
        self.route.audit(rec);
    }

    fn malformed_outbound(&self, what: &str, kind: &'static str) {
        telemetry::parse_error(self.route.name(), kind);
        let mut rec = self.base_record(Side::Acceptor);
        rec.verdict = "malformed";
        rec.message_type = Some("P-DATA-TF".into());
        rec.reason = Some(format!(
            "{what}; association aborted, nothing of the PDU was forwarded"
        ));
        self.route.audit(rec);
    }
}
