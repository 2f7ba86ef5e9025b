//! Break-glass, as pure functions: which refusals an operator's emergency override turns into
//! audit records, and which stay enforced (`never_override`).
//!
//! The proxy owns the override's lifetime (who, why, until when); the rules only see which rules it
//! covers. Evaluation order is unchanged: a covered refusal is recorded and evaluation goes on, so a
//! later `never_override` rule still judges the message. And whichever rule lets a message through,
//! the limits of a drug marked `never_override` in the drug library are checked before it is
//! forwarded: hard dose limits hold in an emergency too.

use std::sync::Arc;

use wardgate_hl7::{Message, read_infusion_orders};
use wardgate_pump::{Command, Frame};

use crate::druglib::{DoseOrder, Slot, Violation};
use crate::pump::{self, PumpState};
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

/// The rule named in a refusal by a `never_override` drug's limits under break-glass.
pub const PINNED_RULE: &str = "never-override";

fn pinned_reason(v: &Violation, drug: &str) -> String {
    format!(
        "{} (the limits of {drug} are never_override: they hold under break-glass)",
        v.reason
    )
}

/// An HL7 message's refusal keeps the violation's ERR-3.
fn pinned_hl7(v: Violation, drug: &str) -> Denial {
    Denial {
        rule: Arc::from(PINNED_RULE),
        reason: pinned_reason(&v, drug),
        hl7_error: Some(v.hl7_error),
        application_code: v.application_code,
    }
}

/// A pump command's refusal is a NAK, which has no ERR-3.
fn pinned_pump(v: Violation, drug: &str) -> Denial {
    Denial::outside_hl7(PINNED_RULE, pinned_reason(&v, drug), v.application_code)
}

impl RuleSet {
    /// Under break-glass, an HL7 message about to be forwarded is still checked against the
    /// limits of every `never_override` drug it orders, whichever rule let it through; an order
    /// that crosses them, or cannot be checked against them, is refused.
    pub(crate) fn pin_hl7(&self, msg: &Message<'_>, verdict: Verdict) -> Verdict {
        if !verdict.forwards() {
            return verdict;
        }
        let Ok(orders) = read_infusion_orders(msg) else {
            return verdict;
        };
        for order in &orders.orders {
            let codes = [&*order.drug.identifier, &*order.drug.alt_identifier];
            let names = [&*order.drug.text, &*order.drug.alt_text];
            let Some(drug) = self.library.find_drug(&codes, &names) else {
                continue;
            };
            if !drug.never_override {
                continue;
            }
            let checked = DoseOrder::from_pcd03(order, orders.care_area.as_deref())
                .and_then(|o| self.library.check_dose(&o));
            if let Err(v) = checked {
                return Verdict::Deny(pinned_hl7(v, &drug.id));
            }
        }
        verdict
    }

    /// The same for a pump command: PROGRAM-INFUSION by its drug code, CHANGE-RATE and BOLUS by
    /// the program wardgate last let through to the channel (without one, nothing is known to
    /// check against, and the command is judged by the rules alone).
    pub(crate) fn pin_pump(&self, frame: &Frame<'_>, state: &PumpState) -> Result<(), Denial> {
        let h = &frame.header;
        let program = state
            .get(&pump::key(&h.device, h.channel))
            .and_then(|c| c.program.as_ref());
        let (code, care_area, weight_kg, concentration) = match (&frame.command, program) {
            (Command::ProgramInfusion(p), _) => (
                p.drug_code,
                p.care_area,
                pump::weight(&p.patient_weight),
                p.concentration.as_ref().and_then(pump::concentration),
            ),
            (Command::ChangeRate(_) | Command::Bolus(_), Some(p)) => (
                p.drug_code.as_str(),
                p.care_area.as_str(),
                p.weight_kg,
                p.concentration,
            ),
            _ => return Ok(()),
        };
        let Some(drug) = self.library.find_drug(&[code, ""], &["", ""]) else {
            return Ok(());
        };
        if !drug.never_override {
            return Ok(());
        }
        let given = |q, slot| pump::given(q, slot).map_err(|v| pinned_pump(v, &drug.id));
        let (bolus, values) = match &frame.command {
            Command::ProgramInfusion(p) => {
                let mut v = vec![given(&p.rate, Slot::Rate)?, given(&p.vtbi, Slot::Vtbi)?];
                if let Some(d) = &p.dose_rate {
                    v.push(given(d, Slot::Rate)?);
                }
                (false, v)
            }
            Command::ChangeRate(c) => {
                let mut v = vec![given(&c.rate, Slot::Rate)?];
                if let Some(d) = &c.dose_rate {
                    v.push(given(d, Slot::Rate)?);
                }
                (false, v)
            }
            Command::Bolus(b) => (true, vec![given(&b.dose, Slot::Bolus)?]),
            _ => return Ok(()),
        };
        let order = DoseOrder {
            codes: [code, ""],
            names: ["", ""],
            care_area,
            bolus,
            given: values,
            weight_kg,
            concentration,
        };
        self.library
            .check_dose(&order)
            .map(|_| ())
            .map_err(|v| pinned_pump(v, &drug.id))
    }
}
