//! Evaluating the three DICOM moments: the A-ASSOCIATE-RQ, the acceptor's A-ASSOCIATE-AC and
//! every DIMSE request.

use std::sync::Arc;

use wardgate_dicom::{AcceptedContext, AssociateAc, AssociateRq, CommandField, CommandSet, Status};

use super::matching::Stage;
use super::registry::dicom_denial;
use super::{AssociationDecision, CommandDecision, DicomConds, Refuse, reject_reason, uid_name};
use crate::breakglass::Overrides;
use crate::ruleset::{Rule, RuleSet};
use crate::sender::Sender;
use crate::verdict::{Action, Denial, Mode, Permit};

fn push_audit(audit: &mut Vec<Denial>, d: Denial) {
    if !audit.iter().any(|a| a.rule == d.rule) {
        audit.push(d);
    }
}

impl RuleSet {
    fn dicom_rules(&self) -> impl Iterator<Item = (&Rule, &DicomConds)> {
        self.rules.iter().filter_map(|r| r.dicom().map(|d| (r, d)))
    }

    /// Judge one presentation context at association time: `Ok(rule)` when it is allowed
    /// (`None`: by the policy default), otherwise the denial and A-ASSOCIATE-RJ reason.
    // Private, with two callers that pass everything they have: a parameter struct would only
    // rename the same eight things.
    #[allow(clippy::too_many_arguments)]
    fn judge_context(
        &self,
        rq: &AssociateRq,
        sender: &Sender,
        abstract_syntax: &str,
        transfer_syntaxes: &[String],
        stage: Stage,
        audit: &mut Vec<Denial>,
        ov: &Overrides,
    ) -> Result<Option<Arc<str>>, (Denial, u8)> {
        for (rule, d) in self.dicom_rules() {
            if !rule.judges_association(d)
                || !rule.dicom_identity(d, rq, sender)
                || !rule.matches_context(d, abstract_syntax, transfer_syntaxes, stage)
            {
                continue;
            }
            let verdict = match rule.action {
                Action::Allow => Ok(Some(rule.id.clone())),
                Action::Deny => Err((
                    dicom_denial(rule.id.clone(), rule.description.clone()),
                    d.reason.unwrap_or(reject_reason::NO_REASON),
                )),
            };
            // A rule in audit mode, or a refusal break-glass sets aside, is recorded and the
            // next rule judges (a later never_override rule still refuses).
            if rule.mode == Mode::Audit || (verdict.is_err() && ov.covers(rule)) {
                if let Err((denial, _)) = verdict {
                    push_audit(audit, denial);
                }
                continue;
            }
            return verdict;
        }
        match self.policy.default {
            Action::Allow => Ok(None),
            Action::Deny => {
                let h = &rq.header;
                let what = match stage {
                    Stage::Proposed => format!("propose {}", uid_name(abstract_syntax)),
                    Stage::Accepted => format!(
                        "use {} with {}",
                        uid_name(abstract_syntax),
                        transfer_syntaxes
                            .first()
                            .map_or("no transfer syntax", |t| uid_name(t))
                    ),
                };
                let denial = dicom_denial(
                    "default",
                    format!(
                        "no rule allows {} to {what} to {}",
                        h.calling_ae_title, h.called_ae_title
                    ),
                );
                if ov.whole_route {
                    push_audit(audit, denial);
                    return Ok(None);
                }
                Err((denial, reject_reason::NO_REASON))
            }
        }
    }

    /// Judge an A-ASSOCIATE-RQ from `sender`.
    ///
    /// First the `[dicom]` registry: a calling AE title not registered, or registered only for
    /// other addresses or certificates, is rejected with reason 3 (calling AE title not
    /// recognized); then a called AE title the route does not serve, with reason 7. Then every
    /// proposed presentation context is judged like a message: the first enforced rule that
    /// matches it decides (an allow rule must list its SOP class and, if it names transfer
    /// syntaxes, one of those proposed). The association is accepted only when every proposed
    /// context is allowed; otherwise it is rejected with the deciding rule's reason (default 1).
    pub fn evaluate_dicom_associate(
        &self,
        rq: &AssociateRq,
        sender: &Sender,
    ) -> AssociationDecision {
        self.evaluate_dicom_associate_with(rq, sender, &Overrides::default())
    }

