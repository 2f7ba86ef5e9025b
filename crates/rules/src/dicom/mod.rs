//! Judging DICOM associations and DIMSE commands (PS3.8, PS3.7): who may associate with whom, from
//! where, proposing which SOP classes and transfer syntaxes, and which commands they may send.
//!
//! Three moments are judged, each by the first enforced rule that matches:
//! 1. the A-ASSOCIATE-RQ ([`RuleSet::evaluate_dicom_associate`]): the AE titles against the
//!    `[dicom]` registry, then every proposed presentation context against the rules;
//! 2. the acceptor's A-ASSOCIATE-AC ([`RuleSet::evaluate_dicom_accept`]): every accepted context,
//!    with the transfer syntax the acceptor chose;
//! 3. every DIMSE request ([`RuleSet::evaluate_dicom_command`]), in the context it travels in.

use std::sync::Arc;

use wardgate_dicom::{
    AcceptedContext, AssociateAc, AssociateRq, CommandField, CommandSet, Priority, Status, uid,
};

use crate::condition::{AddressCondition, TextCondition};
use crate::druglib::hl7_error;
use crate::ruleset::{Protocol, Rule, RuleSet};
use crate::sender::{Sender, sender_holds};
use crate::verdict::{Action, Denial, Mode, Permit};

/// The rule name a denial carries when the `[dicom]` calling-AE registry refused.
pub const CALLING_AE_REGISTRY: &str = "dicom.calling_ae";
/// The rule name a denial carries when the `[dicom]` called-AE list refused.
pub const CALLED_AE_REGISTRY: &str = "dicom.called_ae";

/// A-ASSOCIATE-RJ reasons wardgate gives (source 1, DICOM UL service-user; PS3.8 §9.3.4).
pub mod reject_reason {
    /// 1: no-reason-given.
    pub const NO_REASON: u8 = 1;
    /// 2: application-context-name-not-supported.
    pub const APPLICATION_CONTEXT_NOT_SUPPORTED: u8 = 2;
    /// 3: calling-AE-title-not-recognized.
    pub const CALLING_AE_NOT_RECOGNIZED: u8 = 3;
    /// 7: called-AE-title-not-recognized.
    pub const CALLED_AE_NOT_RECOGNIZED: u8 = 7;
}

/// What to do with an A-ASSOCIATE-RQ.
#[derive(Debug, Clone, PartialEq)]
pub enum AssociationDecision {
    /// Forward the A-ASSOCIATE-RQ unchanged. `rule` names the rules that allowed the proposed
    /// contexts, joined with `+` in the order first used (`None`: the policy default allowed);
    /// `audit` holds what audit-mode rules would have refused.
    Accept {
        /// The allowing rule(s); `None` when the policy default allowed.
        rule: Option<Arc<str>>,
        /// Refusals by rules in audit mode.
        audit: Vec<Denial>,
    },
    /// Answer A-ASSOCIATE-RJ: result 1 (permanent), source 1 (service user), `reason` 1, 2, 3 or 7.
    Reject {
        /// Why.
        denial: Denial,
        /// The A-ASSOCIATE-RJ reason (see [`reject_reason`]).
        reason: u8,
    },
}

impl AssociationDecision {
    /// Whether the request is forwarded.
    pub fn accepts(&self) -> bool {
        matches!(self, AssociationDecision::Accept { .. })
    }

    /// `allow`, `audit-deny` or `deny`, as in the audit log.
    pub fn label(&self) -> &'static str {
        match self {
            AssociationDecision::Accept { audit, .. } if !audit.is_empty() => "audit-deny",
            AssociationDecision::Accept { .. } => "allow",
            AssociationDecision::Reject { .. } => "deny",
        }
    }
}

impl std::fmt::Display for AssociationDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssociationDecision::Accept { rule, audit } => {
                write!(f, "accept by {}", rule.as_deref().unwrap_or("default"))?;
                for d in audit {
                    write!(f, " [audit: would deny by {}: {}]", d.rule, d.reason)?;
                }
                Ok(())
            }
            AssociationDecision::Reject { denial, reason } => write!(
                f,
                "reject (reason {reason}) by {}: {}",
                denial.rule, denial.reason
            ),
        }
    }
}

