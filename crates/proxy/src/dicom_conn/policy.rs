//! The rules' DICOM entry points, in one place: the association request, the acceptor's answer,
//! and each DIMSE request.

use wardgate_dicom::{AcceptedContext, AssociateAc, AssociateRq, CommandSet};
use wardgate_rules::{Denial, RuleSet, Sender};

pub use wardgate_rules::{AssociationDecision, CommandDecision};

/// Judge an A-ASSOCIATE-RQ.
pub fn associate(rules: &RuleSet, rq: &AssociateRq, sender: &Sender) -> AssociationDecision {
    rules.evaluate_dicom_associate(rq, sender)
}

/// Judge the acceptor's A-ASSOCIATE-AC against the request it answers.
pub fn accept(
    rules: &RuleSet,
    rq: &AssociateRq,
    ac: &AssociateAc,
    sender: &Sender,
) -> Result<(), Denial> {
    rules.evaluate_dicom_accept(rq, ac, sender)
}

/// Judge one DIMSE request on an accepted presentation context.
pub fn command(
    rules: &RuleSet,
    rq: &AssociateRq,
    context: &AcceptedContext,
    command: &CommandSet<'_>,
    sender: &Sender,
) -> CommandDecision {
    rules.evaluate_dicom_command(rq, context, command, sender)
}
