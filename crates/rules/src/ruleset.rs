//! A compiled rule set and its evaluation: first matching enforced rule decides.

use std::borrow::Cow;
use std::sync::Arc;

use wardgate_hl7::{Message, Path, read_infusion_orders};

use crate::breakglass::{Outcome, Overrides};
use crate::condition::{AddressCondition, TextCondition};
use crate::druglib::{DrugLibrary, hl7_error};
use crate::sender::Sender;
use crate::testcase::RuleTest;
use crate::verdict::{Action, Denial, Mode, Permit, Verdict};

/// The protocol a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HL7 v2 over MLLP.
    Hl7,
    /// The wardgate pump protocol.
    Pump,
    /// DICOM networking: associations (PS3.8) and DIMSE commands (PS3.7).
    Dicom,
}

/// A message type pattern: `RGV^O15`, or `ADT^*` for any trigger event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageType {
    /// MSH-9.1.
    pub code: String,
    /// MSH-9.2; `None` matches any trigger.
    pub trigger: Option<String>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id, named in verdicts and NACKs.
    pub id: Arc<str>,
    /// What the rule is for, in the informaticist's words; the reason given when it refuses.
    pub description: String,
    /// The protocol it applies to.
    pub protocol: Protocol,
    /// Allow or deny.
    pub action: Action,
    /// Enforce, or audit only.
    pub mode: Mode,
    /// The rule file it came from and the line of its `[[rule]]`.
    pub origin: (Arc<str>, usize),
    pub(crate) messages: Vec<MessageType>,
    pub(crate) cert_cn: Option<TextCondition>,
    pub(crate) cert_san: Option<TextCondition>,
    pub(crate) address: Option<AddressCondition>,
    pub(crate) sending_application: Option<TextCondition>,
    pub(crate) sending_facility: Option<TextCondition>,
    /// Conditions on the device the sender resolves to in the approved inventory.
    pub(crate) device: Option<crate::inventory::DeviceCondition>,
    pub(crate) fields: Vec<(Path, TextCondition)>,
    /// Pump rules: the commands the rule applies to (empty = any).
    pub(crate) commands: Vec<wardgate_pump::CommandCode>,
    /// Pump rules: pump serials.
    pub(crate) devices: Option<TextCondition>,
    /// Pump rules: channels.
    pub(crate) channels: Option<Vec<u8>>,
    /// DICOM rules: conditions and how the rule refuses.
    pub(crate) dicom: Option<Box<crate::dicom::DicomConds>>,
    pub(crate) drug_library: bool,
    /// Refusals stay enforced under break-glass (`never_override = true`).
    pub never_override: bool,
    pub(crate) hl7_error: u16,
    pub(crate) application_code: Option<u16>,
}

/// File-level settings of a rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// A name for people.
    pub name: String,
    /// Verdict when no enforced rule matches.
    pub default: Action,
    /// Orders (ORC-9) older than this are refused as stale (PIV 9022).
    pub max_order_age_ms: Option<u64>,
    /// The senders' UTC offset in minutes, for timestamps that carry none.
    pub local_offset_minutes: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name: String::from("unnamed policy"),
            default: Action::Deny,
            max_order_age_ms: None,
            local_offset_minutes: 0,
        }
    }
}

/// A compiled, immutable set of rules with its drug library and rule tests.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// File-level settings.
    pub policy: Policy,
    /// Rules in evaluation order.
    pub rules: Vec<Rule>,
    /// The drug library rules with `drug_library = true` check orders against.
    pub library: DrugLibrary,
    /// Pump-protocol settings (`[pump]`).
    pub pump: crate::pump::PumpPolicy,
    /// The AE titles DICOM routes know (`[dicom]`).
    pub dicom: crate::dicom::DicomPolicy,
    /// Test cases declared beside the rules.
    pub tests: Vec<RuleTest>,
    /// The approved device inventory (`[[device]]`, usually included from its own file).
    pub inventory: Arc<crate::inventory::Inventory>,
    /// Micro-segmentation flows (`[segmentation]`, `[[flow]]`).
    pub segmentation: crate::segmentation::Segmentation,
    /// SHA-256 (hex) of the rule files it was compiled from, names and texts in order: what a
    /// reload audit line and an operator compare.
    pub digest: String,
}

/// The MSH fields every rule looks at, decoded once per message rather than once per rule.
struct Envelope<'m> {
    code: Option<Cow<'m, [u8]>>,
    trigger: Option<Cow<'m, [u8]>>,
    application: Option<Cow<'m, [u8]>>,
    facility: Option<Cow<'m, [u8]>>,
}

