//! Running a DICOM rule test: the association, the acceptor's answer and the command are built as
//! the views the proxy hands the rules, so a test judges exactly what live traffic would be.

use wardgate_dicom::{
    AcceptedContext, AssociateAc, AssociateHeader, AssociateRq, CommandField, CommandSet,
    ContextAnswer, ContextResult, DATA_SET_TYPE_NONE, Priority, ProposedContext, UserIdentity,
    UserIdentityType, UserInfo,
};

use crate::dicom::{AssociationDecision, CommandDecision};
use crate::ruleset::RuleSet;
use crate::sender::Sender;
use crate::testcase::{DicomExpect, DicomTest};

/// The DICOM application context name (PS3.7 Annex A).
const DICOM_APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";

/// What happened, in the test's vocabulary.
struct Outcome {
    got: DicomExpect,
    rule: Option<String>,
    reason: Option<u8>,
    status: Option<u16>,
    shown: String,
}

impl DicomTest {
    fn header(&self, user_identity: bool) -> AssociateHeader {
        AssociateHeader {
            protocol_version: 1,
            called_ae_title: self.called_ae.clone(),
            calling_ae_title: self.calling_ae.clone(),
            application_context: DICOM_APPLICATION_CONTEXT.to_owned(),
            user_info: UserInfo {
                max_length: Some(16_384),
                user_identity: user_identity.then_some(UserIdentity {
                    identity_type: UserIdentityType::USERNAME_AND_PASSCODE,
                    positive_response_requested: false,
                    has_secondary_field: true,
                }),
                ..UserInfo::default()
            },
        }
    }

    /// The A-ASSOCIATE-RQ: contexts get ids 1, 3, 5, ...
    pub fn associate_rq(&self) -> AssociateRq {
        AssociateRq {
            header: self.header(self.user_identity),
            presentation_contexts: self
                .contexts
                .iter()
                .zip((1u8..=255).step_by(2))
                .map(|((abs, ts), id)| ProposedContext {
                    id,
                    abstract_syntax: abs.clone(),
                    transfer_syntaxes: ts.clone(),
                })
                .collect(),
        }
    }