/// What to do with one DIMSE request.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandDecision {
    /// Forward the command (and its data set).
    Allow(Permit),
    /// Answer this command with a DIMSE failure `status` (0x0122 SOP class not supported,
    /// 0xA801 move destination unknown, 0x0124 not authorized, or the rule's own); drop its data
    /// set; the association lives on.
    Refuse {
        /// Why.
        denial: Denial,
        /// The failure status of the response.
        status: u16,
    },
    /// A-ABORT the association (source 2, service provider; reason 0, not specified).
    Abort {
        /// Why.
        denial: Denial,
    },
}

impl CommandDecision {
    /// Whether the command is forwarded.
    pub fn forwards(&self) -> bool {
        matches!(self, CommandDecision::Allow(_))
    }

    /// `allow`, `audit-deny`, `deny` or `abort`, as in the audit log.
    pub fn label(&self) -> &'static str {
        match self {
            CommandDecision::Allow(p) if !p.audit.is_empty() => "audit-deny",
            CommandDecision::Allow(_) => "allow",
            CommandDecision::Refuse { .. } => "deny",
            CommandDecision::Abort { .. } => "abort",
        }
    }
}

impl std::fmt::Display for CommandDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandDecision::Allow(p) => {
                write!(f, "allow by {}", p.rule.as_deref().unwrap_or("default"))?;
                for d in &p.audit {
                    write!(f, " [audit: would deny by {}: {}]", d.rule, d.reason)?;
                }
                Ok(())
            }
            CommandDecision::Refuse { denial, status } => write!(
                f,
                "refuse (status {status:#06x}) by {}: {}",
                denial.rule, denial.reason
            ),
            CommandDecision::Abort { denial } => {
                write!(f, "abort by {}: {}", denial.rule, denial.reason)
            }
        }
    }
}

/// How a DICOM deny rule refuses (`refuse = ...` in a rule file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuse {
    /// Judged at A-ASSOCIATE-RQ (and -AC): A-ASSOCIATE-RJ.
    Association,
    /// Judged per DIMSE request: a failure response; the association lives on.
    Command,
    /// Judged per DIMSE request: A-ABORT.
    Abort,
}

impl Refuse {
    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Refuse::Association => "association",
            Refuse::Command => "command",
            Refuse::Abort => "abort",
        }
    }
}

/// A set of UIDs a rule names, or any (`"*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UidList {
    /// `"*"`: every UID.
    Any,
    /// These UIDs.
    Only(Vec<String>),
}

impl UidList {
    pub(crate) fn contains(&self, uid: &str) -> bool {
        match self {
            UidList::Any => true,
            UidList::Only(list) => list.iter().any(|u| u == uid),
        }
    }
}

/// The conditions and refusal of one `protocol = "dicom"` rule (`[rule.dicom]`).
#[derive(Debug, Clone, Default)]
pub(crate) struct DicomConds {
    /// For deny rules: how they refuse. `None` on allow rules.
    pub(crate) refuse: Option<Refuse>,
    /// `refuse = "command"`: the failure status (default 0x0124).
    pub(crate) status: Option<u16>,
    /// `refuse = "association"`: the A-ASSOCIATE-RJ reason (default 1).
    pub(crate) reason: Option<u8>,
    pub(crate) calling_ae: Option<TextCondition>,
    pub(crate) called_ae: Option<TextCondition>,
    pub(crate) sop_classes: Option<UidList>,
    pub(crate) transfer_syntaxes: Option<Vec<String>>,
    pub(crate) commands: Vec<CommandField>,
    pub(crate) move_destinations: Option<TextCondition>,
    pub(crate) priority: Option<Vec<Priority>>,
    pub(crate) user_identity: Option<bool>,
}

/// One `[[dicom.calling_ae]]` entry: an AE title and where it is believed from (all given
/// conditions must hold; several entries for one title are alternatives).
#[derive(Debug, Clone)]
pub struct CallingAe {
    /// The AE title, exactly (DICOM AE titles are case-sensitive; spaces are trimmed).
    pub title: String,
    pub(crate) address: Option<AddressCondition>,
    pub(crate) cert_cn: Option<TextCondition>,
    pub(crate) cert_san: Option<TextCondition>,
}

impl CallingAe {
    fn vouches(&self, title: &str, sender: &Sender) -> bool {
        self.title == title && sender_holds(&self.address, &self.cert_cn, &self.cert_san, sender)
    }
}

