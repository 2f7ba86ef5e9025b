//! The rules' DICOM entry points, in one place: the association request, the acceptor's answer,
//! and each DIMSE request. Each takes the route's break-glass overrides in force.

use wardgate_dicom::{AcceptedContext, AssociateAc, AssociateRq, CommandSet};
use wardgate_rules::{Denial, Overrides, RuleSet, Sender};

pub use wardgate_rules::{AssociationDecision, CommandDecision};

/// Judge an A-ASSOCIATE-RQ.
pub fn associate(
    rules: &RuleSet,
    rq: &AssociateRq,
    sender: &Sender,
    ov: &Overrides,
) -> AssociationDecision {
    rules.evaluate_dicom_associate_with(rq, sender, ov)
}

/// Judge the acceptor's A-ASSOCIATE-AC against the request it answers.
pub fn accept(
    rules: &RuleSet,
    rq: &AssociateRq,
    ac: &AssociateAc,
    sender: &Sender,
    ov: &Overrides,
) -> Result<(), Denial> {
    rules.evaluate_dicom_accept_with(rq, ac, sender, ov)
}

/// Judge one DIMSE request on an accepted presentation context.
pub fn command(
    rules: &RuleSet,
    rq: &AssociateRq,
    context: &AcceptedContext,
    command: &CommandSet<'_>,
    sender: &Sender,
    ov: &Overrides,
) -> CommandDecision {
    rules.evaluate_dicom_command_with(rq, context, command, sender, ov)
}

/// Whether the acceptor may send the request `cmd` on `context`: only within the roles the
/// association negotiated (PS3.7 §D.3.3.4). Without role selection it is the SCP and may send
/// only N-EVENT-REPORT; C-GET sub-operations need the SCP role the requestor asked for. The
/// refusal's reason otherwise (the association is then aborted).
pub fn acceptor_request(
    rq: Option<&AssociateRq>,
    ac: Option<&AssociateAc>,
    context: Option<&AcceptedContext>,
    cmd: &CommandSet<'_>,
) -> Result<(), String> {
    if wardgate_dicom::acceptor_may_send(rq, ac, context, cmd.command_field) {
        return Ok(());
    }
    Err(format!(
        "the acceptor sent {} without the role to send it (no SCP role for the requestor was \
         negotiated for this SOP class); association aborted on both sides",
        super::names::command_name(cmd)
    ))
}
