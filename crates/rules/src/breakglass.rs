//! Break-glass, as pure functions: which refusals an operator's emergency override turns into
//! audit records, and which stay enforced (`never_override`).
//!
//! The proxy owns the override's lifetime (who, why, until when); the rules only see which rules it
//! covers. Evaluation order is unchanged: a covered refusal is recorded and evaluation goes on, so a
//! later `never_override` rule (a drug library's hard limits) still judges the message.

use crate::ruleset::{Rule, RuleSet};
use crate::verdict::{Denial, Permit, Verdict};

/// What break-glass currently puts in audit mode on one route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The whole route: every refusal (the policy default's too) is recorded, not enforced.
    pub whole_route: bool,
    /// Single rules, by id.
    pub rules: Vec<String>,
}

impl Overrides {
    /// No break-glass in force.
    pub fn is_empty(&self) -> bool {
        !self.whole_route && self.rules.is_empty()
    }

    /// Whether a refusal by `rule` is recorded instead of enforced.
    pub fn covers(&self, rule: &Rule) -> bool {
        !rule.never_override && (self.whole_route || self.rules.iter().any(|r| **r == *rule.id))
    }

    /// The pure override of one rule's verdict: `None` when the rule decides (its verdict stands),
    /// `Some(denial)` when the verdict is a refusal that only goes to the audit list. `audit_mode`
    /// is the rule's own `mode = "audit"`.
    pub(crate) fn set_aside(&self, rule: &Rule, audit_mode: bool, verdict: Verdict) -> Outcome {
        match verdict {
            Verdict::Deny(d) if audit_mode || self.covers(rule) => Outcome::Recorded(d),
            // A rule in audit mode never decides, not even by permitting.
            Verdict::Permit(_) if audit_mode => Outcome::Skipped,
            v => Outcome::Decides(v),
        }
    }

    /// The verdict when no rule decided: the policy default's refusal, unless the whole route is
    /// under break-glass, in which case the message passes and the refusal is recorded.
    pub fn settle_default(&self, default: Verdict, mut audit: Vec<Denial>) -> Verdict {
        match default {
            Verdict::Deny(d) if self.whole_route => {
                audit.push(d);
                Verdict::Permit(Permit {
                    rule: None,
                    alerts: Vec::new(),
                    audit,
                })
            }
            Verdict::Permit(mut p) => {
                p.audit = audit;
                Verdict::Permit(p)
            }
            deny => deny,
        }
    }
}

/// What one matching rule contributes to an evaluation.
pub(crate) enum Outcome {
    /// Its verdict is final.
    Decides(Verdict),
    /// Its refusal is recorded and evaluation goes on.
    Recorded(Denial),
    /// Nothing (an audit-mode rule that would permit).
    Skipped,
}

/// Why a break-glass request for a single rule cannot be granted. The operator is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideRefused {
    /// The rule set has no rule by that id.
    #[error("the route's rule set has no rule `{0}`")]
    UnknownRule(String),
    /// The policy marks the rule `never_override`.
    #[error("rule `{0}` is marked never_override: break-glass cannot set it aside")]
    NeverOverride(String),
}

impl RuleSet {
    /// Whether break-glass may put rule `id` into audit mode.
    pub fn check_override(&self, id: &str) -> Result<(), OverrideRefused> {
        match self.rule(id) {
            None => Err(OverrideRefused::UnknownRule(id.to_owned())),
            Some(r) if r.never_override => Err(OverrideRefused::NeverOverride(id.to_owned())),
            Some(_) => Ok(()),
        }
    }
}
