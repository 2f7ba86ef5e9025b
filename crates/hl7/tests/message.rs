//! Message view tests: paths, escapes, repetitions, delimiters, terminators, limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardgate_hl7::{Delimiters, Header, Message, ParseError, ParseLimits, Path};

fn parse(raw: &[u8]) -> Message<'_> {
    Message::parse(raw, &ParseLimits::default()).unwrap()
}

fn get<'a>(m: &Message<'a>, path: &str) -> Option<&'a [u8]> {
    m.get_str_path(path).unwrap().map(|v| v.raw())
}

#[test]
fn pcd03_paths() {
    let raw = rgv_o15();
    let m = parse(raw.as_bytes());
    assert_eq!(m.segment_count(), 8);
    assert_eq!(get(&m, "MSH-9.1"), Some(&b"RGV"[..]));
    assert_eq!(get(&m, "MSH-9"), Some(&b"RGV^O15^RGV_O15"[..]));
    assert_eq!(get(&m, "MSH-1"), Some(&b"|"[..]));
    assert_eq!(get(&m, "MSH-2"), Some(&b"^~\\&"[..]));
    assert_eq!(get(&m, "MSH-3"), Some(&b"BCMA^1.2.3^ISO"[..]));
    assert_eq!(get(&m, "MSH-10"), Some(&b"MSG00001"[..]));
    assert_eq!(
        get(&m, "MSH-21.1"),
        Some(&b"1.3.6.1.4.1.19376.1.6.1.3.1"[..])
    );
    assert_eq!(get(&m, "RXG-15"), Some(&b"18"[..]));
    assert_eq!(
        m.get_str_path("RXG-15").unwrap().unwrap().as_number(),
        Some(18.0)
    );
    assert_eq!(get(&m, "RXG-16.5"), Some(&b"mL/h"[..]));
    assert_eq!(get(&m, "OBX[2]-18.1"), Some(&b"PUMP-0042"[..]));
    assert_eq!(
        get(&m, "OBX[2]-18"),
        Some(&b"PUMP-0042^ACME^0012345678ABCDEF^EUI-64"[..])
    );
    assert_eq!(get(&m, "OBX[1]-5"), Some(&b"80"[..]));
    assert_eq!(get(&m, "OBX[3]-1"), None);
    assert_eq!(get(&m, "PID-3(2).1"), Some(&b"ALT999"[..]));
    assert_eq!(get(&m, "PID-3.1"), Some(&b"MRN12345"[..]));
    assert_eq!(get(&m, "PID-3(3).1"), None);
    assert_eq!(get(&m, "PV1-3.1"), Some(&b"ICU"[..]));
    assert_eq!(get(&m, "PV1-3.4"), Some(&b"NORTH"[..]));
    assert_eq!(get(&m, "PV1-3.2"), None, "empty component is None");
    assert_eq!(get(&m, "PV1-3.9"), None);
    assert_eq!(get(&m, "ZZZ-1"), None);
    assert!(m.get_str_path("pv1-3").is_err());

    let h = m.header();
    assert_eq!(h.sending_application().unwrap().raw(), b"BCMA");
    assert_eq!(h.sending_facility().unwrap().raw(), b"WARD3");
    assert_eq!(h.message_code().unwrap().raw(), b"RGV");
    assert_eq!(h.trigger_event().unwrap().raw(), b"O15");
    assert_eq!(h.control_id().unwrap().raw(), b"MSG00001");
    assert_eq!(h.version().unwrap().raw(), b"2.6");
    assert_eq!(h.ack_mode(), wardgate_hl7::AckMode::Enhanced);
    assert_eq!(h.field(9).unwrap().raw(), b"RGV^O15^RGV_O15");
    assert_eq!(h.field(8), None);

    let ids: Vec<_> = m.segments().map(|s| s.id().to_vec()).collect();
    assert_eq!(ids[0], b"MSH");
    assert_eq!(ids[7], b"OBX");
    let obx2 = m.segment(b"OBX", 2).unwrap();
    assert_eq!(obx2.index(), 7);
    assert_eq!(obx2.field_count(), 18);
    assert_eq!(m.segment(b"OBX", 0), None);
}

