//! Judging DICOM associations and DIMSE commands (PS3.8, PS3.7): who may associate with whom, from
//! where, proposing which SOP classes and transfer syntaxes, and which commands they may send.
//!
//! Three moments are judged, each by the first enforced rule that matches:
//! 1. the A-ASSOCIATE-RQ ([`RuleSet::evaluate_dicom_associate`]): the AE titles against the
//!    `[dicom]` registry, then every proposed presentation context against the rules;
//! 2. the acceptor's A-ASSOCIATE-AC ([`RuleSet::evaluate_dicom_accept`]): every accepted context,
//!    with the transfer syntax the acceptor chose;
//! 3. every DIMSE request ([`RuleSet::evaluate_dicom_command`]), in the context it travels in.
//!
//! [`RuleSet::evaluate_dicom_associate`]: crate::RuleSet::evaluate_dicom_associate
//! [`RuleSet::evaluate_dicom_accept`]: crate::RuleSet::evaluate_dicom_accept
//! [`RuleSet::evaluate_dicom_command`]: crate::RuleSet::evaluate_dicom_command

use wardgate_dicom::{CommandField, Priority, uid};

use crate::condition::TextCondition;

mod decide;
mod matching;
mod outcome;
mod registry;

pub use outcome::{AssociationDecision, CommandDecision, Refuse, reject_reason};
pub use registry::{CallingAe, DicomPolicy};

/// The rule name a denial carries when the `[dicom]` calling-AE registry refused.
pub const CALLING_AE_REGISTRY: &str = "dicom.calling_ae";
/// The rule name a denial carries when the `[dicom]` called-AE list refused.
pub const CALLED_AE_REGISTRY: &str = "dicom.called_ae";

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

/// A UID by its keyword when the dictionary knows it.
pub(crate) fn uid_name(u: &str) -> &str {
    uid::keyword_of(u).unwrap_or(u)
}