    /// The acceptor's A-ASSOCIATE-AC: every context accepted with its first transfer syntax.
    pub fn associate_ac(&self, rq: &AssociateRq) -> AssociateAc {
        AssociateAc {
            header: self.header(false),
            presentation_contexts: rq
                .presentation_contexts
                .iter()
                .map(|c| ContextAnswer {
                    id: c.id,
                    result: ContextResult::ACCEPTANCE,
                    transfer_syntax: c.transfer_syntaxes.first().cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    fn outcome(&self, rules: &RuleSet, sender: &Sender) -> Outcome {
        let rq = self.associate_rq();
        let decision = rules.evaluate_dicom_associate(&rq, sender);
        let accepted_by = match &decision {
            AssociationDecision::Reject { denial, reason } => {
                return Outcome {
                    got: DicomExpect::Reject,
                    rule: Some(denial.rule.to_string()),
                    reason: Some(*reason),
                    status: None,
                    shown: decision.to_string(),
                };
            }
            AssociationDecision::Accept { rule, .. } => rule.as_deref().map(str::to_owned),
        };
        let ac = self.associate_ac(&rq);
        if let Err(denial) = rules.evaluate_dicom_accept(&rq, &ac, sender) {
            return Outcome {
                got: DicomExpect::Abort,
                rule: Some(denial.rule.to_string()),
                reason: None,
                status: None,
                shown: format!(
                    "abort at A-ASSOCIATE-AC by {}: {}",
                    denial.rule, denial.reason
                ),
            };
        }
        let Some(cmd) = &self.command else {
            return Outcome {
                got: DicomExpect::Allow,
                rule: accepted_by,
                reason: None,
                status: None,
                shown: decision.to_string(),
            };
        };
        let first = rq.presentation_contexts.first();
        let sop = cmd
            .sop_class
            .as_deref()
            .or(first.map(|c| c.abstract_syntax.as_str()));
        let proposed = rq
            .presentation_contexts
            .iter()
            .find(|c| Some(c.abstract_syntax.as_str()) == sop)
            .or(first);
        let context = AcceptedContext {
            id: proposed.map_or(1, |c| c.id),
            abstract_syntax: proposed
                .map(|c| c.abstract_syntax.clone())
                .unwrap_or_default(),
            transfer_syntax: proposed
                .and_then(|c| c.transfer_syntaxes.first().cloned())
                .unwrap_or_default(),
        };
        let command = command_set(
            cmd.field,
            sop,
            cmd.move_destination.as_deref(),
            cmd.priority,
        );
        let decision = rules.evaluate_dicom_command(&rq, &context, &command, sender);
        let shown = decision.to_string();
        match decision {
            CommandDecision::Allow(p) => Outcome {
                got: DicomExpect::Allow,
                rule: p.rule.as_deref().map(str::to_owned),
                reason: None,
                status: None,
                shown,
            },
            CommandDecision::Refuse { denial, status } => Outcome {
                got: DicomExpect::Refuse,
                rule: Some(denial.rule.to_string()),
                reason: None,
                status: Some(status),
                shown,
            },
            CommandDecision::Abort { denial } => Outcome {
                got: DicomExpect::Abort,
                rule: Some(denial.rule.to_string()),
                reason: None,
                status: None,
                shown,
            },
        }
    }

    /// Run the test; `Err` says what differed.
    pub(crate) fn check(
        &self,
        rules: &RuleSet,
        sender: &Sender,
        rule: Option<&str>,
    ) -> Result<(), String> {
        let o = self.outcome(rules, sender);
        if o.got != self.expect {
            return Err(format!(
                "expected {}, got {}",
                self.expect.as_str(),
                o.shown
            ));
        }
        if let Some(want) = rule {
            // An association allowed by several rules names them joined with `+`.
            let got = o.rule.as_deref().unwrap_or("default");
            if got != want && !got.split('+').any(|r| r == want) {
                return Err(format!("expected rule {want}, got {}", o.shown));
            }
        }
        if let Some(want) = self.reason {
            if o.reason != Some(want) {
                return Err(format!("expected reason {want}, got {}", o.shown));
            }
        }
        if let Some(want) = self.status {
            if o.status != Some(want) {
                return Err(format!("expected status {want:#06x}, got {}", o.shown));
            }
        }
        Ok(())
    }
}

/// A request command set as a DIMSE service user would send it (PS3.7 §9.3, §10.3): N-GET,
/// N-SET, N-ACTION and N-DELETE name the requested SOP class, the others the affected one.
fn command_set<'a>(
    field: CommandField,
    sop: Option<&'a str>,
    move_destination: Option<&'a str>,
    priority: Option<Priority>,
) -> CommandSet<'a> {
    let requested = matches!(
        field,
        CommandField::N_GET_RQ
            | CommandField::N_SET_RQ
            | CommandField::N_ACTION_RQ
            | CommandField::N_DELETE_RQ
    );
    let carries_priority = matches!(
        field,
        CommandField::C_STORE_RQ
            | CommandField::C_FIND_RQ
            | CommandField::C_MOVE_RQ
            | CommandField::C_GET_RQ
    );
    let no_data = matches!(
        field,
        CommandField::C_ECHO_RQ | CommandField::N_GET_RQ | CommandField::N_DELETE_RQ
    );
    CommandSet {
        command_field: field,
        message_id: Some(1),
        message_id_being_responded_to: None,
        affected_sop_class_uid: if requested { None } else { sop },
        requested_sop_class_uid: if requested { sop } else { None },
        affected_sop_instance_uid: None,
        requested_sop_instance_uid: None,
        move_destination,
        priority: priority.or(carries_priority.then_some(Priority::MEDIUM)),
        data_set_type: Some(if no_data { DATA_SET_TYPE_NONE } else { 0x0000 }),
        status: None,
        other_elements: 0,
    }
}