/// The `[dicom]` table: the AE titles a DICOM route knows.
#[derive(Debug, Clone, Default)]
pub struct DicomPolicy {
    /// Called AE titles this route answers for; any other is rejected with reason 7.
    pub called_ae: Vec<String>,
    /// Calling AE titles and where each is believed from; any other title, or a known title from
    /// elsewhere, is rejected with reason 3.
    pub calling_ae: Vec<CallingAe>,
}

impl DicomPolicy {
    /// Whether the registry vouches for the request's AE titles from this sender: the calling AE
    /// first (reason 3), then the called AE (reason 7).
    fn check_titles(&self, rq: &AssociateRq, sender: &Sender) -> Result<(), (Denial, u8)> {
        let calling = rq.header.calling_ae_title.as_str();
        let called = rq.header.called_ae_title.as_str();
        if !self.calling_ae.iter().any(|e| e.vouches(calling, sender)) {
            let known = self.calling_ae.iter().any(|e| e.title == calling);
            let reason = if known {
                format!(
                    "calling AE title {calling:?} is not believed from {}: it is registered for other hosts or certificates",
                    describe_sender(sender)
                )
            } else {
                format!("calling AE title {calling:?} is not registered")
            };
            return Err((
                dicom_denial(CALLING_AE_REGISTRY, reason),
                reject_reason::CALLING_AE_NOT_RECOGNIZED,
            ));
        }
        if !self.called_ae.iter().any(|t| t == called) {
            return Err((
                dicom_denial(
                    CALLED_AE_REGISTRY,
                    format!("called AE title {called:?} is not served by this route"),
                ),
                reject_reason::CALLED_AE_NOT_RECOGNIZED,
            ));
        }
        Ok(())
    }
}

fn describe_sender(sender: &Sender) -> String {
    match sender
        .certificate
        .as_ref()
        .and_then(|c| c.common_name.as_deref())
    {
        Some(cn) => format!("{} (certificate {cn})", sender.address),
        None => sender.address.to_string(),
    }
}

fn dicom_denial(rule: &str, reason: String) -> Denial {
    Denial {
        rule: Arc::from(rule),
        reason,
        hl7_error: hl7_error::APPLICATION_ERROR,
        application_code: None,
    }
}

/// A UID by its keyword when the dictionary knows it.
pub(crate) fn uid_name(u: &str) -> &str {
    uid::keyword_of(u).unwrap_or(u)
}

/// Which presentation-context moment is judged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Proposed with these transfer syntaxes: an allow rule needs one of them.
    Proposed,
    /// Accepted with this one transfer syntax.
    Accepted,
}

/// Commands that carry a Priority (PS3.7 §9.1).
fn has_priority(field: CommandField) -> bool {
    matches!(
        field,
        CommandField::C_STORE_RQ
            | CommandField::C_FIND_RQ
            | CommandField::C_MOVE_RQ
            | CommandField::C_GET_RQ
    )
}

impl Rule {
    fn dicom(&self) -> Option<&DicomConds> {
        (self.protocol == Protocol::Dicom)
            .then_some(self.dicom.as_deref())
            .flatten()
    }

    /// AE titles, sender and user identity: what a rule knows about who is talking.
    fn dicom_identity(&self, d: &DicomConds, rq: &AssociateRq, sender: &Sender) -> bool {
        let h = &rq.header;
        self.matches_sender_as(sender, Some(&h.calling_ae_title))
            && d.calling_ae
                .as_ref()
                .is_none_or(|c| c.holds([h.calling_ae_title.as_bytes()]))
            && d.called_ae
                .as_ref()
                .is_none_or(|c| c.holds([h.called_ae_title.as_bytes()]))
            && d.user_identity
                .is_none_or(|want| want == h.user_info.user_identity.is_some())
    }

    /// Whether this rule decides about one presentation context at association time.
    fn matches_context(
        &self,
        d: &DicomConds,
        abstract_syntax: &str,
        transfer_syntaxes: &[String],
        stage: Stage,
    ) -> bool {
        match self.action {
            Action::Allow => {
                d.sop_classes
                    .as_ref()
                    .is_some_and(|s| s.contains(abstract_syntax))
                    && d.transfer_syntaxes.as_ref().is_none_or(|allowed| {
                        let mut offered = transfer_syntaxes.iter();
                        match stage {
                            Stage::Proposed => offered.any(|t| allowed.contains(t)),
                            Stage::Accepted => offered.all(|t| allowed.contains(t)),
                        }
                    })
            }
            Action::Deny => d
                .sop_classes
                .as_ref()
                .is_none_or(|s| s.contains(abstract_syntax)),
        }
    }

