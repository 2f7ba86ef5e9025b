//! The drug library: per drug and care area, hard and soft limits, checked the way a pump's
//! dose error reduction software would check them.

use wardgate_hl7::{InfusionOrder, OrderControl, Quantity};

use crate::units::{self, Kind, Unit, UnitError};
use crate::verdict::Action;

/// IHE PIV application error codes used by drug library denials (DOMAIN.md).
pub mod piv {
    /// Parameter outside the allowable range.
    pub const OUTSIDE_ALLOWABLE_RANGE: u16 = 9005;
    /// Units do not match the drug library.
    pub const UNITS_MISMATCH: u16 = 9009;
    /// Medication not in the drug library.
    pub const NOT_IN_DRUG_LIBRARY: u16 = 9010;
    /// Dose rate or VTBI exceeds the maximum.
    pub const EXCEEDS_MAXIMUM: u16 = 9014;
    /// Care area mismatch.
    pub const CARE_AREA_MISMATCH: u16 = 9021;
    /// Stale order.
    pub const STALE_ORDER: u16 = 9022;
    /// Drug library hard limit exceeded.
    pub const HARD_LIMIT_EXCEEDED: u16 = 9024;
}

/// HL7 table 0357 codes used by drug library denials.
pub mod hl7_error {
    /// Required field missing.
    pub const REQUIRED_FIELD_MISSING: u16 = 101;
    /// Data type error.
    pub const DATA_TYPE: u16 = 102;
    /// Application internal error: the code HL7 offers for an application-level refusal.
    pub const APPLICATION_ERROR: u16 = 207;
}

/// Hard and soft bounds on one parameter, in the unit the informaticist wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// The unit the bounds are written in.
    pub unit: Unit,
    /// The unit as written, for messages.
    pub unit_text: String,
    /// Below this the order is refused.
    pub hard_min: Option<f64>,
    /// Below this the order passes with an alert.
    pub soft_min: Option<f64>,
    /// Above this the order passes with an alert.
    pub soft_max: Option<f64>,
    /// Above this the order is refused.
    pub hard_max: Option<f64>,
}

/// The limits of one drug in a set of care areas.
#[derive(Debug, Clone, PartialEq)]
pub struct CareAreaLimits {
    /// Care areas (PV1-3 point of care) these limits apply to; `*` = any.
    pub care_areas: Vec<String>,
    /// Volume rate (mL/h).
    pub rate: Option<Limit>,
    /// Dose rate (mcg/kg/min, U/h, ...).
    pub dose_rate: Option<Limit>,
    /// Volume to be infused.
    pub vtbi: Option<Limit>,
    /// Bolus dose (ORC-1 `CH`).
    pub bolus: Option<Limit>,
}

/// One drug library entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Drug {
    /// The entry's id in the rule file.
    pub id: String,
    /// Give codes (RXG-4 identifier or alternate identifier) that name this drug.
    pub codes: Vec<String>,
    /// Give code texts (RXG-4.2 or .5, compared ignoring case) that name this drug.
    pub names: Vec<String>,
    /// Limits per care area.
    pub limits: Vec<CareAreaLimits>,
}

/// The whole drug library of a rule set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DrugLibrary {
    /// The drugs.
    pub drugs: Vec<Drug>,
    /// What to do with a drug that is not in the library.
    pub unknown_drug: Option<Action>,
}

/// A drug-library refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// What went wrong, in a sentence.
    pub reason: String,
    /// HL7 table 0357 code.
    pub hl7_error: u16,
    /// PIV application code.
    pub application_code: Option<u16>,
}

fn violation(reason: String, application_code: u16) -> Violation {
    Violation {
        reason,
        hl7_error: hl7_error::APPLICATION_ERROR,
        application_code: Some(application_code),
    }
}

impl DrugLibrary {
    /// Find a drug by give code (identifier or alternate identifier) or name.
    pub fn find(&self, order: &InfusionOrder) -> Option<&Drug> {
        let code_match = |d: &&Drug| {
            d.codes.iter().any(|c| {
                (!order.drug.identifier.is_empty() && *c == order.drug.identifier)
                    || (!order.drug.alt_identifier.is_empty() && *c == order.drug.alt_identifier)
            })
        };
        let name_match = |d: &&Drug| {
            d.names.iter().any(|n| {
                (!order.drug.text.is_empty() && n.eq_ignore_ascii_case(&order.drug.text))
                    || (!order.drug.alt_text.is_empty()
                        && n.eq_ignore_ascii_case(&order.drug.alt_text))
            })
        };
        self.drugs
            .iter()
            .find(code_match)
            .or_else(|| self.drugs.iter().find(name_match))
    }

