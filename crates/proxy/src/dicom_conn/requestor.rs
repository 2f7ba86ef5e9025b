//! PDUs from the association requestor (the SCU): the A-ASSOCIATE-RQ is judged before an
//! upstream connection exists, each DIMSE request when its command set is complete; data sets of
//! allowed commands stream through, those of refused commands are dropped.

use sha2::{Digest, Sha256};
use wardgate_dicom::{
    AbortReason, Assembled, AssociateRq, AssociationError, CommandField, CommandSet, Pdu, PduError,
    RejectReason, RejectResult, RejectSource, Status, build_associate_rj, build_dimse_failure,
};

use super::held::{Fate, Ready};
use super::inbox::{RawPdu, framer_error_kind};
use super::names::{command_name, control_id, pdu_name, sop_class};
use super::policy::{self, AssociationDecision, CommandDecision};
use super::{Close, Driver, Side, Upstream, push_bounded, remove_id};
use crate::audit::{audit_lines, permit_verdict};
use crate::telemetry;
use crate::upstream;

/// A reason to stop judging a PDU and abort the association; already audited.
pub(super) struct Halt {
    /// The A-ABORT reason for the peer at fault.
    pub reason: AbortReason,
}

/// The A-ABORT reason for a PDU the association state does not allow.
pub(super) fn state_abort_reason(e: &AssociationError) -> AbortReason {
    match e {
        AssociationError::UnexpectedPdu { .. } => AbortReason::UNEXPECTED_PDU,
        _ => AbortReason::INVALID_PDU_PARAMETER_VALUE,
    }
}

