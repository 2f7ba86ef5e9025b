//! The drug library: per drug and care area, hard and soft limits, checked the way a pump's
//! dose error reduction software would check them.

use std::borrow::Cow;

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
    /// The limits hold under break-glass too (`never_override = true`).
    pub never_override: bool,
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

/// Which order field a value came from; decides which limits it is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Volume to be infused: a volume.
    Vtbi,
    /// A rate field: a volume rate or a dose rate (or, for a bolus order, a dose).
    Rate,
    /// A bolus dose.
    Bolus,
}

/// One value of an order, with its units already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Given<'o> {
    /// Where it came from.
    pub slot: Slot,
    /// The number.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// The units as the sender wrote them, for messages (borrowed: only a refusal formats it).
    pub written: Cow<'o, str>,
}

/// A dose order reduced to what the drug library checks, whichever protocol carried it
/// (an HL7 PCD-03 order group, a pump PROGRAM-INFUSION, CHANGE-RATE or BOLUS).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DoseOrder<'o> {
    /// Drug identifiers (primary and alternate; empty strings are ignored).
    pub codes: [&'o str; 2],
    /// Drug names (primary and alternate; empty strings are ignored).
    pub names: [&'o str; 2],
    /// Care area (PV1-3.1 or the pump's CARE-AREA).
    pub care_area: &'o str,
    /// A bolus order: a dose in the rate field is a bolus dose.
    pub bolus: bool,
    /// The values to check.
    pub given: Vec<Given<'o>>,
    /// Patient weight in kg, if known.
    pub weight_kg: Option<f64>,
    /// Amount of drug per mL (canonical unit of the kind), if known.
    pub concentration: Option<(Kind, f64)>,
}

impl<'o> DoseOrder<'o> {
    fn label(&self) -> &'o str {
        label_of(&self.codes, &self.names)
    }
}

/// How messages name a drug: its first name, else its first code.
fn label_of<'o>(codes: &[&'o str; 2], names: &[&'o str; 2]) -> &'o str {
    names
        .iter()
        .chain(codes.iter())
        .find(|s| !s.is_empty())
        .copied()
        .unwrap_or("(unnamed drug)")
}

/// The units of `q` as the sender wrote them: its first non-empty identifier, text or
/// alternate identifier. Borrowed from the message unless they had escapes to decode.
fn written<'o>(q: &Quantity<'o>) -> Cow<'o, str> {
    if let Some(plain) = q.units_plain() {
        // Components 1, 2 and 4, split by hand (a `str::split` costs more to set up than
        // these few bytes take to scan; usually component 1 is the answer).
        let mut rest = Some(plain);
        let mut next = || {
            let current = rest?;
            match current.bytes().position(|b| b == b'^') {
                Some(i) => {
                    rest = current.get(i + 1..);
                    current.get(..i)
                }
                None => rest.take(),
            }
        };
        for component in 1..=4 {
            match next() {
                Some(c) if component != 3 && !c.is_empty() => return Cow::Borrowed(c),
                Some(_) => {}
                None => break,
            }
        }
        return Cow::Borrowed("");
    }
    let units = q.units();
    [&units.identifier, &units.text, &units.alt_identifier]
        .into_iter()
        .find(|s| !s.is_empty())
        .map_or(Cow::Borrowed(""), |s| Cow::Owned(s.to_string()))
}

fn resolve<'o>(
    q: &'o Quantity<'o>,
    drug: &str,
    slot: Slot,
    what: &str,
) -> Result<Given<'o>, Violation> {
    let value = q.value.filter(|v| v.is_finite()).ok_or_else(|| Violation {
        reason: format!("{drug} {what} {:?} is not a number", q.raw),
        hl7_error: hl7_error::DATA_TYPE,
        application_code: Some(piv::OUTSIDE_ALLOWABLE_RANGE),
    })?;
    let unit = units::resolve_quantity(q)
        .map_err(|e| violation(format!("{drug} {what} units: {e}"), piv::UNITS_MISMATCH))?;
    Ok(Given {
        slot,
        value,
        unit,
        written: written(q),
    })
}

impl<'o> DoseOrder<'o> {
    /// The dose order of one PCD-03 order group (an HL7-specific check first: exactly one pump).
    pub fn from_pcd03(
        order: &'o InfusionOrder<'o>,
        care_area: Option<&'o str>,
    ) -> Result<Self, Violation> {
        let mut out = DoseOrder {
            codes: [&order.drug.identifier, &order.drug.alt_identifier],
            names: [&order.drug.text, &order.drug.alt_text],
            care_area: care_area.unwrap_or(""),
            bolus: order.order_control == OrderControl::Bolus,
            // VTBI and rate: one allocation, no regrowth.
            given: Vec::with_capacity(2),
            ..DoseOrder::default()
        };
        let label = out.label();
        if order.pump_id_rows != 1 || order.pump_id.as_deref().is_none_or(str::is_empty) {
            return Err(Violation {
                reason: format!(
                    "order for {label} must name exactly one pump (OBX 69986 with OBX-18), it has {}",
                    order.pump_id_rows
                ),
                hl7_error: hl7_error::REQUIRED_FIELD_MISSING,
                application_code: None,
            });
        }
        if let Some(w) = &order.patient_weight {
            let unit = units::resolve_quantity(w).map_err(|e| {
                violation(format!("patient weight units: {e}"), piv::UNITS_MISMATCH)
            })?;
            if unit.kind != Kind::Weight {
                return Err(violation(
                    "patient weight is not given in a unit of weight".into(),
                    piv::UNITS_MISMATCH,
                ));
            }
            out.weight_kg = w.value.map(|v| v * unit.factor);
        }
        if let (Some(s), Some(d)) = (&order.strength, &order.diluent_volume) {
            if let (Some(sv), Ok(su), Some(dv), Ok(du)) = (
                s.value,
                units::resolve_quantity(s),
                d.value,
                units::resolve_quantity(d),
            ) {
                if su.is_dose() && !su.per_kg && du.is_volume() && dv > 0.0 && sv > 0.0 {
                    out.concentration = Some((su.kind, sv * su.factor / (dv * du.factor)));
                }
            }
        }
        if let Some(vtbi) = &order.vtbi {
            out.given.push(resolve(vtbi, label, Slot::Vtbi, "VTBI")?);
        }
        let Some(rate) = &order.rate else {
            return Err(Violation {
                reason: format!("order for {label} gives no rate or dose (RXG-15)"),
                hl7_error: hl7_error::REQUIRED_FIELD_MISSING,
                application_code: None,
            });
        };
        out.given.push(resolve(rate, label, Slot::Rate, "rate")?);
        Ok(out)
    }
}

