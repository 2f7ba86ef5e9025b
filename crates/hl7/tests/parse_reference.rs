//! `Message::parse` (a word at a time, recording field separators) against a reference written
//! byte by byte from the documented rules: the same segments or the same first error, for
//! mutated messages, delimiter soup and arbitrary bytes, with default and with tiny limits;
//! `Message::field_at` (recorded separators) gives what `Segment::field` (rescan) gives, and
//! `Message::has_escapes` says whether the escape character occurs after MSH-2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use wardgate_hl7::{Header, Message, ParseError, ParseLimits};

/// Split and check one message the plain way: every byte compared with every delimiter.
fn reference<'a>(raw: &'a [u8], limits: &ParseLimits) -> Result<Vec<&'a [u8]>, ParseError> {
    let header = Header::parse(raw)?;
    let d = header.delimiters();
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let rest = &raw[pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let seg = &rest[..len];
        if len > 0 {
            let index = segments.len();
            if index >= limits.max_segments {
                return Err(ParseError::TooManySegments {
                    limit: limits.max_segments,
                });
            }
            let id_ok = seg.len() >= 3
                && seg[..3]
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !id_ok || seg.get(3).is_some_and(|&b| b != d.field) {
                return Err(ParseError::BadSegmentId { segment: index });
            }
            let mut field = 0;
            let mut body = 3;
            if seg.starts_with(b"MSH") {
                if Header::parse(seg)?.delimiters() != d {
                    return Err(ParseError::BadDelimiters);
                }
                field = 2;
                if field > limits.max_fields_per_segment {
                    return Err(ParseError::TooManyFields {
                        segment: index,
                        limit: limits.max_fields_per_segment,
                    });
                }
                body = 4 + seg[4..]
                    .iter()
                    .position(|&b| b == d.field)
                    .unwrap_or(seg.len() - 4);
            }
            let (mut reps, mut comps, mut subs) = (1, 1, 1);
            for &b in &seg[body..] {
                if b == d.field {
                    field += 1;
                    (reps, comps, subs) = (1, 1, 1);
                    if field > limits.max_fields_per_segment {
                        return Err(ParseError::TooManyFields {
                            segment: index,
                            limit: limits.max_fields_per_segment,
                        });
                    }
                } else if b == d.repetition {
                    reps += 1;
                    (comps, subs) = (1, 1);
                    if reps > limits.max_repetitions {
                        return Err(ParseError::TooManyRepetitions {
                            segment: index,
                            field,
                            limit: limits.max_repetitions,
                        });
                    }
                } else if b == d.component {
                    comps += 1;
                    subs = 1;
                    if comps > limits.max_components {
                        return Err(ParseError::TooManyComponents {
                            segment: index,
                            field,
                            limit: limits.max_components,
                        });
                    }
                } else if Some(b) == d.subcomponent {
                    subs += 1;
                    if subs > limits.max_subcomponents {
                        return Err(ParseError::TooManySubcomponents {
                            segment: index,
                            field,
                            limit: limits.max_subcomponents,
                        });
                    }
                }
            }
            segments.push(seg);
        }
        if rest.get(len) == Some(&b'\n') && !limits.allow_lf_terminators {
            return Err(ParseError::UnexpectedLineFeed { offset: pos + len });
        }
        pos += len + 1;
    }
    if header.field(9).is_none() {
        return Err(ParseError::MissingField { field: "MSH-9" });
    }
    if header.field(10).is_none() {
        return Err(ParseError::MissingField { field: "MSH-10" });
    }
    Ok(segments)
}

/// Default limits, LF allowed, and limits small enough for every counter to hit its own.
fn all_limits() -> [ParseLimits; 3] {
    let lf = ParseLimits {
        allow_lf_terminators: true,
        ..ParseLimits::default()
    };
    let tiny = ParseLimits {
        max_segments: 6,
        max_fields_per_segment: 14,
        max_repetitions: 2,
        max_components: 4,
        max_subcomponents: 2,
        allow_lf_terminators: true,
    };
    [ParseLimits::default(), lf, tiny]
}

