//! Units of measure for infusion parameters: UCUM strings, IEEE 11073 MDC mnemonics and codes.
//!
//! Every quantity is reduced to a canonical unit before it is compared: volume in mL, mass in mcg,
//! activity in units (U), substance in mmol, equivalents in mEq, optionally per kg of body weight and
//! optionally per hour. A value whose units cannot be resolved is never compared raw.

use std::fmt;

use wardgate_hl7::Coded;

use crate::units_table;

/// What a quantity counts (the numerator of its unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Volume, canonical mL.
    Volume,
    /// Mass, canonical mcg.
    Mass,
    /// Biological activity (heparin, insulin), canonical U (international units).
    Units,
    /// Amount of substance, canonical mmol.
    Mmol,
    /// Equivalents, canonical mEq.
    Meq,
    /// Body weight, canonical kg (only for patient weight).
    Weight,
}

impl Kind {
    fn canonical(self) -> &'static str {
        match self {
            Kind::Volume => "mL",
            Kind::Mass => "mcg",
            Kind::Units => "U",
            Kind::Mmol => "mmol",
            Kind::Meq => "mEq",
            Kind::Weight => "kg",
        }
    }
}

/// A resolved unit: what it counts, whether it is per kg and per time, and its scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// What the unit counts.
    pub kind: Kind,
    /// Per kilogram of patient weight.
    pub per_kg: bool,
    /// Per unit of time (a rate).
    pub per_time: bool,
    /// Multiply a value in this unit by `factor` to get the canonical unit (per hour for rates).
    pub factor: f64,
}

impl Unit {
    /// Whether the unit describes a flow of volume (mL/h and friends).
    pub fn is_volume_rate(&self) -> bool {
        self.kind == Kind::Volume && self.per_time && !self.per_kg
    }

    /// Whether the unit describes a dose per time (mcg/kg/min, U/h, mg/h, ...).
    pub fn is_dose_rate(&self) -> bool {
        self.per_time && matches!(self.kind, Kind::Mass | Kind::Units | Kind::Mmol | Kind::Meq)
    }

    /// Whether the unit describes a dose amount (mg, U, U/kg).
    pub fn is_dose(&self) -> bool {
        !self.per_time && matches!(self.kind, Kind::Mass | Kind::Units | Kind::Mmol | Kind::Meq)
    }

    /// Whether the unit is a plain volume (mL, L).
    pub fn is_volume(&self) -> bool {
        self.kind == Kind::Volume && !self.per_time && !self.per_kg
    }

    fn same_as(&self, other: &Unit) -> bool {
        self.kind == other.kind
            && self.per_kg == other.per_kg
            && self.per_time == other.per_time
            && (self.factor - other.factor).abs() <= 1e-9 * self.factor.abs().max(1.0)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.canonical())?;
        if self.per_kg {
            f.write_str("/kg")?;
        }
        if self.per_time {
            f.write_str("/h")?;
        }
        if (self.factor - 1.0).abs() > f64::EPSILON {
            write!(f, " (x{})", self.factor)?;
        }
        Ok(())
    }
}

/// Why a unit could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The unit text is not one wardgate knows.
    #[error("unknown unit {0:?}")]
    Unknown(String),
    /// The coded units name two different units in their two triplets.
    #[error("the units field names two different units ({0} and {1})")]
    Conflict(String, String),
    /// No unit was given at all.
    #[error("no units given")]
    Missing,
    /// The two units measure different things (a dose in a rate field, say).
    #[error("{from} cannot be converted to {to}")]
    Incompatible {
        /// The unit of the value.
        from: String,
        /// The unit of the limit.
        to: String,
    },
    /// A per-kg conversion needs the patient's weight, and the message has none (or an absurd one).
    #[error("converting between per-kg and absolute doses needs a plausible patient weight")]
    NeedsWeight,
}

/// Largest body weight accepted for per-kg conversions; anything heavier is a data error.
pub const MAX_PLAUSIBLE_WEIGHT_KG: f64 = 650.0;

