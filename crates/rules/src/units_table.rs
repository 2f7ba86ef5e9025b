//! Fixed tables of the unit spellings nearly every PCD-03 order carries, resolved once by the
//! parsers in [`crate::units`] themselves (so a table can never disagree with them).
//!
//! Every order has four or five units fields, each with up to four spellings to parse and
//! compare; looking a whole field up costs one hash. The tables are built once and never
//! written again, so no sender can grow them, and anything not in them is parsed as before.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::LazyLock;

use crate::units::{Unit, parse_spelling, resolve_components};

/// Unit codes and mnemonics (coding system MDC) that nearly every PCD-03 order carries.
const COMMON_MDC: &[&str] = &[
    "263762",
    "MDC_DIM_MILLI_L",
    "265266",
    "MDC_DIM_MILLI_L_PER_HR",
    "MDC_DIM_MILLI_L_PER_MIN",
    "263875",
    "MDC_DIM_KILO_G",
    "265619",
    "MDC_DIM_MICRO_G_PER_KG_PER_MIN",
    "MDC_DIM_MICRO_G_PER_MIN",
    "MDC_DIM_MILLI_G_PER_HR",
    "MDC_DIM_X_INTL_UNIT",
    "MDC_DIM_X_INTL_UNIT_PER_HR",
    "MDC_DIM_X_INTL_UNIT_PER_KG_PER_HR",
];

/// UCUM spellings (any other coding system) that nearly every PCD-03 order carries.
const COMMON_UCUM: &[&str] = &[
    "mL",
    "mL/h",
    "mL/min",
    "L",
    "kg",
    "g",
    "mg",
    "mg/h",
    "mg/kg/h",
    "mg/min",
    "ug",
    "mcg",
    "ug/min",
    "mcg/min",
    "ug/kg/min",
    "mcg/kg/min",
    "ug/kg/h",
    "mcg/kg/h",
    "U",
    "U/h",
    "U/kg",
    "U/kg/h",
    "U/min",
    "[iU]",
    "[iU]/h",
    "mmol",
    "mmol/h",
    "mEq",
    "mEq/h",
];

/// A word-at-a-time multiplicative hash (FxHash's mixing step): SipHash costs as much as a
/// parse on these short keys, and a table no sender can insert into needs no protection from
/// chosen collisions (a crafted key only walks a probe sequence bounded by the fixed table).
#[derive(Default)]
struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            // Byte by byte: a variable-length copy would call memcpy.
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b));
            self.add(word);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Table<K> = HashMap<K, Unit, BuildHasherDefault<WordHasher>>;

/// Single spellings: index 0 for coding system MDC, 1 for any other.
static SPELLINGS: LazyLock<[Table<&'static str>; 2]> = LazyLock::new(|| {
    let table = |spellings: &[&'static str], system: &str| {
        spellings
            .iter()
            .filter_map(|&s| Some((s, parse_spelling(s, s, system)?.ok()?)))
            .collect()
    };
    [table(COMMON_MDC, "MDC"), table(COMMON_UCUM, "UCUM")]
});

/// A whole units field (components 1-6) as a table key. Only the two identifiers are hashed
/// (the fields of the table differ in them nearly always); equality compares all six. This
/// lookup runs for every units field of every order.
#[derive(PartialEq, Eq)]
struct FieldKey<'a>([&'a str; 6]);

impl Hash for FieldKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [id, _, _, alt_id, _, _] = self.0;
        state.write(id.as_bytes());
        state.write_u8(0xFF);
        state.write(alt_id.as_bytes());
    }
}

/// Whole units fields (components 1-6): an MDC code with its mnemonic and a UCUM spelling of
/// the same unit, in either order, and either triplet alone, as PCD-03 senders write them.
static FIELDS: LazyLock<Table<FieldKey<'static>>> = LazyLock::new(|| {
    let (codes, mnemonics): (Vec<&str>, Vec<&str>) = COMMON_MDC
        .iter()
        .partition(|s| s.bytes().all(|b| b.is_ascii_digit()));
    let mut fields = Vec::new();
    for &u in COMMON_UCUM {
        fields.push([u, u, "UCUM", "", "", ""]);
    }
    for &code in &codes {
        for &mnemonic in &mnemonics {
            fields.push([code, mnemonic, "MDC", "", "", ""]);
            for &u in COMMON_UCUM {
                fields.push([code, mnemonic, "MDC", u, u, "UCUM"]);
                fields.push([u, u, "UCUM", code, mnemonic, "MDC"]);
            }
        }
    }
    // Only what resolves: a pairing that conflicts is refused by parsing, with its reason.
    fields
        .into_iter()
        .filter_map(|f| Some((FieldKey(f), resolve_components(f).ok()?)))
        .collect()
});