#[test]
fn structure_accessors() {
    let raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\rPID|1||a1^x&y&z^c~b2^d||\r";
    let m = parse(raw);
    let pid = m.segment(b"PID", 1).unwrap();
    assert_eq!(pid.field_count(), 5);
    assert_eq!(pid.field(0), None);
    let f3 = pid.field(3).unwrap();
    assert_eq!(f3.repetition_count(), 2);
    assert_eq!(f3.repetition(2).unwrap().raw(), b"b2^d");
    assert_eq!(f3.repetition(3), None);
    assert_eq!(f3.repetition(0), None);
    let r1 = f3.repetition(1).unwrap();
    assert_eq!(r1.component_count(), 3);
    let c2 = r1.component(2).unwrap();
    assert_eq!(c2.subcomponent_count(), 3);
    assert_eq!(c2.subcomponent(3).unwrap().raw(), b"z");
    assert_eq!(c2.subcomponent(4), None);
    assert_eq!(get(&m, "PID-3.2.2"), Some(&b"y"[..]));
    assert_eq!(get(&m, "PID-5"), None);
    assert_eq!(pid.field(6), None);
    let msh = m.segment(b"MSH", 1).unwrap();
    // MSH-2 is never split, though it contains the component and repetition characters.
    let f2 = msh.field(2).unwrap();
    assert_eq!(f2.repetition_count(), 1);
    assert_eq!(f2.component(1).unwrap().raw(), b"^~\\&");
    assert_eq!(f2.value().decoded().as_ref(), b"^~\\&");
    assert_eq!(msh.field_count(), 12);
}

#[test]
fn escapes_are_decoded() {
    let raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f|\\X41\\\\X4243\\|\\X4\\|\\Q\\|\\F|x\\.br\\y\r";
    let m = parse(raw);
    let v = m.get_str_path("NTE-3").unwrap().unwrap();
    assert_eq!(v.decoded().as_ref(), b"a|b^c&d~e\\f");
    assert_eq!(v.to_text(), "a|b^c&d~e\\f");
    assert_eq!(
        m.get_str_path("NTE-4").unwrap().unwrap().decoded().as_ref(),
        b"ABC"
    );
    // Malformed sequences are kept raw.
    assert_eq!(
        m.get_str_path("NTE-5").unwrap().unwrap().decoded().as_ref(),
        b"\\X4\\"
    );
    assert_eq!(
        m.get_str_path("NTE-6").unwrap().unwrap().decoded().as_ref(),
        b"\\Q\\"
    );
    assert_eq!(
        m.get_str_path("NTE-7").unwrap().unwrap().decoded().as_ref(),
        b"\\F"
    );
    assert_eq!(
        m.get_str_path("NTE-8").unwrap().unwrap().decoded().as_ref(),
        b"x\ry"
    );
    // A value hidden behind escapes compares equal after decoding.
    let raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\rPV1||I|\\X49\\CU\r";
    let m = parse(raw);
    assert!(
        m.get_str_path("PV1-3")
            .unwrap()
            .unwrap()
            .eq_ignore_ascii_case(b"icu")
    );
}

