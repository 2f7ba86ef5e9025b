//! Differential test against the `hl7-parser` 0.3 crate on well-formed ASCII messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wardgate_hl7::{Message, ParseLimits};

/// Compare every field, repetition, component and subcomponent raw value.
///
/// Both parsers report raw (still escaped) bytes at every level, so raw values must be
/// identical. They differ on purpose only in what is *not* compared here:
/// - `Value::decoded` un-escapes `\F\` etc.; hl7-parser's `raw_value` never does.
/// - MSH-1/MSH-2: both number the field separator MSH-1 and the encoding characters MSH-2 and
///   neither splits MSH-2, so these are compared too; hl7-parser, however, always reads exactly
///   four encoding characters, so the v2.7 truncation form (`^~\&#`) is not a fixture here.
fn compare(text: &str) {
    let ours = Message::parse(text.as_bytes(), &ParseLimits::default()).unwrap();
    let theirs = hl7_parser::Message::parse(text).unwrap();
    // We skip empty segments (e.g. after the final CR); ignore any hl7-parser might report.
    let their_segments: Vec<_> = theirs
        .segments()
        .filter(|s| !s.raw_value().is_empty())
        .collect();
    assert_eq!(ours.segment_count(), their_segments.len(), "segment count");
    let mut compared = 0usize;
    for (seg, theirs) in ours.segments().zip(their_segments) {
        assert_eq!(seg.id(), theirs.name.as_bytes());
        assert_eq!(seg.raw(), theirs.raw_value().as_bytes());
        assert_eq!(seg.field_count(), theirs.fields.len(), "{}", theirs.name);
        for (n, tf) in (1..).zip(theirs.fields()) {
            let f = seg.field(n).unwrap();
            assert_eq!(f.raw(), tf.raw_value().as_bytes(), "{}-{n}", theirs.name);
            assert_eq!(
                f.repetition_count(),
                tf.repeats.len(),
                "{}-{n}",
                theirs.name
            );
            for (r, tr) in (1..).zip(tf.repeats()) {
                let rep = f.repetition(r).unwrap();
                assert_eq!(rep.raw(), tr.raw_value().as_bytes());
                assert_eq!(
                    rep.component_count(),
                    tr.components.len(),
                    "{}-{n}({r})",
                    theirs.name
                );
                for (c, tc) in (1..).zip(tr.components()) {
                    let comp = rep.component(c).unwrap();
                    assert_eq!(comp.raw(), tc.raw_value().as_bytes());
                    assert_eq!(comp.subcomponent_count(), tc.subcomponents.len());
                    for (s, ts) in (1..).zip(tc.subcomponents()) {
                        let sub = comp.subcomponent(s).unwrap();
                        assert_eq!(sub.raw(), ts.raw_value().as_bytes());
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 20, "compared only {compared} leaves");
}

#[test]
fn adt_a01_matches_hl7_parser() {
    compare(&common::adt_a01());
}

#[test]
fn oru_r01_matches_hl7_parser() {
    compare(&common::oru_r01());
}

#[test]
fn rgv_o15_matches_hl7_parser() {
    compare(&common::rgv_o15());
}

#[test]
fn ack_matches_hl7_parser() {
    let mut text = common::ack_aa();
    text.push_str("ERR|||207^Application internal error^HL70357|E|9024|||a \\F\\ b\r");
    compare(&text);
}

#[test]
fn decoded_differs_from_hl7_parser_raw_on_purpose() {
    let text = common::oru_r01();
    let ours = Message::parse(text.as_bytes(), &ParseLimits::default()).unwrap();
    let theirs = hl7_parser::Message::parse(&text).unwrap();
    let v = ours.get_str_path("NTE-3").unwrap().unwrap();
    let t = theirs.segment("NTE").unwrap().field(3).unwrap().raw_value();
    assert_eq!(v.raw(), t.as_bytes());
    assert_eq!(v.decoded().as_ref(), b"Comment with an escaped | bar");
}