impl DrugLibrary {
    /// Find a drug by code (identifier or alternate identifier) or name (ignoring case).
    pub fn find_drug(&self, codes: &[&str; 2], names: &[&str; 2]) -> Option<&Drug> {
        let code_match = |d: &&Drug| {
            d.codes
                .iter()
                .any(|c| codes.iter().any(|o| !o.is_empty() && c == o))
        };
        let name_match = |d: &&Drug| {
            d.names.iter().any(|n| {
                names
                    .iter()
                    .any(|o| !o.is_empty() && n.eq_ignore_ascii_case(o))
            })
        };
        self.drugs
            .iter()
            .find(code_match)
            .or_else(|| self.drugs.iter().find(name_match))
    }

    /// Check one PCD-03 order group. `Ok` carries soft-limit alerts.
    pub fn check(
        &self,
        order: &InfusionOrder<'_>,
        care_area: Option<&str>,
    ) -> Result<Vec<String>, Violation> {
        self.check_dose(&DoseOrder::from_pcd03(order, care_area)?)
    }

    /// Check a dose order from any protocol. `Ok` carries soft-limit alerts.
    pub fn check_dose(&self, order: &DoseOrder<'_>) -> Result<Vec<String>, Violation> {
        let Some(drug) = self.find_drug(&order.codes, &order.names) else {
            let label = order.label();
            return match self.unknown_drug.unwrap_or(Action::Deny) {
                Action::Allow => Ok(vec![format!("{label} is not in the drug library")]),
                Action::Deny => Err(violation(
                    format!("{label} is not in the drug library"),
                    piv::NOT_IN_DRUG_LIBRARY,
                )),
            };
        };
        let area = order.care_area;
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
        let ctx = OrderContext {
            drug: &drug.id,
            area,
            weight_kg: order.weight_kg,
            concentration: order.concentration,
        };
        let mut alerts = Vec::new();
        // VTBI first, then rates and doses: the order of the checks fixes which reason is given.
        let vtbi = order.given.iter().filter(|g| g.slot == Slot::Vtbi);
        for g in vtbi.chain(order.given.iter().filter(|g| g.slot != Slot::Vtbi)) {
            ctx.check(g, order.bolus, limits, &mut alerts)?;
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

impl OrderContext<'_> {
    fn check(
        &self,
        g: &Given<'_>,
        bolus: bool,
        limits: &CareAreaLimits,
        alerts: &mut Vec<String>,
    ) -> Result<(), Violation> {
        let unit = g.unit;
        match g.slot {
            Slot::Vtbi => {
                if !unit.is_volume() {
                    return Err(self.units_error("VTBI", g, "a volume"));
                }
                if let Some(limit) = &limits.vtbi {
                    self.compare("VTBI", g.value, &unit, limit, alerts)?;
                }
                Ok(())
            }
            Slot::Bolus | Slot::Rate if unit.is_dose() && (bolus || g.slot == Slot::Bolus) => {
                let limit = limits.bolus.as_ref().ok_or_else(|| {
                    self.units_error("bolus dose", g, "a dose the library has a bolus limit for")
                })?;
                self.compare("bolus dose", g.value, &unit, limit, alerts)
            }
            Slot::Rate if unit.is_volume_rate() || unit.is_dose_rate() => {
                let mut checked = false;
                // Compare directly where the library has a limit in the same dimension, and
                // through the concentration otherwise (or as well): a pump's DERS checks both.
                for (name, limit) in [("rate", &limits.rate), ("dose rate", &limits.dose_rate)] {
                    let Some(limit) = limit else { continue };
                    let direct = limit.unit.kind == unit.kind;
                    let v = if direct {
                        g.value
                    } else {
                        match self.through_concentration(g.value, &unit, &limit.unit) {
                            Some(v) => v?,
                            None => continue,
                        }
                    };
                    let converted_unit = if direct { unit } else { limit.unit };
                    self.compare(name, v, &converted_unit, limit, alerts)?;
                    checked = true;
                }
                if checked {
                    Ok(())
                } else {
                    Err(self.units_error("rate", g, "a rate the library has a limit for"))
                }
            }
            Slot::Bolus => Err(self.units_error("bolus dose", g, "a bolus dose")),
            Slot::Rate => {
                let expected = if bolus {
                    "a bolus dose"
                } else {
                    "a rate or dose rate"
                };
                Err(self.units_error("rate", g, expected))
            }
        }
    }

    fn units_error(&self, what: &str, g: &Given<'_>, expected: &str) -> Violation {
        violation(
            format!(
                "{} {what} is given in {:?}, expected {expected}",
                self.drug, g.written
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