#[test]
fn odd_delimiters_parse_identically() {
    let standard = rgv_o15();
    let odd: String = standard
        .replacen("MSH|^~\\&|", "MSH#$%@!#", 1)
        .chars()
        .map(|c| match c {
            '|' => '#',
            '^' => '$',
            '~' => '%',
            '&' => '!',
            c => c,
        })
        .collect();
    let a = parse(standard.as_bytes());
    let b = parse(odd.as_bytes());
    assert_eq!(
        b.delimiters(),
        Delimiters {
            field: b'#',
            component: b'$',
            repetition: b'%',
            escape: Some(b'@'),
            subcomponent: Some(b'!'),
            truncation: None
        }
    );
    assert_eq!(a.segment_count(), b.segment_count());
    for (sa, sb) in a.segments().zip(b.segments()) {
        assert_eq!(sa.id(), sb.id());
        assert_eq!(sa.field_count(), sb.field_count());
        for n in 3.max(usize::from(sa.id() != b"MSH"))..=sa.field_count() {
            let (fa, fb) = (sa.field(n).unwrap(), sb.field(n).unwrap());
            assert_eq!(fa.repetition_count(), fb.repetition_count());
            for r in 1..=fa.repetition_count() {
                let (ra, rb) = (fa.repetition(r).unwrap(), fb.repetition(r).unwrap());
                assert_eq!(ra.component_count(), rb.component_count());
                for c in 1..=ra.component_count() {
                    let (ca, cb) = (ra.component(c).unwrap(), rb.component(c).unwrap());
                    assert_eq!(ca.subcomponent_count(), cb.subcomponent_count());
                    for s in 1..=ca.subcomponent_count() {
                        assert_eq!(
                            ca.subcomponent(s).unwrap().decoded(),
                            cb.subcomponent(s).unwrap().decoded()
                        );
                    }
                }
            }
        }
    }
    assert_eq!(get(&b, "OBX[2]-18.1"), Some(&b"PUMP-0042"[..]));
    assert_eq!(get(&b, "PID-3(2).1"), Some(&b"ALT999"[..]));
    // Escapes use the declared escape character.
    let raw = b"MSH#$%@!#A#B#C#D#1##ADT$A01#9#P#2.5\rNTE#1##x@F@y@S@z";
    let m = parse(raw);
    assert_eq!(
        m.get_str_path("NTE-3").unwrap().unwrap().decoded().as_ref(),
        b"x#y$z"
    );
}

#[test]
fn truncation_character_does_not_shift_fields() {
    let raw =
        b"MSH|^~\\&#|SENDER|FAC|RCV|RFAC|20260101||ADT^A01^ADT_A01|C1|P|2.7\rNTE|1||cut\\P\\here\r";
    let m = parse(raw);
    assert_eq!(m.delimiters().truncation, Some(b'#'));
    assert_eq!(m.header().sending_application().unwrap().raw(), b"SENDER");
    assert_eq!(get(&m, "MSH-2"), Some(&b"^~\\&#"[..]));
    assert_eq!(get(&m, "MSH-3"), Some(&b"SENDER"[..]));
    assert_eq!(get(&m, "MSH-10"), Some(&b"C1"[..]));
    assert_eq!(
        m.get_str_path("NTE-3").unwrap().unwrap().decoded().as_ref(),
        b"cut#here"
    );
}

#[test]
fn short_encoding_characters() {
    // Only component and repetition declared: no escapes, no subcomponents.
    let raw = b"MSH|^~|A|B|C|D|1||ADT^A01|9|P|2.5\rPID|||x&y\\F\\";
    let m = parse(raw);
    assert_eq!(m.delimiters().escape, None);
    let v = m.get_str_path("PID-3.1.1").unwrap().unwrap();
    assert_eq!(v.raw(), b"x&y\\F\\");
    assert_eq!(v.decoded().as_ref(), b"x&y\\F\\");
    // Only the component separator: repetitions are not split.
    let raw = b"MSH|^|A|B|C|D|1||ADT^A01|9|P|2.5\rPID|||x~y";
    let m = parse(raw);
    assert_eq!(
        m.segment(b"PID", 1)
            .unwrap()
            .field(3)
            .unwrap()
            .repetition_count(),
        1
    );
}

