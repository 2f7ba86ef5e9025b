//! Unit codes with their UCUM texts, and the fixed-point [`Quantity`] (docs/pump-protocol.md §5).

use core::fmt;

use crate::limits::MAX_QUANTITY_MILLI;

/// What a unit measures; each quantity field on the wire accepts only some kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// A volume (mL).
    Volume,
    /// A body weight (kg).
    Weight,
    /// An amount of drug (mg, ug, [iU], mmol, ...).
    Dose,
    /// An amount of drug per kg of body weight (mg/kg, ...).
    DosePerWeight,
    /// A volume per time (mL/h).
    FlowRate,
    /// An amount of drug per time, optionally per kg (ug/kg/min, [iU]/h, ...).
    DoseRate,
    /// An amount of drug per volume (mg/mL, ...).
    Concentration,
}

macro_rules! units {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $ucum:literal, $kind:ident, $per_kg:literal; )*) => {
        /// A unit of measure as coded on the wire (u16, docs/pump-protocol.md §5.2).
        ///
        /// Every code not in this table is reserved and refused by the parser.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Unit {
            $( $(#[$doc])* $name, )*
        }

        impl Unit {
            /// Every unit, in code order.
            pub const ALL: &'static [Unit] = &[$(Unit::$name),*];

            /// The unit for a wire code, `None` for a reserved code.
            pub const fn from_code(code: u16) -> Option<Unit> {
                match code {
                    $( $code => Some(Unit::$name), )*
                    _ => None,
                }
            }

            /// The wire code.
            pub const fn code(self) -> u16 {
                match self {
                    $( Unit::$name => $code, )*
                }
            }

            /// The UCUM text, as understood by the rules engine's unit conversion.
            pub const fn ucum(self) -> &'static str {
                match self {
                    $( Unit::$name => $ucum, )*
                }
            }

            /// What the unit measures.
            pub const fn kind(self) -> UnitKind {
                match self {
                    $( Unit::$name => UnitKind::$kind, )*
                }
            }

            /// True for weight-based units (`/kg`), which need a patient weight.
            pub const fn per_kg(self) -> bool {
                match self {
                    $( Unit::$name => $per_kg, )*
                }
            }
        }
    };
}

units! {
    /// Millilitre.
    Ml = 0x0001, "mL", Volume, false;
    /// Kilogram (patient weight).
    Kg = 0x0002, "kg", Weight, false;
    /// Gram.
    G = 0x0010, "g", Dose, false;
    /// Milligram.
    Mg = 0x0011, "mg", Dose, false;
    /// Microgram (mcg).
    Mcg = 0x0012, "ug", Dose, false;
    /// Nanogram.
    Ng = 0x0013, "ng", Dose, false;
    /// International unit (heparin, insulin). UCUM `U` is the enzyme unit, hence `[iU]`.
    Units = 0x0014, "[iU]", Dose, false;
    /// Milli-international unit (oxytocin).
    MilliUnits = 0x0015, "m[iU]", Dose, false;
    /// Millimole.
    Mmol = 0x0016, "mmol", Dose, false;
    /// Milliequivalent.
    MEq = 0x0017, "meq", Dose, false;
    /// Milligram per kg.
    MgPerKg = 0x0020, "mg/kg", DosePerWeight, true;
    /// Microgram per kg.
    McgPerKg = 0x0021, "ug/kg", DosePerWeight, true;
    /// International unit per kg.
    UnitsPerKg = 0x0022, "[iU]/kg", DosePerWeight, true;
    /// Millimole per kg.
    MmolPerKg = 0x0023, "mmol/kg", DosePerWeight, true;
    /// Milliequivalent per kg.
    MEqPerKg = 0x0024, "meq/kg", DosePerWeight, true;
    /// Millilitre per hour.
    MlPerH = 0x0030, "mL/h", FlowRate, false;
    /// Milligram per hour.
    MgPerH = 0x0040, "mg/h", DoseRate, false;
    /// Milligram per minute.
    MgPerMin = 0x0041, "mg/min", DoseRate, false;
    /// Microgram per hour.
    McgPerH = 0x0042, "ug/h", DoseRate, false;
    /// Microgram per minute.
    McgPerMin = 0x0043, "ug/min", DoseRate, false;
    /// International unit per hour.
    UnitsPerH = 0x0044, "[iU]/h", DoseRate, false;
    /// International unit per minute.
    UnitsPerMin = 0x0045, "[iU]/min", DoseRate, false;
    /// Milli-international unit per minute.
    MilliUnitsPerMin = 0x0046, "m[iU]/min", DoseRate, false;
    /// Millimole per hour.
    MmolPerH = 0x0047, "mmol/h", DoseRate, false;
    /// Milliequivalent per hour.
    MEqPerH = 0x0048, "meq/h", DoseRate, false;
    /// Gram per hour.
    GPerH = 0x0049, "g/h", DoseRate, false;
    /// Milligram per kg per hour.
    MgPerKgPerH = 0x0050, "mg/kg/h", DoseRate, true;
    /// Milligram per kg per minute.
    MgPerKgPerMin = 0x0051, "mg/kg/min", DoseRate, true;
    /// Microgram per kg per hour.
    McgPerKgPerH = 0x0052, "ug/kg/h", DoseRate, true;
    /// Microgram per kg per minute.
    McgPerKgPerMin = 0x0053, "ug/kg/min", DoseRate, true;
    /// Nanogram per kg per minute.
    NgPerKgPerMin = 0x0054, "ng/kg/min", DoseRate, true;
    /// International unit per kg per hour.
    UnitsPerKgPerH = 0x0055, "[iU]/kg/h", DoseRate, true;
    /// Milli-international unit per kg per minute.
    MilliUnitsPerKgPerMin = 0x0056, "m[iU]/kg/min", DoseRate, true;
    /// Millimole per kg per hour.
    MmolPerKgPerH = 0x0057, "mmol/kg/h", DoseRate, true;
    /// Milliequivalent per kg per hour.
    MEqPerKgPerH = 0x0058, "meq/kg/h", DoseRate, true;
    /// Milligram per millilitre.
    MgPerMl = 0x0060, "mg/mL", Concentration, false;
    /// Microgram per millilitre.
    McgPerMl = 0x0061, "ug/mL", Concentration, false;
    /// International unit per millilitre.
    UnitsPerMl = 0x0062, "[iU]/mL", Concentration, false;
    /// Millimole per millilitre.
    MmolPerMl = 0x0063, "mmol/mL", Concentration, false;
    /// Milliequivalent per millilitre.
    MEqPerMl = 0x0064, "meq/mL", Concentration, false;
    /// Milli-international unit per millilitre.
    MilliUnitsPerMl = 0x0065, "m[iU]/mL", Concentration, false;
    /// Nanogram per millilitre.
    NgPerMl = 0x0066, "ng/mL", Concentration, false;
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ucum())
    }
}