    /// [`RuleSet::evaluate_dicom_associate`] under break-glass: refusals `ov` covers are
    /// recorded in the decision's audit list instead of rejecting (the AE-title registry's and
    /// the policy default's only when the whole route is covered).
    pub fn evaluate_dicom_associate_with(
        &self,
        rq: &AssociateRq,
        sender: &Sender,
        ov: &Overrides,
    ) -> AssociationDecision {
        let mut audit = Vec::new();
        if let Err((denial, reason)) = self.dicom.check_titles(rq, sender) {
            if !ov.whole_route {
                return AssociationDecision::Reject { denial, reason };
            }
            push_audit(&mut audit, denial);
        }
        let mut allowed_by: Vec<Arc<str>> = Vec::new();
        if rq.presentation_contexts.is_empty() && self.policy.default == Action::Deny {
            let denial = dicom_denial(
                "default",
                "the request proposes no presentation context".into(),
            );
            if !ov.whole_route {
                return AssociationDecision::Reject {
                    denial,
                    reason: reject_reason::NO_REASON,
                };
            }
            push_audit(&mut audit, denial);
        }
        for ctx in &rq.presentation_contexts {
            match self.judge_context(
                rq,
                sender,
                &ctx.abstract_syntax,
                &ctx.transfer_syntaxes,
                Stage::Proposed,
                &mut audit,
                ov,
            ) {
                Ok(Some(rule)) => {
                    if !allowed_by.contains(&rule) {
                        allowed_by.push(rule);
                    }
                }
                Ok(None) => {}
                Err((denial, reason)) => return AssociationDecision::Reject { denial, reason },
            }
        }
        let rule = match allowed_by.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => Some(Arc::from(
                many.iter().map(|r| &**r).collect::<Vec<_>>().join("+"),
            )),
        };
        AssociationDecision::Accept { rule, audit }
    }

    /// Judge the acceptor's A-ASSOCIATE-AC to `rq`: `Err` when it accepted a presentation context
    /// (SOP class with the transfer syntax it chose) that the rules do not allow for this
    /// association, or when the request itself would no longer be accepted. The proxy then
    /// aborts both sides. Audit-mode rules are not consulted here (they were at request time).
    pub fn evaluate_dicom_accept(
        &self,
        rq: &AssociateRq,
        ac: &AssociateAc,
        sender: &Sender,
    ) -> Result<(), Denial> {
        self.evaluate_dicom_accept_with(rq, ac, sender, &Overrides::default())
    }

    /// [`RuleSet::evaluate_dicom_accept`] under break-glass: what `ov` covers does not abort
    /// (it was recorded when the request was judged). An acceptor that accepts a context that
    /// was never proposed is a protocol error, not a policy refusal, and still aborts.
    pub fn evaluate_dicom_accept_with(
        &self,
        rq: &AssociateRq,
        ac: &AssociateAc,
        sender: &Sender,
        ov: &Overrides,
    ) -> Result<(), Denial> {
        if !ov.whole_route {
            self.dicom.check_titles(rq, sender).map_err(|(d, _)| d)?;
        }
        let mut audit = Vec::new();
        for answer in &ac.presentation_contexts {
            if !answer.result.is_accepted() {
                continue;
            }
            let Some(proposed) = rq.context(answer.id) else {
                return Err(dicom_denial(
                    "default",
                    format!(
                        "the acceptor accepted presentation context {}, which was not proposed",
                        answer.id
                    ),
                ));
            };
            let accepted = std::slice::from_ref(&answer.transfer_syntax);
            self.judge_context(
                rq,
                sender,
                &proposed.abstract_syntax,
                accepted,
                Stage::Accepted,
                &mut audit,
                ov,
            )
            .map_err(|(mut denial, _)| {
                denial.reason = format!(
                    "the acceptor accepted context {} ({} with {}): {}",
                    answer.id,
                    uid_name(&proposed.abstract_syntax),
                    uid_name(&answer.transfer_syntax),
                    denial.reason
                );
                denial
            })?;
        }
        Ok(())
    }

    /// Judge one DIMSE request on an established association, in the accepted presentation
    /// context it travels in.
    ///
    /// Responses and C-CANCEL (which only stops an operation already allowed, and has no
    /// response to refuse it with) are always forwarded. If the `[dicom]` registry no longer
    /// vouches for the association's AE titles (rules were reloaded), the association is
    /// aborted. Otherwise the first enforced rule that matches decides; with no match and
    /// `default = "deny"` the command is refused with 0x0122 (SOP class not supported) when no
    /// allow rule covers its SOP class for this association, 0xA801 (move destination unknown)
    /// for a C-MOVE an allow rule would take but for its destination, and 0x0124 (not
    /// authorized) otherwise.
    pub fn evaluate_dicom_command(
        &self,
        rq: &AssociateRq,
        context: &AcceptedContext,
        command: &CommandSet<'_>,
        sender: &Sender,
    ) -> CommandDecision {
        self.evaluate_dicom_command_with(rq, context, command, sender, &Overrides::default())
    }

    /// [`RuleSet::evaluate_dicom_command`] under break-glass: refusals and aborts `ov` covers
    /// are recorded in the permit's audit list and the command is forwarded (the registry's and
    /// the policy default's only when the whole route is covered).
    pub fn evaluate_dicom_command_with(
        &self,
        rq: &AssociateRq,
        context: &AcceptedContext,
        command: &CommandSet<'_>,
        sender: &Sender,
        ov: &Overrides,
    ) -> CommandDecision {
        let field = command.command_field;
        if field.is_response() || field == CommandField::C_CANCEL_RQ {
            return CommandDecision::Allow(Permit {
                rule: None,
                alerts: Vec::new(),
                audit: Vec::new(),
            });
        }
        let mut audit = Vec::new();
        if let Err((denial, _)) = self.dicom.check_titles(rq, sender) {
            if !ov.whole_route {
                return CommandDecision::Abort { denial };
            }
            push_audit(&mut audit, denial);
        }
        for (rule, d) in self.dicom_rules() {
            if !rule.judges_commands(d)
                || !rule.dicom_identity(d, rq, sender)
                || !rule.matches_command(d, context, command, false)
            {
                continue;
            }
            let decision = match (rule.action, d.refuse) {
                (Action::Allow, _) => CommandDecision::Allow(Permit {
                    rule: Some(rule.id.clone()),
                    alerts: Vec::new(),
                    audit: Vec::new(),
                }),
                (Action::Deny, Some(Refuse::Abort)) => CommandDecision::Abort {
                    denial: dicom_denial(rule.id.clone(), rule.description.clone()),
                },
                (Action::Deny, _) => CommandDecision::Refuse {
                    denial: dicom_denial(rule.id.clone(), rule.description.clone()),
                    status: d.status.unwrap_or(Status::NOT_AUTHORIZED.0),
                },
            };
            // A rule in audit mode, or a refusal break-glass sets aside, is recorded and the
            // next rule judges.
            if rule.mode == Mode::Audit || (!decision.forwards() && ov.covers(rule)) {
                match decision {
                    CommandDecision::Refuse { denial, .. } | CommandDecision::Abort { denial } => {
                        push_audit(&mut audit, denial)
                    }
                    CommandDecision::Allow(_) => {}
                }
                continue;
            }
            return match decision {
                CommandDecision::Allow(mut p) => {
                    p.audit = audit;
                    CommandDecision::Allow(p)
                }
                refusal => refusal,
            };
        }
        match self.policy.default {
            Action::Allow => CommandDecision::Allow(Permit {
                rule: None,
                alerts: Vec::new(),
                audit,
            }),
            Action::Deny => match self.default_command_refusal(rq, context, command, sender) {
                CommandDecision::Refuse { denial, .. } | CommandDecision::Abort { denial }
                    if ov.whole_route =>
                {
                    push_audit(&mut audit, denial);
                    CommandDecision::Allow(Permit {
                        rule: None,
                        alerts: Vec::new(),
                        audit,
                    })
                }
                refusal => refusal,
            },
        }
    }

    /// The refusal when no rule decided a command and the default denies.
    fn default_command_refusal(
        &self,
        rq: &AssociateRq,
        context: &AcceptedContext,
        command: &CommandSet<'_>,
        sender: &Sender,
    ) -> CommandDecision {
        let h = &rq.header;
        let allows = || {
            self.dicom_rules().filter(|(r, d)| {
                r.action == Action::Allow
                    && r.mode == Mode::Enforce
                    && r.dicom_identity(d, rq, sender)
            })
        };
        let sop = command
            .affected_sop_class_uid
            .or(command.requested_sop_class_uid);
        let covers = |d: &DicomConds| {
            d.sop_classes.as_ref().is_some_and(|s| {
                s.contains(&context.abstract_syntax) && sop.is_none_or(|u| s.contains(u))
            })
        };
        let sop_name = uid_name(sop.unwrap_or(&context.abstract_syntax));
        let (reason, status) = if !allows().any(|(_, d)| covers(d)) {
            (
                format!(
                    "no rule allows {} to use {sop_name} with {}",
                    h.calling_ae_title, h.called_ae_title
                ),
                Status::SOP_CLASS_NOT_SUPPORTED.0,
            )
        } else if command.command_field == CommandField::C_MOVE_RQ
            && allows().any(|(r, d)| r.matches_command(d, context, command, true))
        {
            (
                format!(
                    "no rule allows {} to move {sop_name} to {:?}",
                    h.calling_ae_title,
                    command.move_destination.unwrap_or("")
                ),
                Status::MOVE_DESTINATION_UNKNOWN.0,
            )
        } else {
            (
                format!(
                    "no rule allows {} to send {} ({sop_name}) to {}",
                    h.calling_ae_title,
                    command.command_field.service().unwrap_or("this command"),
                    h.called_ae_title
                ),
                Status::NOT_AUTHORIZED.0,
            )
        };
        CommandDecision::Refuse {
            denial: dicom_denial("default", reason),
            status,
        }
    }
}
