//! How DICOM things are named in the audit log: PDU and command names, SOP classes by keyword,
//! and a command's `<context id>#<message id>`. Never a patient's data or an instance UID.

use wardgate_dicom::{AcceptedContext, CommandSet, PduType, uid};

/// The PS3.6 keyword of a UID, or the UID itself when it is not in the table.
pub fn uid_name(u: &str) -> String {
    uid::keyword_of(u).map_or_else(|| u.to_owned(), str::to_owned)
}

/// The SOP class a command concerns: its affected or requested SOP class, else the context's
/// abstract syntax.
pub fn sop_class(cmd: &CommandSet<'_>, context: Option<&AcceptedContext>) -> Option<String> {
    cmd.affected_sop_class_uid
        .or(cmd.requested_sop_class_uid)
        .or(context.map(|c| c.abstract_syntax.as_str()))
        .map(uid_name)
}

/// `C-STORE-RQ`, `C-FIND-RSP`, or the raw command field.
pub fn command_name(cmd: &CommandSet<'_>) -> String {
    cmd.command_field.to_string()
}

/// `<context id>#<message id>`; responses name the message they answer.
pub fn control_id(context_id: u8, cmd: &CommandSet<'_>) -> String {
    match cmd.message_id.or(cmd.message_id_being_responded_to) {
        Some(id) => format!("{context_id}#{id}"),
        None => format!("{context_id}#-"),
    }
}

/// The PS3.8 name of a PDU type.
pub fn pdu_name(t: PduType) -> String {
    t.to_string()
}