    /// Check one order. `Ok` carries soft-limit alerts.
    pub fn check(
        &self,
        order: &InfusionOrder,
        care_area: Option<&str>,
    ) -> Result<Vec<String>, Violation> {
        let drug_label = if order.drug.text.is_empty() {
            order.drug.identifier.clone()
        } else {
            order.drug.text.clone()
        };
        if order.pump_id_rows != 1 || order.pump_id.as_deref().is_none_or(str::is_empty) {
            return Err(Violation {
                reason: format!(
                    "order for {drug_label} must name exactly one pump (OBX 69986 with OBX-18), it has {}",
                    order.pump_id_rows
                ),
                hl7_error: hl7_error::REQUIRED_FIELD_MISSING,
                application_code: None,
            });
        }
        let Some(drug) = self.find(order) else {
            return match self.unknown_drug.unwrap_or(Action::Deny) {
                Action::Allow => Ok(vec![format!("{drug_label} is not in the drug library")]),
                Action::Deny => Err(violation(
                    format!("{drug_label} is not in the drug library"),
                    piv::NOT_IN_DRUG_LIBRARY,
                )),
            };
        };
        let area = care_area.unwrap_or("");
        let Some(limits) = drug.limits.iter().find(|l| {
            l.care_areas
                .iter()
                .any(|c| c == "*" || (!area.is_empty() && c.eq_ignore_ascii_case(area)))
        }) else {
            return Err(violation(
                format!(
                    "{} has no limits for care area {:?}",
                    drug.id,
                    if area.is_empty() {
                        "(none given)"
                    } else {
                        area
                    }
                ),
                piv::CARE_AREA_MISMATCH,
            ));
        };
        let ctx = OrderContext::new(order, &drug.id, area)?;
        let mut alerts = Vec::new();
        if let Some(vtbi) = &order.vtbi {
            if let Some(limit) = &limits.vtbi {
                let (value, unit) = ctx.quantity(vtbi, "VTBI")?;
                if !unit.is_volume() {
                    return Err(ctx.units_error("VTBI", vtbi, "a volume"));
                }
                ctx.compare("VTBI", value, &unit, limit, &mut alerts)?;
            }
        }
        let Some(rate) = &order.rate else {
            return Err(Violation {
                reason: format!("order for {} gives no rate or dose (RXG-15)", drug.id),
                hl7_error: hl7_error::REQUIRED_FIELD_MISSING,
                application_code: None,
            });
        };
        let (value, unit) = ctx.quantity(rate, "rate")?;
        let is_bolus = order.order_control == OrderControl::Bolus;
        if unit.is_dose() && is_bolus {
            let limit = limits.bolus.as_ref().ok_or_else(|| {
                ctx.units_error(
                    "bolus dose",
                    rate,
                    "a dose the library has a bolus limit for",
                )
            })?;
            ctx.compare("bolus dose", value, &unit, limit, &mut alerts)?;
        } else if unit.is_volume_rate() || unit.is_dose_rate() {
            let mut checked = false;
            // Compare directly where the library has a limit in the same dimension, and through
            // the concentration otherwise (or as well): a pump's DERS checks both.
            for (name, limit) in [("rate", &limits.rate), ("dose rate", &limits.dose_rate)] {
                let Some(limit) = limit else { continue };
                let direct = limit.unit.kind == unit.kind;
                let v = if direct {
                    value
                } else {
                    match ctx.through_concentration(value, &unit, &limit.unit) {
                        Some(v) => v?,
                        None => continue,
                    }
                };
                let converted_unit = if direct { unit } else { limit.unit };
                ctx.compare(name, v, &converted_unit, limit, &mut alerts)?;
                checked = true;
            }
            if !checked {
                return Err(ctx.units_error("rate", rate, "a rate the library has a limit for"));
            }
        } else {
            let expected = if is_bolus {
                "a bolus dose"
            } else {
                "a rate or dose rate"
            };
            return Err(ctx.units_error("rate", rate, expected));
        }
        Ok(alerts)
    }
}

/// What is known about one order while checking it.
struct OrderContext<'o> {
    drug: &'o str,
    area: &'o str,
    weight_kg: Option<f64>,
    /// Amount of drug per mL (canonical amount unit of `kind`), when strength and diluent are given.
    concentration: Option<(Kind, f64)>,
}

impl<'o> OrderContext<'o> {
    fn new(order: &'o InfusionOrder, drug: &'o str, area: &'o str) -> Result<Self, Violation> {
        let weight_kg = match &order.patient_weight {
            None => None,
            Some(w) => {
                let unit = units::resolve_coded(&w.units).map_err(|e| {
                    violation(format!("patient weight units: {e}"), piv::UNITS_MISMATCH)
                })?;
                if unit.kind != Kind::Weight {
                    return Err(violation(
                        "patient weight is not given in a unit of weight".into(),
                        piv::UNITS_MISMATCH,
                    ));
                }
                w.value.map(|v| v * unit.factor)
            }
        };
        let concentration = match (&order.strength, &order.diluent_volume) {
            (Some(s), Some(d)) => match (
                s.value,
                units::resolve_coded(&s.units),
                d.value,
                units::resolve_coded(&d.units),
            ) {
                (Some(sv), Ok(su), Some(dv), Ok(du))
                    if su.is_dose() && !su.per_kg && du.is_volume() && dv > 0.0 && sv > 0.0 =>
                {
                    Some((su.kind, sv * su.factor / (dv * du.factor)))
                }
                _ => None,
            },
            _ => None,
        };
        Ok(OrderContext {
            drug,
            area,
            weight_kg,
            concentration,
        })
    }