impl<'m> Envelope<'m> {
    fn of(msg: &Message<'m>) -> Self {
        // MSH-3, -4 and -9 from the separators the parse recorded (read for every message).
        let [app, fac, kind] = [3, 4, 9].map(|n| msg.field_at(0, n));
        let escapes = msg.has_escapes();
        let component = |f: Option<wardgate_hl7::Field<'m>>, c| {
            f.and_then(|f| f.component(c)).map(|c| c.value())
        };
        Envelope {
            code: text_of(component(kind, 1), escapes),
            trigger: text_of(component(kind, 2), escapes),
            application: text_of(component(app, 1), escapes),
            facility: text_of(component(fac, 1), escapes),
        }
    }
}

/// The decoded value; borrowed unless it had escapes to decode.
fn text_of(v: Option<wardgate_hl7::Value<'_>>, escapes: bool) -> Option<Cow<'_, [u8]>> {
    // Without an escape character after MSH-2 decoding is the identity: skip its search.
    v.map(|v| {
        if escapes {
            v.decoded()
        } else {
            Cow::Borrowed(v.raw())
        }
    })
    .filter(|v| !v.is_empty())
}

impl Rule {
    fn matches(&self, msg: &Message<'_>, env: &Envelope<'_>, sender: &Sender) -> bool {
        if !self.messages.is_empty() {
            let code = env.code.as_deref().unwrap_or_default();
            let trigger = env.trigger.as_deref().unwrap_or_default();
            let hit = self.messages.iter().any(|m| {
                m.code.as_bytes() == code
                    && m.trigger.as_ref().is_none_or(|t| t.as_bytes() == trigger)
            });
            if !hit {
                return false;
            }
        }
        if !crate::sender::sender_holds(&self.address, &self.cert_cn, &self.cert_san, sender) {
            return false;
        }
        if let Some(d) = &self.device {
            let observed = crate::inventory::Observed {
                address: sender.address,
                certificate: sender.certificate.as_ref(),
                hl7: Some((env.application.as_deref(), env.facility.as_deref())),
                calling_ae: None,
            };
            if !d.holds(d.inventory.resolve_sender(&observed)) {
                return false;
            }
        }
        for (cond, value) in [
            (&self.sending_application, &env.application),
            (&self.sending_facility, &env.facility),
        ] {
            if let Some(c) = cond {
                if !c.holds(value.as_deref()) {
                    return false;
                }
            }
        }
        self.fields.iter().all(|(path, cond)| {
            let text = text_of(msg.get(path), msg.has_escapes());
            cond.holds(text.as_deref())
        })
    }

    /// Address and certificate conditions, shared by every protocol.
    pub(crate) fn matches_sender(&self, sender: &Sender) -> bool {
        self.matches_sender_as(sender, None)
    }

    /// [`Rule::matches_sender`] on a DICOM association: the calling AE title also identifies
    /// the device.
    pub(crate) fn matches_sender_as(&self, sender: &Sender, calling_ae: Option<&str>) -> bool {
        crate::sender::sender_holds(&self.address, &self.cert_cn, &self.cert_san, sender)
            && self.device.as_ref().is_none_or(|d| {
                let observed = crate::inventory::Observed {
                    calling_ae,
                    ..crate::inventory::Observed::address(
                        sender.address,
                        sender.certificate.as_ref(),
                    )
                };
                d.holds(d.inventory.resolve_sender(&observed))
            })
    }

    pub(crate) fn denial_for(&self, reason: String) -> Denial {
        Denial {
            rule: self.id.clone(),
            reason,
            hl7_error: Some(self.hl7_error),
            application_code: self.application_code,
        }
    }

    /// What this rule says about a message it matched.
    fn decide(&self, msg: &Message<'_>, set: &RuleSet, now_ms: Option<i64>) -> Verdict {
        let library = &set.library;
        match self.action {
            Action::Deny => Verdict::Deny(self.denial_for(self.description.clone())),
            Action::Allow if !self.drug_library => Verdict::Permit(Permit {
                rule: Some(self.id.clone()),
                alerts: Vec::new(),
                audit: Vec::new(),
            }),
            Action::Allow => {
                let orders = match read_infusion_orders(msg) {
                    Ok(o) => o,
                    Err(e) => {
                        return Verdict::Deny(Denial {
                            rule: self.id.clone(),
                            reason: format!("not a readable infusion order: {e}"),
                            hl7_error: Some(hl7_error::REQUIRED_FIELD_MISSING),
                            application_code: None,
                        });
                    }
                };
                let mut alerts = Vec::new();
                for order in &orders.orders {
                    if let Some(reason) = set.stale(order.order_time.as_deref(), now_ms) {
                        return Verdict::Deny(Denial {
                            rule: self.id.clone(),
                            reason,
                            hl7_error: Some(hl7_error::APPLICATION_ERROR),
                            application_code: Some(crate::druglib::piv::STALE_ORDER),
                        });
                    }
                    match library.check(order, orders.care_area.as_deref()) {
                        Ok(mut a) => alerts.append(&mut a),
                        Err(v) => {
                            return Verdict::Deny(Denial {
                                rule: self.id.clone(),
                                reason: v.reason,
                                hl7_error: Some(v.hl7_error),
                                application_code: v.application_code,
                            });
                        }
                    }
                }
                Verdict::Permit(Permit {
                    rule: Some(self.id.clone()),
                    alerts,
                    audit: Vec::new(),
                })
            }
        }
    }
}

impl RuleSet {
    /// Evaluate an HL7 message from `sender`.
    ///
    /// Rules are tried in order; the first enforced rule that matches decides. Rules in audit mode
    /// that match and would refuse are recorded in the permit and evaluation goes on. No clock is
    /// read and nothing panics.
    pub fn evaluate_hl7(&self, msg: &Message<'_>, sender: &Sender) -> Verdict {
        self.evaluate_hl7_at(msg, sender, None)
    }

    /// [`RuleSet::evaluate_hl7`] with the current time (Unix milliseconds) passed in, for the
    /// stale-order rule. Without it, the message's own MSH-7 stands for "now" (offline replay).
    pub fn evaluate_hl7_at(
        &self,
        msg: &Message<'_>,
        sender: &Sender,
        now_unix_ms: Option<i64>,
    ) -> Verdict {
        self.evaluate_hl7_with(msg, sender, now_unix_ms, &Overrides::default())
    }

    /// [`RuleSet::evaluate_hl7_at`] under break-glass: refusals the overrides cover are recorded in
    /// the permit instead of enforced; `never_override` rules still refuse.
    pub fn evaluate_hl7_with(
        &self,
        msg: &Message<'_>,
        sender: &Sender,
        now_unix_ms: Option<i64>,
        overrides: &Overrides,
    ) -> Verdict {
        let verdict = self.judge_hl7(msg, sender, now_unix_ms, overrides);
        if overrides.is_empty() {
            verdict
        } else {
            self.pin_hl7(msg, verdict)
        }
    }

    fn judge_hl7(
        &self,
        msg: &Message<'_>,
        sender: &Sender,
        now_unix_ms: Option<i64>,
        overrides: &Overrides,
    ) -> Verdict {
        // MSH-7 stands in for the clock only where an order's age is checked at all.
        let now_ms = now_unix_ms.or_else(|| {
            self.policy.max_order_age_ms?;
            let sent = msg.header().field(7)?.to_text();
            crate::time::parse_hl7_ts(&sent, self.policy.local_offset_minutes)
        });
        let mut audit = Vec::new();
        let env = Envelope::of(msg);
        for rule in self.rules.iter().filter(|r| r.protocol == Protocol::Hl7) {
            if !rule.matches(msg, &env, sender) {
                continue;
            }
            let verdict = rule.decide(msg, self, now_ms);
            let verdict = match overrides.set_aside(rule, rule.mode == Mode::Audit, verdict) {
                Outcome::Decides(v) => v,
                Outcome::Recorded(d) => {
                    audit.push(d);
                    continue;
                }
                Outcome::Skipped => continue,
            };
            return match verdict {
                Verdict::Permit(mut p) => {
                    p.audit = audit;
                    Verdict::Permit(p)
                }
                deny => deny,
            };
        }
        let default = match self.policy.default {
            Action::Allow => Verdict::Permit(Permit {
                rule: None,
                alerts: Vec::new(),
                audit: Vec::new(),
            }),
            Action::Deny => {
                let header = msg.header();
                let kind = [header.message_code(), header.trigger_event()]
                    .map(|v| v.map(|v| v.to_text()).unwrap_or_default())
                    .join("^");
                Verdict::Deny(Denial {
                    rule: Arc::from("default"),
                    reason: format!("no rule allows {kind} from this sender"),
                    hl7_error: Some(hl7_error::APPLICATION_ERROR),
                    application_code: None,
                })
            }
        };
        overrides.settle_default(default, audit)
    }

    /// Why an order with this ORC-9 time is stale at `now_ms`, if it is (and the policy asks).
    fn stale(&self, order_time: Option<&str>, now_ms: Option<i64>) -> Option<String> {
        let max = self.policy.max_order_age_ms?;
        let Some(now) = now_ms else {
            return Some("no current time to judge the order's age against".into());
        };
        let Some(t) =
            order_time.and_then(|t| crate::time::parse_hl7_ts(t, self.policy.local_offset_minutes))
        else {
            return Some(format!(
                "order time (ORC-9) {:?} is missing or malformed: its age cannot be checked",
                order_time.unwrap_or("")
            ));
        };
        let age = now.saturating_sub(t);
        (age > max as i64).then(|| {
            format!(
                "the order is {} min old; orders older than {} min are stale",
                age / 60_000,
                max / 60_000
            )
        })
    }

    /// Find a rule by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| &*r.id == id)
    }
}
