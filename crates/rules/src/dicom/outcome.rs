//! What DICOM evaluation returns: the decision on an association or a command, and how a deny
//! rule refuses.

use std::sync::Arc;

use crate::verdict::{Denial, Permit};

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