impl Driver {
    pub(super) async fn drain_client(&mut self) -> Result<(), Close> {
        loop {
            if self.assoc.is_closed() {
                return Ok(());
            }
            match self.client_inbox.take() {
                // Boxed: only alive while a PDU is judged (idle associations stay small).
                Ok(Some(pdu)) => Box::pin(self.on_requestor_pdu(pdu)).await?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let reason = PduError::from(e).abort_reason();
                    let what = format!("framing: {e}");
                    return self
                        .protocol_error(Side::Requestor, reason, &what, framer_error_kind(&e), None)
                        .await;
                }
            }
        }
    }

    async fn on_requestor_pdu(&mut self, pdu: RawPdu) -> Result<(), Close> {
        let name = Some(pdu_name(pdu.pdu_type));
        let Some(decoded) = self.decode_in_state(Side::Requestor, &pdu).await? else {
            return Ok(());
        };
        match decoded {
            Pdu::AssociateRq(rq) => self.associate_rq(rq, &pdu.bytes).await,
            Pdu::PDataTf(pdvs) => {
                let fates = match self.judge_pdvs(&pdvs) {
                    Ok(f) => f,
                    Err(halt) => {
                        self.abort_both(halt.reason, AbortReason::NOT_SPECIFIED)
                            .await;
                        return Err(Close::Abort);
                    }
                };
                self.pass_pdata(pdu.bytes, fates).await
            }
            Pdu::ReleaseRq | Pdu::ReleaseRp | Pdu::Abort(_) if !self.held.is_empty() => {
                let what = "an association PDU inside an incomplete command set";
                self.protocol_error(
                    Side::Requestor,
                    AbortReason::UNEXPECTED_PDU,
                    what,
                    "state",
                    name,
                )
                .await
            }
            Pdu::ReleaseRq => {
                self.awaiting = Some((tokio::time::Instant::now(), "A-RELEASE-RP"));
                self.write_upstream(&pdu.bytes).await
            }
            Pdu::ReleaseRp => {
                self.write_upstream(&pdu.bytes).await?;
                self.association_end(Side::Requestor, "released");
                Ok(())
            }
            Pdu::Abort(a) => {
                let mut rec = self.base_record(Side::Requestor);
                rec.verdict = "allow";
                rec.message_type = name;
                rec.code = Some(u16::from(a.reason.0));
                rec.reason = Some("the requestor aborted the association".into());
                rec.forwarded = self.upstream.is_some();
                self.route.audit(rec);
                if self.upstream.is_some() {
                    self.write_upstream(&pdu.bytes).await?;
                }
                Err(Close::Done)
            }
            // The association state lets nothing else through from the requestor.
            Pdu::AssociateAc(_) | Pdu::AssociateRj(_) => Err(Close::Abort),
        }
    }

    /// One audit line when an association ends in an orderly way.
    pub(super) fn association_end(&self, side: Side, how: &str) {
        let mut rec = self.base_record(side);
        rec.verdict = "allow";
        rec.message_type = Some("A-RELEASE-RP".into());
        rec.reason = Some(format!("association {how}"));
        rec.forwarded = true;
        self.route.audit(rec);
    }

    async fn associate_rq(&mut self, rq: AssociateRq, bytes: &[u8]) -> Result<(), Close> {
        let started = std::time::Instant::now();
        let route = self.route.clone();
        if let Some(inventory) = route.learned() {
            inventory.dicom_associate(&route, &self.peer, &rq);
        }
        let glass = crate::breakglass::in_force(&route);
        let decision = policy::associate(&route.rules(), &rq, &self.peer.sender, &glass.overrides);
        telemetry::inspection_time(&route, started.elapsed());
        self.rq = Some(rq);
        let mut rec = self.base_record(Side::Requestor);
        rec.break_glass = glass.marks;
        rec.message_type = Some("A-ASSOCIATE-RQ".into());
        rec.bytes = bytes.len();
        rec.sha256 = Some(hex::encode(Sha256::digest(bytes)));
        match decision {
            AssociationDecision::Reject { denial, reason } => {
                rec.verdict = "deny";
                rec.rule = Some(denial.rule.to_string());
                rec.reason = Some(denial.reason.clone());
                rec.code = Some(u16::from(reason));
                telemetry::rule_verdict(&route, &denial.rule, "deny");
                telemetry::refusal(route.name(), format!("associate-rj-{reason}"));
                telemetry::message(&route, "inbound", "deny", rec.bytes);
                route.audit(rec);
                let rj = build_associate_rj(
                    RejectResult::PERMANENT,
                    RejectSource::SERVICE_USER,
                    RejectReason(reason),
                );
                self.write_client(&rj).await?;
                Err(Close::Done)
            }
            AssociationDecision::Accept { rule, audit } => {
                rec.verdict = permit_verdict(&audit);
                rec.rule = rule.as_deref().map(str::to_owned);
                rec.audit = audit_lines(&audit);
                if let Some(r) = &rule {
                    telemetry::rule_verdict(&route, r, rec.verdict);
                }
                let cfg = &route.config;
                let connected = upstream::connect_from(
                    self.peer.target.upstream,
                    self.peer.target.upstream_source,
                    route.upstream_tls.as_ref(),
                    cfg.limits.upstream_connect_timeout,
                )
                .await;
                match connected {
                    Ok(io) => {
                        rec.forwarded = true;
                        // DICOM routes are fail-closed: an association whose acceptance cannot
                        // be recorded is rejected (transient: the SCU retries later).
                        if route.try_audit(rec.clone()).is_err() {
                            drop(io);
                            rec.forwarded = false;
                            rec.verdict = crate::audit_gate::AUDIT_UNAVAILABLE;
                            rec.reason = Some(
                                "the audit log cannot be written; A-ASSOCIATE-RJ (transient) sent"
                                    .into(),
                            );
                            telemetry::message(&route, "inbound", rec.verdict, rec.bytes);
                            route.audit(rec);
                            let rj = build_associate_rj(
                                RejectResult::TRANSIENT,
                                RejectSource::SERVICE_PROVIDER_PRESENTATION,
                                RejectReason::TEMPORARY_CONGESTION,
                            );
                            self.write_client(&rj).await?;
                            return Err(Close::Done);
                        }
                        self.upstream = Some(Upstream {
                            io,
                            inbox: super::inbox::new_inbox(cfg.limits.max_pdu_bytes),
                        });
                        telemetry::message(&route, "inbound", rec.verdict, rec.bytes);
                        self.awaiting = Some((tokio::time::Instant::now(), "A-ASSOCIATE-AC"));
                        self.write_upstream(bytes).await
                    }
                    Err(e) => {
                        telemetry::upstream_failure(route.name(), "unavailable");
                        rec.verdict = "upstream-unavailable";
                        rec.reason = Some(format!("{e}; A-ASSOCIATE-RJ (transient) sent"));
                        route.audit(rec);
                        // PS3.8 §9.3.4: source 3 (presentation provider), reason 1 congestion.
                        let rj = build_associate_rj(
                            RejectResult::TRANSIENT,
                            RejectSource::SERVICE_PROVIDER_PRESENTATION,
                            RejectReason::TEMPORARY_CONGESTION,
                        );
                        self.write_client(&rj).await?;
                        Err(Close::Done)
                    }
                }
            }
        }
    }

    /// Feed the PDVs of one P-DATA-TF to the reassembler and give each its fate.
    fn judge_pdvs(&mut self, pdvs: &[wardgate_dicom::Pdv<'_>]) -> Result<Vec<Fate>, Halt> {
        let mut fates = Vec::with_capacity(pdvs.len());
        for pdv in pdvs {
            match self.inbound.assembler.push(pdv) {
                Err(e) => {
                    self.malformed_command(&e.to_string(), "reassembly");
                    return Err(Halt {
                        reason: AbortReason::INVALID_PDU_PARAMETER_VALUE,
                    });
                }
                Ok(Assembled::CommandPending) => {
                    self.inbound.command_pending = true;
                    fates.push(Fate::Pending);
                }
                Ok(Assembled::Command { context_id, bytes }) => {
                    let fate = self.judge_command(context_id, &bytes)?;
                    self.held.resolve(fate);
                    for f in fates.iter_mut().filter(|f| **f == Fate::Pending) {
                        *f = fate;
                    }
                    fates.push(fate);
                }
                Ok(Assembled::DataSet { last, .. }) => {
                    let fate = self.inbound.data_fate;
                    fates.push(fate);
                    self.inbound.data_due = !last;
                    if last {
                        if let Some(reply) = self.reply_after_data.take() {
                            self.replies.push_back(reply);
                        }
                    }
                }
            }
        }
        Ok(fates)
    }

    fn malformed_command(&self, what: &str, kind: &'static str) {
        telemetry::parse_error(self.route.name(), kind);
        let mut rec = self.base_record(Side::Requestor);
        rec.verdict = "malformed";
        rec.message_type = Some("P-DATA-TF".into());
        rec.reason = Some(format!(
            "{what}; A-ABORT sent, nothing of the command was forwarded"
        ));
        self.route.audit(rec);
    }

    /// Judge one complete command set from the requestor.
    fn judge_command(&mut self, context_id: u8, bytes: &[u8]) -> Result<Fate, Halt> {
        let halt = Halt {
            reason: AbortReason::INVALID_PDU_PARAMETER_VALUE,
        };
        let cmd = match CommandSet::parse(bytes) {
            Ok(c) => c,
            Err(e) => {
                self.malformed_command(&format!("command set: {e}"), "command");
                return Err(halt);
            }
        };
        let started = std::time::Instant::now();
        let route = self.route.clone();
        let context = self.assoc.context(context_id).cloned();
        let mut rec = self.base_record(Side::Requestor);
        rec.message_type = Some(command_name(&cmd));
        rec.control_id = Some(control_id(context_id, &cmd));
        rec.sop_class = sop_class(&cmd, context.as_ref());
        rec.move_destination = cmd.move_destination.map(str::to_owned);
        rec.bytes = bytes.len();
        rec.sha256 = Some(hex::encode(Sha256::digest(bytes)));
        let (Some(context), Some(rq)) = (context, self.rq.as_ref()) else {
            // The association state checked the context before the PDU got here.
            self.malformed_command("command on a context that was not accepted", "state");
            return Err(halt);
        };
        let limit = route.config.limits.max_outstanding;
        if cmd.command_field.is_response() {
            // The requestor answers a request of the acceptor (C-GET sub-operations).
            if let Some(id) = cmd.message_id_being_responded_to {
                if !cmd.status.is_some_and(|s| s.is_pending()) {
                    remove_id(&mut self.sub_outstanding, id);
                }
            }
            rec.verdict = "allow";
            rec.code = cmd.status.map(|s| s.0);
            rec.forwarded = true;
            route.audit(rec);
            self.inbound.on_command(&cmd, Fate::Forward);
            return Ok(Fate::Forward);
        }
        if cmd.command_field == CommandField::C_CANCEL_RQ {
            // No response exists to refuse it with; cancelling is always safe to pass.
            rec.verdict = "allow";
            rec.reason = Some("C-CANCEL is passed without judgement".into());
            rec.forwarded = true;
            route.audit(rec);
            self.inbound.on_command(&cmd, Fate::Forward);
            return Ok(Fate::Forward);
        }
        let glass = crate::breakglass::in_force(&route);
        let decision = policy::command(
            &route.rules(),
            rq,
            &context,
            &cmd,
            &self.peer.sender,
            &glass.overrides,
        );
        rec.break_glass = glass.marks;
        telemetry::inspection_time(&route, started.elapsed());
        let fate = match decision {
            CommandDecision::Allow(p) => {
                rec.permitted(p);
                rec.forwarded = true;
                if let Some(id) = cmd.message_id {
                    push_bounded(&mut self.outstanding, id, limit);
                }
                Fate::Forward
            }
            CommandDecision::Refuse { denial, status } => {
                rec.verdict = "deny";
                rec.rule = Some(denial.rule.to_string());
                rec.reason = Some(denial.reason.clone());
                rec.code = Some(status);
                telemetry::refusal(route.name(), format!("dimse-{status:#06x}"));
                let Ok(reply) = build_dimse_failure(&cmd, context_id, Status(status)) else {
                    rec.reason = Some(format!(
                        "{}; the request cannot be answered (no message id): association aborted",
                        denial.reason
                    ));
                    route.audit(rec);
                    return Err(halt);
                };
                if self.replies.len() + 1 > limit {
                    rec.reason = Some(format!(
                        "{}; more than {limit} refusals await delivery: association aborted",
                        denial.reason
                    ));
                    route.audit(rec);
                    return Err(halt);
                }
                if cmd.has_data_set() {
                    self.reply_after_data = Some(reply);
                } else {
                    self.replies.push_back(reply);
                }
                Fate::Drop
            }
            CommandDecision::Abort { denial } => {
                rec.verdict = "deny";
                rec.rule = Some(denial.rule.to_string());
                rec.reason = Some(format!("{}; association aborted", denial.reason));
                telemetry::refusal(route.name(), "dimse-abort".into());
                telemetry::rule_verdict(&route, &denial.rule, "deny");
                telemetry::message(&route, "inbound", "deny", 0);
                route.audit(rec);
                return Err(Halt {
                    reason: AbortReason::NOT_SPECIFIED,
                });
            }
        };
        if let Some(rule) = &rec.rule {
            telemetry::rule_verdict(&route, rule, rec.verdict);
        }
        telemetry::message(&route, "inbound", rec.verdict, 0);
        // The command's line is written before its PDU goes on; if it cannot be (DICOM routes
        // are fail-closed), nothing of it is forwarded and the association is aborted.
        if route.try_audit(rec).is_err() && fate == Fate::Forward {
            telemetry::message(&route, "inbound", crate::audit_gate::AUDIT_UNAVAILABLE, 0);
            return Err(halt);
        }
        self.inbound.on_command(&cmd, fate);
        Ok(fate)
    }

    /// Hold the PDU until its pending command is judged, then write what is ready, in order,
    /// and any refusal whose turn has come.
    async fn pass_pdata(&mut self, bytes: Vec<u8>, fates: Vec<Fate>) -> Result<(), Close> {
        if let Err(e) = self.held.push(bytes, fates) {
            self.malformed_command(&e.to_string(), "held");
            self.abort_both(
                AbortReason::INVALID_PDU_PARAMETER_VALUE,
                AbortReason::NOT_SPECIFIED,
            )
            .await;
            return Err(Close::Abort);
        }
        for ready in self.held.ready() {
            let out = match &ready {
                Ready::Original(b) | Ready::Rebuilt(b) => b,
            };
            telemetry::bytes(&self.route, "inbound", out.len());
            self.write_upstream(out).await?;
        }
        self.flush_replies().await
    }
}