#[test]
fn bad_delimiters() {
    let limits = ParseLimits::default();
    for raw in [
        &b"MSH"[..],
        b"MSH|",
        b"MSH||A",
        b"MSHA^~\\&|",
        b"MSH|^~\\&#x|A",
        b"MSH|^^\\&|A",
        b"MSH|^~ &|A",
        b"MSH|^~\\A|B",
        b"MSH\r^~\\&|",
        b"MSH \xE9~\\&|",
    ] {
        assert_eq!(
            Header::parse(raw).err(),
            Some(ParseError::BadDelimiters),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert!(Message::parse(raw, &limits).is_err());
    }
    assert_eq!(Header::parse(b"").err(), Some(ParseError::Empty));
    assert_eq!(Header::parse(b"PID|1").err(), Some(ParseError::NotMsh));
    assert_eq!(
        Header::parse(b"\rMSH|^~\\&|").err(),
        Some(ParseError::NotMsh)
    );
    // A second MSH with other delimiters is refused.
    let raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\rMSH|$~\\&|A";
    assert_eq!(
        Message::parse(raw, &limits).err(),
        Some(ParseError::BadDelimiters)
    );
}

#[test]
fn line_feeds_only_when_allowed() {
    let cr = rgv_o15();
    let lf = cr.replace('\r', "\n");
    let crlf = cr.replace('\r', "\r\n");
    let strict = ParseLimits::default();
    let lenient = ParseLimits {
        allow_lf_terminators: true,
        ..ParseLimits::default()
    };
    let first_lf = lf.find('\n').unwrap();
    assert_eq!(
        Message::parse(lf.as_bytes(), &strict).err(),
        Some(ParseError::UnexpectedLineFeed { offset: first_lf })
    );
    assert_eq!(
        Message::parse(crlf.as_bytes(), &strict).err(),
        Some(ParseError::UnexpectedLineFeed {
            offset: first_lf + 1
        })
    );
    for text in [&lf, &crlf, &cr] {
        let m = Message::parse(text.as_bytes(), &lenient).unwrap();
        assert_eq!(m.segment_count(), 8);
        assert_eq!(get(&m, "OBX[2]-18.1"), Some(&b"PUMP-0042"[..]));
    }
}

#[test]
fn iso_8859_1_bytes() {
    let raw = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5|||||8859/1\rPID|||1||Ren\xE9e^Andr\xE9\r";
    let m = parse(raw);
    let v = m.get_str_path("PID-5.1").unwrap().unwrap();
    assert_eq!(v.to_text(), "Ren\u{e9}e");
    assert_eq!(
        m.get_str_path("PID-5").unwrap().unwrap().to_text(),
        "Ren\u{e9}e^Andr\u{e9}"
    );
    // Valid UTF-8 is kept as UTF-8; a hex escape can produce Latin-1 too.
    let raw = "MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\rPID|||1||Ren\u{e9}e|\\XE9\\\r";
    let m = parse(raw.as_bytes());
    assert_eq!(
        m.get_str_path("PID-5").unwrap().unwrap().to_text(),
        "Ren\u{e9}e"
    );
    assert_eq!(
        m.get_str_path("PID-6").unwrap().unwrap().to_text(),
        "\u{e9}"
    );
}

#[test]
fn numbers() {
    let raw =
        b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\rOBX|1|NM|x|| -12.50 |a|1e3|\\X35\\|~5|250~5000\r";
    let m = parse(raw);
    let num = |p: &str| m.get_str_path(p).unwrap().and_then(|v| v.as_number());
    assert_eq!(num("OBX-5"), Some(-12.5));
    assert_eq!(num("OBX-6"), None);
    assert_eq!(num("OBX-7"), None);
    assert_eq!(num("OBX-8"), Some(5.0), "decoded before parsing");
    assert_eq!(num("OBX-10"), Some(250.0), "first repetition only");
}

#[test]
fn limits_give_typed_errors() {
    let base = "MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\r";
    let tight = ParseLimits {
        max_segments: 3,
        max_fields_per_segment: 5,
        max_repetitions: 2,
        max_components: 3,
        max_subcomponents: 2,
        allow_lf_terminators: false,
    };
    let loose = ParseLimits {
        max_fields_per_segment: 20,
        ..tight
    };
    let check = |tail: &str, limits: &ParseLimits| {
        let raw = format!("{base}{tail}");
        Message::parse(raw.as_bytes(), limits).err()
    };
    assert_eq!(
        check("PID|1\rPID|2\rPID|3\r", &loose),
        Some(ParseError::TooManySegments { limit: 3 })
    );
    assert_eq!(check("PID|1\rPID|2\r", &loose), None);
    assert_eq!(
        check("PID|1|2|3|4|5|6", &loose.clone()),
        None,
        "6 fields fit in 20"
    );
    assert_eq!(
        check(
            "PID|1|2|3|4|5|6",
            &ParseLimits {
                max_fields_per_segment: 5,
                ..loose
            }
        ),
        Some(ParseError::TooManyFields {
            segment: 0,
            limit: 5
        }),
        "MSH itself has 12 fields"
    );
    assert_eq!(
        check("PID|1|a~b~c", &loose),
        Some(ParseError::TooManyRepetitions {
            segment: 1,
            field: 2,
            limit: 2
        })
    );
    assert_eq!(
        check("PID|1|a^b^c^d", &loose),
        Some(ParseError::TooManyComponents {
            segment: 1,
            field: 2,
            limit: 3
        })
    );
    assert_eq!(
        check("PID|1|a^b&c&d", &loose),
        Some(ParseError::TooManySubcomponents {
            segment: 1,
            field: 2,
            limit: 2
        })
    );
    assert_eq!(
        check("pid|1", &loose),
        Some(ParseError::BadSegmentId { segment: 1 })
    );
    assert_eq!(
        check("PIDX|1", &loose),
        Some(ParseError::BadSegmentId { segment: 1 })
    );
    assert_eq!(
        check("PI", &loose),
        Some(ParseError::BadSegmentId { segment: 1 })
    );
    assert_eq!(check("PID", &loose), None, "a bare segment id is a segment");
    assert_eq!(
        Message::parse(b"MSH|^~\\&|A|B|C|D|1||||P|2.5", &loose).err(),
        Some(ParseError::MissingField { field: "MSH-9" })
    );
    assert_eq!(
        Message::parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5", &loose).err(),
        Some(ParseError::MissingField { field: "MSH-10" })
    );
    assert_eq!(Message::parse(b"", &loose).err(), Some(ParseError::Empty));
}

#[test]
fn garbage_never_panics() {
    let limits = ParseLimits::default();
    let inputs: Vec<Vec<u8>> = vec![
        vec![0; 100],
        vec![0xFF; 100],
        b"MSH|^~\\&|\x00\x01\x02|\xFF\xFE\r\r\r\x1C\x0B".to_vec(),
        b"MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5\r\x00\x01\x02".to_vec(),
        (0..=255u8).collect(),
        b"MSH|^~\\&|||||||^|x\r\\\\\\\\\\".to_vec(),
    ];
    for raw in &inputs {
        let _ = Header::parse(raw);
        if let Ok(m) = Message::parse(raw, &limits) {
            for s in m.segments() {
                for n in 0..=s.field_count() + 1 {
                    let _ = s.field(n).map(|f| f.value().to_text());
                }
            }
        }
    }
    assert!(Message::parse(&inputs[3], &limits).is_err());
}

#[test]
fn path_display_round_trip() {
    let p: Path = "OBX[2]-18(3).1.2".parse().unwrap();
    assert_eq!(p.to_string(), "OBX[2]-18(3).1.2");
    assert_eq!(Path::parse(&p.to_string()), Ok(p));
}

/// The one-pass iterators agree with the indexed accessors on every segment of every fixture.
#[test]
fn field_and_component_iterators_agree_with_indexed_access() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hl7");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let msg = Message::parse(&bytes, &ParseLimits::default()).unwrap();
        for seg in msg.segments().filter(|s| s.id() != b"MSH") {
            let fields: Vec<_> = seg.fields().collect();
            assert_eq!(fields.len(), seg.field_count());
            for (i, f) in fields.iter().enumerate() {
                assert_eq!(Some(f.raw()), seg.field(i + 1).map(|f| f.raw()));
                if let Some(rep) = f.repetition(1) {
                    let comps: Vec<_> = rep.components().map(|c| c.raw()).collect();
                    assert_eq!(comps.len(), rep.component_count());
                    for (j, c) in comps.iter().enumerate() {
                        assert_eq!(Some(*c), rep.component(j + 1).map(|c| c.raw()));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} fields checked");
}