    fn quantity(&self, q: &Quantity, what: &str) -> Result<(f64, Unit), Violation> {
        let value = q.value.filter(|v| v.is_finite()).ok_or_else(|| Violation {
            reason: format!("{} {what} {:?} is not a number", self.drug, q.raw),
            hl7_error: hl7_error::DATA_TYPE,
            application_code: Some(piv::OUTSIDE_ALLOWABLE_RANGE),
        })?;
        let unit = units::resolve_coded(&q.units).map_err(|e| {
            violation(
                format!("{} {what} units: {e}", self.drug),
                piv::UNITS_MISMATCH,
            )
        })?;
        Ok((value, unit))
    }

    fn units_error(&self, what: &str, q: &Quantity, expected: &str) -> Violation {
        let given = [&q.units.identifier, &q.units.text, &q.units.alt_identifier]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default();
        violation(
            format!(
                "{} {what} is given in {given:?}, expected {expected}",
                self.drug
            ),
            piv::UNITS_MISMATCH,
        )
    }

    /// Convert a volume rate to a dose rate (or back) through the concentration.
    /// `None` when the order does not give a usable concentration of the right kind.
    fn through_concentration(
        &self,
        value: f64,
        unit: &Unit,
        target: &Unit,
    ) -> Option<Result<f64, Violation>> {
        let (kind, per_ml) = self.concentration?;
        let to_violation = |e: UnitError| {
            violation(
                format!(
                    "{} rate cannot be checked against the library: {e}",
                    self.drug
                ),
                piv::UNITS_MISMATCH,
            )
        };
        if unit.is_volume_rate() && target.is_dose_rate() && target.kind == kind {
            let ml_per_h = value * unit.factor;
            let amount = Unit {
                kind,
                per_kg: false,
                per_time: true,
                factor: 1.0,
            };
            Some(
                units::convert(ml_per_h * per_ml, &amount, target, self.weight_kg)
                    .map_err(to_violation),
            )
        } else if unit.is_dose_rate() && unit.kind == kind && target.is_volume_rate() {
            let amount = Unit {
                kind,
                per_kg: false,
                per_time: true,
                factor: 1.0,
            };
            let per_h = match units::convert(value, unit, &amount, self.weight_kg) {
                Ok(v) => v,
                Err(e) => return Some(Err(to_violation(e))),
            };
            Some(Ok(per_h / per_ml / target.factor))
        } else {
            None
        }
    }

    fn compare(
        &self,
        what: &str,
        value: f64,
        unit: &Unit,
        limit: &Limit,
        alerts: &mut Vec<String>,
    ) -> Result<(), Violation> {
        let v = units::convert(value, unit, &limit.unit, self.weight_kg).map_err(|e| {
            violation(
                format!(
                    "{} {what} cannot be compared with the library limit: {e}",
                    self.drug
                ),
                piv::UNITS_MISMATCH,
            )
        })?;
        // Text is built only when a limit is crossed: this runs for every order.
        let shown = || format_number(v);
        let u = &limit.unit_text;
        let area = self.area;
        if let Some(max) = limit.hard_max.filter(|m| v > *m) {
            return Err(violation(
                format!(
                    "{} {what} {} {u} is above the {area} hard maximum of {} {u}",
                    self.drug,
                    shown(),
                    format_number(max)
                ),
                piv::HARD_LIMIT_EXCEEDED,
            ));
        }
        if let Some(min) = limit.hard_min.filter(|m| v < *m) {
            return Err(violation(
                format!(
                    "{} {what} {} {u} is below the {area} hard minimum of {} {u}",
                    self.drug,
                    shown(),
                    format_number(min)
                ),
                piv::OUTSIDE_ALLOWABLE_RANGE,
            ));
        }
        if let Some(max) = limit.soft_max.filter(|m| v > *m) {
            alerts.push(format!(
                "{} {what} {} {u} is above the soft maximum of {} {u}",
                self.drug,
                shown(),
                format_number(max)
            ));
        }
        if let Some(min) = limit.soft_min.filter(|m| v < *m) {
            alerts.push(format!(
                "{} {what} {} {u} is below the soft minimum of {} {u}",
                self.drug,
                shown(),
                format_number(min)
            ));
        }
        Ok(())
    }
}

/// Numbers for people: at most four decimals, no trailing zeros.
fn format_number(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}