/// A non-negative fixed-point amount: thousandths of `unit`, at most [`MAX_QUANTITY_MILLI`].
///
/// The exact integer is kept; [`Quantity::value`] gives an `f64` for rule arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    milli: u32,
    unit: Unit,
}

/// A quantity outside the encodable range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quantity of {milli} thousandths exceeds the maximum of {MAX_QUANTITY_MILLI}")]
pub struct QuantityRangeError {
    /// The refused value in thousandths.
    pub milli: u32,
}

impl Quantity {
    /// Bytes of a quantity on the wire: u32 value in thousandths, u16 unit code.
    pub const WIRE_LEN: usize = 6;

    /// A quantity of `milli` thousandths of `unit`.
    pub const fn new(milli: u32, unit: Unit) -> Result<Quantity, QuantityRangeError> {
        if milli > MAX_QUANTITY_MILLI {
            return Err(QuantityRangeError { milli });
        }
        Ok(Quantity { milli, unit })
    }

    /// Zero of `unit`.
    pub const fn zero(unit: Unit) -> Quantity {
        Quantity { milli: 0, unit }
    }

    /// `milli` thousandths of `unit`, clamped to [`MAX_QUANTITY_MILLI`].
    pub const fn saturating(milli: u32, unit: Unit) -> Quantity {
        let milli = if milli > MAX_QUANTITY_MILLI {
            MAX_QUANTITY_MILLI
        } else {
            milli
        };
        Quantity { milli, unit }
    }

    /// The exact value in thousandths of the unit.
    pub const fn milli(self) -> u32 {
        self.milli
    }

    /// The unit.
    pub const fn unit(self) -> Unit {
        self.unit
    }

    /// The value in whole units, as a float for rule arithmetic (exact for every wire value).
    pub fn value(self) -> f64 {
        f64::from(self.milli) / 1000.0
    }

    /// The six wire bytes.
    pub fn to_bytes(self) -> [u8; Self::WIRE_LEN] {
        let m = self.milli.to_be_bytes();
        let u = self.unit.code().to_be_bytes();
        [m[0], m[1], m[2], m[3], u[0], u[1]]
    }
}

impl fmt::Display for Quantity {
    /// Exact decimal text without trailing zeros, then the UCUM unit: `12.5 mL/h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.milli / 1000;
        let frac = self.milli % 1000;
        if frac == 0 {
            write!(f, "{whole} {}", self.unit)
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{whole}.{} {}", digits.trim_end_matches('0'), self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for &u in Unit::ALL {
            assert_eq!(Unit::from_code(u.code()), Some(u));
            assert_eq!(Unit::ALL.iter().filter(|v| v.code() == u.code()).count(), 1);
            assert_eq!(Unit::ALL.iter().filter(|v| v.ucum() == u.ucum()).count(), 1);
            assert_eq!(u.per_kg(), u.ucum().contains("/kg"), "{u:?}");
        }
        assert_eq!(Unit::from_code(0), None);
        assert_eq!(Unit::from_code(0xFFFF), None);
    }

    #[test]
    fn display_is_exact() {
        let q = |m| Quantity::new(m, Unit::MlPerH).map(|q| q.to_string());
        assert_eq!(q(12_500).as_deref(), Ok("12.5 mL/h"));
        assert_eq!(q(5).as_deref(), Ok("0.005 mL/h"));
        assert_eq!(q(0).as_deref(), Ok("0 mL/h"));
        assert_eq!(
            Quantity::new(MAX_QUANTITY_MILLI + 1, Unit::Ml),
            Err(QuantityRangeError {
                milli: MAX_QUANTITY_MILLI + 1
            })
        );
        assert_eq!(
            Quantity::new(1_250, Unit::Mcg).map(Quantity::value),
            Ok(1.25)
        );
    }
}
