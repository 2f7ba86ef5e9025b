//! What evaluation returns: a permit naming the rule that allowed, or a typed denial.

use std::fmt;
use std::sync::Arc;

/// Whether a rule's refusals are enforced or only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Refusals stop the message.
    #[default]
    Enforce,
    /// Refusals are logged, the message is forwarded (try a policy before enforcing it).
    Audit,
}

impl Mode {
    /// The name used in rule files and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let the message through (after the drug library, when the rule asks for it).
    Allow,
    /// Refuse the message.
    Deny,
}

impl Action {
    /// The name used in rule files and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// Proof that a message may pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Permit {
    /// The rule that allowed it; `None` when the policy default allowed it.
    pub rule: Option<Arc<str>>,
    /// Soft-limit alerts: the message passes, and the alert is audited.
    pub alerts: Vec<String>,
    /// Refusals by rules in audit mode: the message would have been refused had they been enforced.
    pub audit: Vec<Denial>,
}

/// Why a message was refused, in terms both a person and the sender's protocol understand.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// The rule that refused; `"default"` when no rule matched and the policy default denied.
    pub rule: Arc<str>,
    /// A sentence for the audit log and the NACK's user message.
    pub reason: String,
    /// HL7 table 0357 error code for ERR-3; only HL7 denials have one. Pump and DICOM denials
    /// ([`Denial::outside_hl7`]) carry `None`: their refusal on the wire is the NAK reason (from
    /// `application_code`) or the A-ASSOCIATE-RJ reason / DIMSE status of the DICOM decision.
    pub hl7_error: Option<u16>,
    /// Application error code: ERR-5 on HL7 (IHE PIV 90xx codes for PCD-03); on pump routes the
    /// PIV code of a drug-library or clinical-check refusal, which picks the NAK reason.
    pub application_code: Option<u16>,
}

impl Denial {
    /// A refusal in a protocol with no HL7 ERR-3 (pump NAK, DICOM A-ASSOCIATE-RJ, DIMSE failure
    /// response, A-ABORT): `hl7_error` is `None`.
    pub fn outside_hl7(
        rule: impl Into<Arc<str>>,
        reason: String,
        application_code: Option<u16>,
    ) -> Denial {
        Denial {
            rule: rule.into(),
            reason,
            hl7_error: None,
            application_code,
        }
    }
}

/// The outcome of evaluating one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The message may pass.
    Permit(Permit),
    /// The message is refused (or would be, in audit mode).
    Deny(Denial),
}

impl Verdict {
    /// Whether the message is forwarded.
    pub fn forwards(&self) -> bool {
        matches!(self, Verdict::Permit(_))
    }

    /// The rule that decided, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Verdict::Permit(p) => p.rule.as_deref(),
            Verdict::Deny(d) => Some(&d.rule),
        }
    }

    /// `allow`, `deny` or `audit-deny` (forwarded, but an audit-mode rule would have refused it).
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Permit(p) if !p.audit.is_empty() => "audit-deny",
            Verdict::Permit(_) => "allow",
            Verdict::Deny(_) => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Permit(p) => {
                write!(f, "allow by {}", p.rule.as_deref().unwrap_or("default"))?;
                for a in &p.alerts {
                    write!(f, " [alert: {a}]")?;
                }
                for d in &p.audit {
                    write!(f, " [audit: would deny by {}: {}]", d.rule, d.reason)?;
                }
                Ok(())
            }
            Verdict::Deny(d) => {
                write!(f, "{} by {}: {}", self.label(), d.rule, d.reason)?;
                if let Some(code) = d.application_code {
                    write!(f, " (code {code})")?;
                }
                Ok(())
            }
        }
    }
}