fn numerator(token: &str) -> Option<(Kind, f64)> {
    // An explicit table, matched ignoring ASCII case: no generic SI-prefix parsing, so `Mg`
    // (megagram in strict UCUM) can never silently scale a dose by 10^9.
    const TABLE: &[(&str, Kind, f64)] = &[
        ("ml", Kind::Volume, 1.0),
        ("l", Kind::Volume, 1000.0),
        ("ul", Kind::Volume, 0.001),
        ("µl", Kind::Volume, 0.001),
        ("mcl", Kind::Volume, 0.001),
        ("cc", Kind::Volume, 1.0),
        ("g", Kind::Mass, 1e6),
        ("mg", Kind::Mass, 1e3),
        ("ug", Kind::Mass, 1.0),
        ("µg", Kind::Mass, 1.0),
        ("mcg", Kind::Mass, 1.0),
        ("ng", Kind::Mass, 1e-3),
        ("u", Kind::Units, 1.0),
        ("[iu]", Kind::Units, 1.0),
        ("[u]", Kind::Units, 1.0),
        ("iu", Kind::Units, 1.0),
        ("unit", Kind::Units, 1.0),
        ("units", Kind::Units, 1.0),
        ("ku", Kind::Units, 1e3),
        ("k[iu]", Kind::Units, 1e3),
        ("mu", Kind::Units, 1e-3),
        ("m[iu]", Kind::Units, 1e-3),
        ("milliunits", Kind::Units, 1e-3),
        ("mmol", Kind::Mmol, 1.0),
        ("mol", Kind::Mmol, 1e3),
        ("meq", Kind::Meq, 1.0),
        ("meq.", Kind::Meq, 1.0),
        ("kg", Kind::Weight, 1.0),
        ("[lb_av]", Kind::Weight, 0.453_592_37),
        ("lb", Kind::Weight, 0.453_592_37),
    ];
    TABLE
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(token))
        .map(|&(_, kind, factor)| (kind, factor))
}

/// Per-time denominators, as the factor that turns "per X" into "per hour".
fn per_time(token: &str) -> Option<f64> {
    const TABLE: &[(&str, f64)] = &[
        ("h", 1.0),
        ("hr", 1.0),
        ("hour", 1.0),
        ("min", 60.0),
        ("s", 3600.0),
        ("sec", 3600.0),
        ("d", 1.0 / 24.0),
        ("day", 1.0 / 24.0),
    ];
    TABLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(token))
        .map(|&(_, f)| f)
}

/// `str::trim`, without its Unicode scan when both ends are plain ASCII (units are parsed for
/// every value of every order).
fn trim(text: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii() && !b.is_ascii_whitespace());
    let bytes = text.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