    /// Whether this rule decides about a DIMSE request. `ignore_destination` asks whether it
    /// would match but for the move destination.
    fn matches_command(
        &self,
        d: &DicomConds,
        context: &AcceptedContext,
        command: &CommandSet<'_>,
        ignore_destination: bool,
    ) -> bool {
        let field = command.command_field.request();
        let sop = command
            .affected_sop_class_uid
            .or(command.requested_sop_class_uid);
        let sop_ok = match (&d.sop_classes, self.action) {
            (None, _) => true,
            (Some(s), Action::Allow) => {
                s.contains(&context.abstract_syntax) && sop.is_none_or(|u| s.contains(u))
            }
            (Some(s), Action::Deny) => {
                s.contains(&context.abstract_syntax) || sop.is_some_and(|u| s.contains(u))
            }
        };
        sop_ok
            && d.transfer_syntaxes
                .as_ref()
                .is_none_or(|t| t.contains(&context.transfer_syntax))
            && (d.commands.is_empty() || d.commands.contains(&field))
            && (ignore_destination
                || field != CommandField::C_MOVE_RQ
                || d.move_destinations
                    .as_ref()
                    .is_none_or(|c| c.holds(command.move_destination.map(str::as_bytes))))
            && (!has_priority(field)
                || d.priority
                    .as_ref()
                    .is_none_or(|list| command.priority.is_some_and(|p| list.contains(&p))))
    }

    /// Rules judged at association time: allow rules and `refuse = "association"` deny rules.
    fn judges_association(&self, d: &DicomConds) -> bool {
        self.action == Action::Allow || d.refuse == Some(Refuse::Association)
    }

    /// Rules judged per command: allow rules and `refuse = "command" | "abort"` deny rules.
    fn judges_commands(&self, d: &DicomConds) -> bool {
        matches!(
            (self.action, d.refuse),
            (Action::Allow, _) | (Action::Deny, Some(Refuse::Command | Refuse::Abort))
        )
    }
}

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
    fn judge_context(
        &self,
        rq: &AssociateRq,
        sender: &Sender,
        abstract_syntax: &str,
        transfer_syntaxes: &[String],
        stage: Stage,
        audit: &mut Vec<Denial>,
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
                    rule.denial_for(rule.description.clone()),
                    d.reason.unwrap_or(reject_reason::NO_REASON),
                )),
            };
            if rule.mode == Mode::Audit {
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
                Err((
                    dicom_denial(
                        "default",
                        format!(
                            "no rule allows {} to {what} to {}",
                            h.calling_ae_title, h.called_ae_title
                        ),
                    ),
                    reject_reason::NO_REASON,
                ))
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
        if let Err((denial, reason)) = self.dicom.check_titles(rq, sender) {
            return AssociationDecision::Reject { denial, reason };
        }
        let mut audit = Vec::new();
        let mut allowed_by: Vec<Arc<str>> = Vec::new();
        if rq.presentation_contexts.is_empty() && self.policy.default == Action::Deny {
            return AssociationDecision::Reject {
                denial: dicom_denial(
                    "default",
                    "the request proposes no presentation context".into(),
                ),
                reason: reject_reason::NO_REASON,
            };
        }
        for ctx in &rq.presentation_contexts {
            match self.judge_context(
                rq,
                sender,
                &ctx.abstract_syntax,
                &ctx.transfer_syntaxes,
                Stage::Proposed,
                &mut audit,
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
        self.dicom.check_titles(rq, sender).map_err(|(d, _)| d)?;
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
        let field = command.command_field;
        if field.is_response() || field == CommandField::C_CANCEL_RQ {
            return CommandDecision::Allow(Permit {
                rule: None,
                alerts: Vec::new(),
                audit: Vec::new(),
            });
        }
        if let Err((denial, _)) = self.dicom.check_titles(rq, sender) {
            return CommandDecision::Abort { denial };
        }
        let mut audit = Vec::new();
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
                    denial: rule.denial_for(rule.description.clone()),
                },
                (Action::Deny, _) => CommandDecision::Refuse {
                    denial: rule.denial_for(rule.description.clone()),
                    status: d.status.unwrap_or(Status::NOT_AUTHORIZED.0),
                },
            };
            if rule.mode == Mode::Audit {
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
            Action::Deny => self.default_command_refusal(rq, context, command, sender),
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