fn agree(raw: &[u8]) {
    for limits in all_limits() {
        let ours = Message::parse(raw, &limits);
        let want = reference(raw, &limits);
        let text = String::from_utf8_lossy(raw);
        match (&ours, &want) {
            (Ok(m), Ok(segments)) => {
                let got: Vec<&[u8]> = m.segments().map(|s| s.raw()).collect();
                assert_eq!(&got, segments, "{text:?}");
                // The escape character anywhere after the first MSH-2.
                let d = m.delimiters();
                let msh = segments[0];
                let msh2_end = 4 + msh[4..]
                    .iter()
                    .position(|&b| b == d.field)
                    .unwrap_or(msh.len() - 4);
                let escapes = d.escape.is_some_and(|e| raw[msh2_end..].contains(&e));
                assert_eq!(m.has_escapes(), escapes, "{text:?}");
                for s in m.segments() {
                    for n in 0..s.field_count() + 3 {
                        let rescan = s.field(n);
                        let located = m.field_at(s.index(), n);
                        // Raw bytes, and literal (MSH-1/MSH-2: never split) or not.
                        let view = |f: Option<wardgate_hl7::Field<'_>>| {
                            f.map(|f| (f.raw().to_vec(), f.repetition_count(), f.value().to_text()))
                        };
                        assert_eq!(view(located), view(rescan), "field {n} of {text:?}");
                    }
                }
                assert_eq!(m.field_at(m.segment_count(), 1), None);
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{text:?}"),
            _ => panic!(
                "parse {:?} but reference {:?} for {text:?}",
                ours.err(),
                want.err()
            ),
        }
    }
}

#[test]
fn every_kind_of_message_parses_as_the_reference_does() {
    for m in [
        common::rgv_o15(),
        common::adt_a01(),
        common::oru_r01(),
        common::ack_aa(),
        // MSH-2 with the v2.7 truncation character, and a field separator other than `|`.
        "MSH|^~\\&#|A|B|C|D|20261129||RGV^O15|1|P|2.7\rPID|1||X".to_owned(),
        "MSH#^~\\&#A#B#C#D#20261129##ADT^A01#1#P#2.5\rPID#1##X".to_owned(),
        // MSH-2 with only a component separator: no repetitions.
        "MSH|^|A|B|C|D|20261129||ADT^A01|1|P|2.5\rPID|1||X~Y^Z".to_owned(),
        // The escape character only in MSH-2, after it, or not declared at all.
        "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||X\\T\\Y".to_owned(),
        "MSH|^~|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||X\\T\\Y".to_owned(),
        // MSH-9 or MSH-10 with an empty first repetition: missing.
        "MSH|^~\\&|A|B|C|D|1||~ADT^A01|1|P|2.5\rPID|1".to_owned(),
        "MSH|^~\\&|A|B|C|D|1||ADT^A01|~1|P|2.5\rPID|1".to_owned(),
        "MSH|^|A|B|C|D|1||ADT^A01|~1|P|2.5\rPID|1".to_owned(),
        // LF and CR LF terminators, an empty segment, a second MSH.
        "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\nPID|1\r\n\r\rMSH|^~\\&|A\rPV1".to_owned(),
    ] {
        agree(m.as_bytes());
    }
    let mut latin1 = common::rgv_o15().into_bytes();
    latin1.extend_from_slice(b"\rNTE|1||Gr\xfc\xdfe \xb5g|\xff^\xfe");
    agree(&latin1);
    for fixture in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/hl7")).unwrap()
    {
        let path = fixture.unwrap().path();
        if path.extension().is_some_and(|e| e == "hl7") {
            agree(&std::fs::read(&path).unwrap());
        }
    }
}

fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let special = prop_oneof![
        Just(b'|'),
        Just(b'^'),
        Just(b'~'),
        Just(b'&'),
        Just(b'\r'),
        Just(b'\n'),
        any::<u8>(),
    ];
    common::strategies::mutated(common::rgv_o15().into_bytes(), special, 12)
}

fn delimiter_soup() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = prop_oneof![
        Just(b'|'),
        Just(b'^'),
        Just(b'~'),
        Just(b'\\'),
        Just(b'&'),
        Just(b'#'),
        Just(b'\r'),
        Just(b'\n'),
        Just(b'X'),
        Just(b'1'),
        Just(0xE9u8),
    ];
    common::strategies::rxg_soup(alphabet, 300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn mutated_messages_parse_as_the_reference_does(raw in mutated_fixture()) {
        agree(&raw);
    }

    #[test]
    fn delimiter_soup_parses_as_the_reference_does(raw in delimiter_soup()) {
        agree(&raw);
    }

    #[test]
    fn arbitrary_bytes_parse_as_the_reference_does(
        raw in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        let mut msh = b"MSH|^~\\&|".to_vec();
        msh.extend(&raw);
        agree(&raw);
        agree(&msh);
    }
}
