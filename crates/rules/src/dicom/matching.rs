//! Whether a DICOM rule speaks about an association, a presentation context or a command.

use wardgate_dicom::{AcceptedContext, AssociateRq, CommandField, CommandSet};

use super::{DicomConds, Refuse};
use crate::ruleset::{Protocol, Rule};
use crate::sender::Sender;
use crate::verdict::Action;

/// Which presentation-context moment is judged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
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
    pub(super) fn dicom(&self) -> Option<&DicomConds> {
        (self.protocol == Protocol::Dicom)
            .then_some(self.dicom.as_deref())
            .flatten()
    }

    /// AE titles, sender and user identity: what a rule knows about who is talking.
    pub(super) fn dicom_identity(&self, d: &DicomConds, rq: &AssociateRq, sender: &Sender) -> bool {
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
    pub(super) fn matches_context(
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
    pub(super) fn matches_command(
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
    pub(super) fn judges_association(&self, d: &DicomConds) -> bool {
        self.action == Action::Allow || d.refuse == Some(Refuse::Association)
    }

    /// Rules judged per command: allow rules and `refuse = "command" | "abort"` deny rules.
    pub(super) fn judges_commands(&self, d: &DicomConds) -> bool {
        matches!(
            (self.action, d.refuse),
            (Action::Allow, _) | (Action::Deny, Some(Refuse::Command | Refuse::Abort))
        )
    }
}