/// [`FIELDS`] keyed by the field as sent: components 1-6 joined with `^`, trailing empty
/// components left out (the table's components hold no `^`, so the text splits back into
/// exactly them).
static PLAIN_FIELDS: LazyLock<Table<String>> = LazyLock::new(|| {
    FIELDS
        .iter()
        .map(|(key, unit)| {
            let used = key
                .0
                .iter()
                .rposition(|c| !c.is_empty())
                .map_or(0, |i| i + 1);
            (key.0.get(..used).unwrap_or_default().join("^"), *unit)
        })
        .collect()
});

/// A common whole units field given as its plain text (see [`wardgate_hl7::Coded::plain`]),
/// resolved.
pub(crate) fn plain_field(plain: &str) -> Option<Unit> {
    PLAIN_FIELDS.get(plain).copied()
}

/// A common spelling (already trimmed) in coding system MDC or another, resolved.
pub(crate) fn spelling(trimmed: &str, mdc: bool) -> Option<Unit> {
    SPELLINGS.get(usize::from(!mdc))?.get(trimmed).copied()
}

/// A common whole units field (components 1-6), resolved.
pub(crate) fn field(components: &[&str; 6]) -> Option<Unit> {
    let table: &Table<FieldKey<'_>> = &FIELDS;
    table.get(&FieldKey(*components)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{UnitError, parse_in_system};

    #[test]
    fn common_table_is_the_parsers_own_answer() {
        // Every listed spelling resolves, and the table answers exactly what parsing would.
        let [mdc, other] = &*SPELLINGS;
        assert_eq!(mdc.len(), COMMON_MDC.len());
        assert_eq!(other.len(), COMMON_UCUM.len());
        for (spellings, system) in [
            (COMMON_MDC, "MDC"),
            (COMMON_UCUM, "UCUM"),
            (COMMON_UCUM, ""),
        ] {
            for &s in spellings {
                let parsed = parse_spelling(s, s, system).unwrap();
                assert_eq!(
                    parse_in_system(s, system).unwrap(),
                    parsed,
                    "{s} in {system:?}"
                );
                assert!(parsed.is_ok(), "{s} in {system:?}");
            }
        }
        // A UCUM spelling under MDC, or an MDC code under UCUM, is still refused.
        assert!(parse_in_system("mL/h", "MDC").unwrap().is_err());
        assert!(parse_in_system("265266", "UCUM").unwrap().is_err());
        // Outside MDC a leading space makes a mnemonic UCUM text: refused, as before.
        assert!(matches!(
            parse_in_system(" MDC_DIM_MILLI_L", "UCUM"),
            Some(Err(UnitError::Unknown(_)))
        ));
        assert!(
            parse_in_system(" mL/h ", "UCUM")
                .unwrap()
                .unwrap()
                .is_volume_rate()
        );
    }

    #[test]
    fn hostile_units_resolve_as_parsed_and_never_grow_the_table() {
        // Thousands of distinct spellings a sender might invent: each gets the parser's
        // answer, and the fixed table stays the size it was built with.
        let before = SPELLINGS.iter().map(HashMap::len).sum::<usize>();
        let stems = [
            "mL",
            "U",
            "MDC_DIM_MILLI_L",
            "2652",
            "mcg/kg",
            "[iU]",
            "MDC_DIM_X_G",
        ];
        let tails = [
            "",
            "/h",
            "/min",
            "_PER_HR",
            "/kg/h",
            "66",
            " ",
            "/hh",
            "_PER_KG_PER_MIN",
        ];
        let mut seen = 0;
        for i in 0..4000u32 {
            let stem = stems[i as usize % stems.len()];
            let tail = tails[(i as usize / stems.len()) % tails.len()];
            let text = format!(
                "{stem}{tail}{}",
                if i % 3 == 0 {
                    String::new()
                } else {
                    i.to_string()
                }
            );
            for system in ["MDC", "UCUM", "mdc", "99X"] {
                let trimmed = text.trim();
                assert_eq!(
                    parse_in_system(&text, system),
                    parse_spelling(&text, trimmed, system),
                    "{text:?} in {system}"
                );
                seen += 1;
            }
        }
        assert_eq!(seen, 16_000);
        assert_eq!(SPELLINGS.iter().map(HashMap::len).sum::<usize>(), before);
    }

    #[test]
    fn common_fields_are_what_resolving_them_gives() {
        // Built from resolving each field, and the PCD-03 fixtures' fields are all in it.
        for (field, unit) in FIELDS.iter() {
            assert_eq!(resolve_components(field.0), Ok(*unit), "{:?}", field.0);
        }
        for f in [
            ["263762", "MDC_DIM_MILLI_L", "MDC", "mL", "mL", "UCUM"],
            [
                "265266",
                "MDC_DIM_MILLI_L_PER_HR",
                "MDC",
                "mL/h",
                "mL/h",
                "UCUM",
            ],
            ["263875", "MDC_DIM_KILO_G", "MDC", "kg", "kg", "UCUM"],
            ["mL", "mL", "UCUM", "", "", ""],
            ["U", "U", "UCUM", "", "", ""],
            [
                "ug/kg/min",
                "ug/kg/min",
                "UCUM",
                "265619",
                "MDC_DIM_MICRO_G_PER_KG_PER_MIN",
                "MDC",
            ],
        ] {
            assert_eq!(field(&f), Some(resolve_components(f).unwrap()), "{f:?}");
        }
        // A triplet hiding mL/min behind an mL/h code is not in the table: it is refused.
        let hidden = [
            "265266",
            "MDC_DIM_MILLI_L_PER_HR",
            "MDC",
            "mL/min",
            "mL/min",
            "UCUM",
        ];
        assert_eq!(field(&hidden), None);
        assert!(matches!(
            resolve_components(hidden),
            Err(UnitError::Conflict(..))
        ));
    }

    #[test]
    fn plain_fields_are_the_fields_they_split_into() {
        assert_eq!(PLAIN_FIELDS.len(), FIELDS.len());
        for (plain, unit) in PLAIN_FIELDS.iter() {
            let mut parts = [""; 6];
            for (slot, part) in parts.iter_mut().zip(plain.split('^')) {
                *slot = part;
            }
            assert!(plain.split('^').count() <= 6, "{plain}");
            assert_eq!(field(&parts), Some(*unit), "{plain}");
        }
        // Read from a message: the whole-field lookup and the component path agree, also on
        // fields that are not in the table (trailing separators, a seventh component, a
        // conflict).
        for units in [
            "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM",
            "mL^mL^UCUM",
            "mL^mL^UCUM^",
            "mL^mL^UCUM^^^^mg",
            "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/min^mL/min^UCUM",
            "263875^MDC_DIM_KILO_G^MDC",
        ] {
            let raw = format!("MSH|^~\\&|A|B|C|D|1||RGV^O15|1|P|2.6\rOBX|1|NM|x||1|{units}");
            let msg = wardgate_hl7::Message::parse(raw.as_bytes(), &Default::default()).unwrap();
            let obx = msg.segment(b"OBX", 1).unwrap();
            let coded = wardgate_hl7::Coded::from_field(obx.field(6));
            assert_eq!(coded.plain(), Some(units));
            let by_components = match field(&coded.components()) {
                Some(unit) => Ok(unit),
                None => resolve_components(coded.components()),
            };
            assert_eq!(
                crate::units::resolve_coded(&coded),
                by_components,
                "{units}"
            );
        }
    }

    #[test]
    fn hostile_fields_are_parsed_and_never_grow_the_table() {
        let before = FIELDS.len();
        for i in 0..5000u32 {
            let junk = format!("mL/h{i}");
            let f = [
                "265266",
                "MDC_DIM_MILLI_L_PER_HR",
                "MDC",
                &junk,
                &junk,
                "UCUM",
            ];
            assert_eq!(field(&f), None);
            assert!(matches!(
                resolve_components(f),
                Ok(u) if u.is_volume_rate()
            ));
        }
        assert_eq!(FIELDS.len(), before);
    }
}