/// `text.split("_PER_")` without building a substring searcher per call.
fn split_per(text: &str) -> impl Iterator<Item = &str> {
    const SEP: &[u8] = b"_PER_";
    let mut rest = Some(text);
    core::iter::from_fn(move || {
        let current = rest?;
        match current.as_bytes().windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                // `_PER_` is ASCII, so both sides are on character boundaries.
                rest = current.get(i + SEP.len()..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Parse a UCUM-style unit such as `mL/h`, `ug/kg/min`, `U/kg/h`, `[iU]/h`, `mg`.
pub fn parse_ucum(text: &str) -> Result<Unit, UnitError> {
    let text = trim(text);
    if text.is_empty() {
        return Err(UnitError::Missing);
    }
    let unknown = || UnitError::Unknown(text.to_owned());
    let mut parts = text.split('/');
    let (kind, mut factor) = parts.next().and_then(numerator).ok_or_else(unknown)?;
    let mut per_kg = false;
    let mut time = false;
    for part in parts {
        if part.eq_ignore_ascii_case("kg") && !per_kg && kind != Kind::Weight {
            per_kg = true;
        } else if let Some(f) = per_time(part).filter(|_| !time && kind != Kind::Weight) {
            time = true;
            factor *= f;
        } else {
            return Err(unknown());
        }
    }
    Ok(Unit {
        kind,
        per_kg,
        per_time: time,
        factor,
    })
}

/// Parse an IEEE 11073-10101 mnemonic such as `MDC_DIM_MILLI_L_PER_HR`.
pub fn parse_mdc_mnemonic(text: &str) -> Result<Unit, UnitError> {
    let unknown = || UnitError::Unknown(text.to_owned());
    let rest = trim(text).strip_prefix("MDC_DIM_").ok_or_else(unknown)?;
    let mut parts = split_per(rest);
    let head = parts.next().ok_or_else(unknown)?;
    let (prefix, base) = match head.split_once('_') {
        Some((p, b)) if mdc_prefix(p).is_some() => (mdc_prefix(p).unwrap_or(1.0), b),
        _ => (1.0, head),
    };
    let (kind, base_factor) = match base {
        "L" => (Kind::Volume, 1000.0),
        "G" => (Kind::Mass, 1e6),
        "INTL_UNIT" | "UNIT" => (Kind::Units, 1.0),
        "MOLE" => (Kind::Mmol, 1000.0),
        "EQUIV" => (Kind::Meq, 1000.0),
        _ => return Err(unknown()),
    };
    let mut unit = Unit {
        kind,
        per_kg: false,
        per_time: false,
        factor: prefix * base_factor,
    };
    if unit.kind == Kind::Mass && (unit.factor - 1e9).abs() < 1.0 {
        // MDC_DIM_KILO_G is a body weight, not a 10^9 mcg dose.
        unit = Unit {
            kind: Kind::Weight,
            factor: 1.0,
            ..unit
        };
    }
    for part in parts {
        match part {
            "KG" | "KILO_G" if !unit.per_kg && unit.kind != Kind::Weight => unit.per_kg = true,
            "HR" | "MIN" | "SEC" | "DAY" if !unit.per_time && unit.kind != Kind::Weight => {
                unit.per_time = true;
                unit.factor *= match part {
                    "HR" => 1.0,
                    "MIN" => 60.0,
                    "SEC" => 3600.0,
                    _ => 1.0 / 24.0,
                };
            }
            _ => return Err(unknown()),
        }
    }
    Ok(unit)
}

fn mdc_prefix(p: &str) -> Option<f64> {
    Some(match p {
        "X" => 1.0,
        "KILO" => 1e3,
        "DECI" => 1e-1,
        "CENTI" => 1e-2,
        "MILLI" => 1e-3,
        "MICRO" => 1e-6,
        "NANO" => 1e-9,
        _ => return None,
    })
}

/// Resolve a numeric MDC unit code (partition 4). Term codes put the SI prefix in the low five bits
/// (ISO/IEEE 11073-10101 §A.6), so a base unit is known once its unprefixed code is.
pub fn parse_mdc_code(text: &str) -> Result<Unit, UnitError> {
    let unknown = || UnitError::Unknown(text.to_owned());
    let code: u32 = trim(text).parse().map_err(|_| unknown())?;
    let term = code.checked_sub(4 << 16).ok_or_else(unknown)?;
    let prefix = match term & 0x1F {
        0 => 1.0,
        3 => 1e3,
        0x12 => 1e-3,
        0x13 => 1e-6,
        0x14 => 1e-9,
        _ => return Err(unknown()),
    };
    // The unprefixed base units (factor to canonical mL, mcg; per hour).
    let base = |kind, per_kg, per_time, factor| Unit {
        kind,
        per_kg,
        per_time,
        factor,
    };
    let mut unit = match term & !0x1F {
        1600 => base(Kind::Volume, false, false, 1000.0), // MDC_DIM_X_L
        1728 => base(Kind::Mass, false, false, 1e6),      // MDC_DIM_X_G
        3104 => base(Kind::Volume, false, true, 1000.0),  // MDC_DIM_X_L_PER_HR
        3456 => base(Kind::Mass, true, true, 1e6 * 60.0), // MDC_DIM_X_G_PER_KG_PER_MIN
        _ => return Err(unknown()),
    };
    if unit.kind == Kind::Mass && prefix == 1e3 && !unit.per_time && !unit.per_kg {
        return Ok(Unit {
            kind: Kind::Weight,
            per_kg: false,
            per_time: false,
            factor: 1.0,
        });
    }
    unit.factor *= prefix;
    Ok(unit)
}

pub(crate) fn parse_in_system(value: &str, system: &str) -> Option<Result<Unit, UnitError>> {
    let trimmed = trim(value);
    if trimmed.is_empty() {
        return None;
    }
    // Only untrimmed text is looked up: outside MDC a leading space makes `MDC_DIM_...` UCUM.
    if trimmed.len() == value.len() {
        if let Some(unit) = units_table::spelling(trimmed, system.eq_ignore_ascii_case("MDC")) {
            return Some(Ok(unit));
        }
    }
    parse_spelling(value, trimmed, system)
}

/// [`parse_in_system`] without the table: `trimmed` is `value` trimmed.
pub(crate) fn parse_spelling(
    value: &str,
    trimmed: &str,
    system: &str,
) -> Option<Result<Unit, UnitError>> {
    if trimmed.is_empty() {
        return None;
    }
    let res = if system.eq_ignore_ascii_case("MDC") {
        if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            parse_mdc_code(value)
        } else {
            parse_mdc_mnemonic(value)
        }
    } else if value.starts_with("MDC_DIM_") {
        parse_mdc_mnemonic(value)
    } else {
        parse_ucum(value)
    };
    Some(res)
}

/// Resolve an HL7 CWE units field (either triplet may be MDC or UCUM, in either order).
///
/// Every component that resolves must agree: an attacker cannot hide `mL/min` behind a display
/// text that says `mL/h`. Components that do not resolve (free text) are ignored as long as one does.
pub fn resolve_coded(units: &Coded<'_>) -> Result<Unit, UnitError> {
    // The field as sent, looked up whole: one hash instead of one per component.
    if let Some(unit) = units.plain().and_then(units_table::plain_field) {
        return Ok(unit);
    }
    let fields = units.components();
    match units_table::field(&fields) {
        Some(unit) => Ok(unit),
        None => resolve_components(fields),
    }
}

/// [`resolve_coded`] of a quantity's units: the field as sent is looked up whole first, so
/// the common case never splits or decodes it.
pub fn resolve_quantity(q: &wardgate_hl7::Quantity<'_>) -> Result<Unit, UnitError> {
    match q.units_plain().and_then(units_table::plain_field) {
        Some(unit) => Ok(unit),
        None => resolve_coded(&q.units()),
    }
}

/// [`resolve_coded`] on components 1-6, without the table of common fields.
pub(crate) fn resolve_components(
    [id, text, system, alt_id, alt_text, alt_system]: [&str; 6],
) -> Result<Unit, UnitError> {
    let candidates = [
        (id, system),
        (text, system),
        (alt_id, alt_system),
        (alt_text, alt_system),
    ];
    let mut found: Option<(Unit, &str)> = None;
    let mut first_error = None;
    let mut any = false;
    for (i, (value, system)) in candidates.iter().enumerate() {
        // `mL/h^mL/h^UCUM` names the same unit twice: parse it once.
        if candidates
            .get(..i)
            .is_some_and(|prev| prev.iter().any(|(v, s)| v == value && s == system))
        {
            continue;
        }
        let Some(res) = parse_in_system(value, system) else {
            continue;
        };
        any = true;
        match res {
            Ok(unit) => match &found {
                Some((prev, prev_text)) if !prev.same_as(&unit) => {
                    return Err(UnitError::Conflict(
                        (*prev_text).to_owned(),
                        value.to_string(),
                    ));
                }
                Some(_) => {}
                None => found = Some((unit, *value)),
            },
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (found, first_error, any) {
        (Some((unit, _)), _, _) => Ok(unit),
        (None, Some(e), _) => Err(e),
        _ => Err(UnitError::Missing),
    }
}

/// Convert `value` from one unit to another, using the patient weight for per-kg conversions.
pub fn convert(
    value: f64,
    from: &Unit,
    to: &Unit,
    weight_kg: Option<f64>,
) -> Result<f64, UnitError> {
    if from.kind != to.kind || from.per_time != to.per_time {
        return Err(UnitError::Incompatible {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    let mut canonical = value * from.factor;
    if from.per_kg != to.per_kg {
        let weight = weight_kg
            .filter(|w| w.is_finite() && *w > 0.0 && *w <= MAX_PLAUSIBLE_WEIGHT_KG)
            .ok_or(UnitError::NeedsWeight)?;
        if from.per_kg {
            canonical *= weight;
        } else {
            canonical /= weight;
        }
    }
    Ok(canonical / to.factor)
}

#[cfg(test)]
mod tests;
