//! Property tests: no entry point panics on arbitrary input; framing is chunking-independent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use wardgate_hl7::{
    AckCode, ErrorCode, Header, Message, MllpFramer, ParseLimits, Path, Refusal, ReplyContext,
    Severity, build_nack, read_ack, read_infusion_orders, wrap,
};

/// Walk everything a caller could ask of a message.
fn exercise(raw: &[u8]) {
    for limits in [
        ParseLimits::default(),
        ParseLimits {
            allow_lf_terminators: true,
            ..ParseLimits::default()
        },
    ] {
        if let Ok(m) = Message::parse(raw, &limits) {
            let _ = read_infusion_orders(&m);
            let _ = read_ack(&m);
            for s in m.segments() {
                for n in 0..=s.field_count() + 1 {
                    if let Some(f) = s.field(n) {
                        for r in 0..=f.repetition_count() + 1 {
                            if let Some(rep) = f.repetition(r) {
                                for c in 0..=rep.component_count() + 1 {
                                    if let Some(comp) = rep.component(c) {
                                        for sc in 0..=comp.subcomponent_count() + 1 {
                                            if let Some(v) = comp.subcomponent(sc) {
                                                let _ = v.to_text();
                                                let _ = v.as_number();
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Ok(h) = Header::parse(raw) {
        let _ = h.ack_mode();
        let refusal = Refusal {
            code: AckCode::AR,
            error: ErrorCode::APPLICATION_INTERNAL_ERROR,
            severity: Severity::Error,
            application_code: None,
            user_message: "x",
        };
        let ctx = ReplyContext {
            timestamp: "1",
            control_id: "2",
        };
        let nack = build_nack(&h, &refusal, &ctx);
        // A NACK for any readable header is itself readable.
        let parsed = Message::parse(&nack, &ParseLimits::default());
        if h.field(9).is_some() || h.trigger_event().is_some() {
            assert!(parsed.is_ok(), "{:?}", String::from_utf8_lossy(&nack));
        }
    }
}

fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    common::strategies::mutated(common::rgv_o15().into_bytes(), any::<u8>(), 8)
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
        Just(b'F'),
        Just(b'4'),
        Just(b'1'),
        Just(b'.'),
    ];
    common::strategies::rxg_soup(alphabet, 200)
}

/// `Segment::first_fields` (one pass) gives what `Segment::field` gives field by field.
fn first_fields_agree(raw: &[u8]) {
    let limits = ParseLimits {
        allow_lf_terminators: true,
        ..ParseLimits::default()
    };
    if let Ok(m) = Message::parse(raw, &limits) {
        for s in m.segments() {
            let firsts = s.first_fields::<24>();
            for (i, f) in firsts.iter().enumerate() {
                assert_eq!(
                    f.map(|f| f.raw()),
                    s.field(i + 1).map(|f| f.raw()),
                    "field {} of {:?}",
                    i + 1,
                    String::from_utf8_lossy(s.raw())
                );
            }
        }
    }
}

#[test]
fn first_fields_agree_on_every_kind_of_message() {
    for m in [
        common::rgv_o15(),
        common::adt_a01(),
        common::oru_r01(),
        common::ack_aa(),
        // MSH-2 with the v2.7 truncation character, and a field separator other than `|`.
        "MSH|^~\\&#|A|B|C|D|20261129||RGV^O15|1|P|2.7\rPID|1||X".to_owned(),
        "MSH#^~\\&#A#B#C#D#20261129##ADT^A01#1#P#2.5\rPID#1##X".to_owned(),
    ] {
        first_fields_agree(m.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn first_fields_agree_with_field(raw in mutated_fixture()) {
        first_fields_agree(&raw);
    }

    #[test]
    fn first_fields_agree_on_delimiter_soup(raw in delimiter_soup()) {
        first_fields_agree(&raw);
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&raw);
    }

    #[test]
    fn msh_prefixed_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut raw = b"MSH|^~\\&|".to_vec();
        raw.extend(tail);
        exercise(&raw);
    }

    #[test]
    fn mutated_pcd03_never_panics(raw in mutated_fixture()) {
        exercise(&raw);
    }

    #[test]
    fn delimiter_soup_never_panics(raw in delimiter_soup()) {
        exercise(&raw);
    }

    #[test]
    fn arbitrary_paths_never_panic(s in "\\PC{0,24}") {
        if let Ok(p) = Path::parse(&s) {
            prop_assert_eq!(Path::parse(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn path_like_strings_round_trip(s in "[A-Z0-9]{3}(\\[[0-9]{1,4}\\])?-[0-9]{1,4}(\\([0-9]{1,3}\\))?(\\.[0-9]{1,3}(\\.[0-9]{1,3})?)?") {
        if let Ok(p) = Path::parse(&s) {
            prop_assert_eq!(Path::parse(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn framing_is_independent_of_chunking(
        payloads in proptest::collection::vec(proptest::collection::vec(0u8..0x1B, 0..64), 1..5),
        cuts in proptest::collection::vec(0usize..400, 0..12),
        commit in proptest::option::of(prop_oneof![Just(0x06u8), Just(0x15u8)]),
    ) {
        let mut payloads = payloads;
        if let Some(c) = commit {
            payloads.push(vec![c]);
        }
        let stream: Vec<u8> = payloads.iter().flat_map(|p| wrap(p)).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let mut framer = MllpFramer::new(1024);
        let mut buf: Vec<u8> = Vec::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut fed = 0;
        for cut in cuts {
            buf.extend_from_slice(&stream[fed..cut]);
            fed = cut;
            while let Some(info) = framer.next_frame(&buf).unwrap() {
                got.push(buf[info.payload.clone()].to_vec());
                buf.drain(..info.consumed);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn framer_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        limit in 0usize..128,
    ) {
        let mut framer = MllpFramer::new(limit);
        let mut buf = Vec::new();
        for chunk in chunks {
            buf.extend(chunk);
            match framer.next_frame(&buf) {
                Ok(Some(info)) => {
                    prop_assert!(info.payload.len() <= limit);
                    buf.drain(..info.consumed);
                }
                Ok(None) => {}
                Err(_) => {
                    buf.clear();
                    framer = MllpFramer::new(limit);
                }
            }
        }
    }
}
