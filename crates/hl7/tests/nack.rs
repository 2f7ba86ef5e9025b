//! NACK building and ACK reading tests (HL7 v2.5 §2.9, IHE PCD-03 RRG^O16).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wardgate_hl7::{
    AckCode, AckMode, ErrorCode, Header, Message, ParseLimits, PivCode, Refusal, ReplyContext,
    Severity, build_nack, escape_text, read_ack,
};

const CTX: ReplyContext<'static> = ReplyContext {
    timestamp: "20261129120000",
    control_id: "WG-1",
};

fn refusal(code: AckCode, user_message: &str) -> Refusal<'_> {
    Refusal {
        code,
        error: ErrorCode::APPLICATION_INTERNAL_ERROR,
        severity: Severity::Error,
        application_code: Some(PivCode::HARD_LIMIT_EXCEEDED.0),
        user_message,
    }
}

fn text(m: &Message<'_>, path: &str) -> String {
    m.get_str_path(path)
        .unwrap()
        .map(|v| v.to_text())
        .unwrap_or_default()
}

#[test]
fn nack_round_trip() {
    let raw = common::rgv_o15();
    let refused = Header::parse(raw.as_bytes()).unwrap();
    let evil = "rule |^~\\&\r\nPID|||EVIL\n#";
    let nack = build_nack(&refused, &refusal(AckCode::AR, evil), &CTX);
    assert!(nack.ends_with(b"\r"));
    let m = Message::parse(&nack, &ParseLimits::default()).unwrap();
    assert_eq!(m.segment_count(), 3, "{}", String::from_utf8_lossy(&nack));
    assert_eq!(m.segment(b"PID", 1), None);
    let (code, acked) = read_ack(&m).unwrap();
    assert_eq!(code.raw(), b"AR");
    assert_eq!(acked.raw(), b"MSG00001");
    assert_eq!(text(&m, "MSH-2"), "^~\\&");
    assert_eq!(text(&m, "MSH-3"), "PUMPGW");
    assert_eq!(text(&m, "MSH-4"), "HOSP");
    assert_eq!(text(&m, "MSH-5"), "BCMA^1.2.3^ISO");
    assert_eq!(text(&m, "MSH-5.1"), "BCMA");
    assert_eq!(text(&m, "MSH-6"), "WARD3");
    assert_eq!(text(&m, "MSH-7"), "20261129120000");
    assert_eq!(text(&m, "MSH-10"), "WG-1");
    assert_eq!(text(&m, "MSH-11"), "P");
    assert_eq!(text(&m, "MSH-12"), "2.6");
    assert_eq!(text(&m, "ERR-3.1"), "207");
    assert_eq!(text(&m, "ERR-3.3"), "HL70357");
    assert_eq!(text(&m, "ERR-4"), "E");
    assert_eq!(text(&m, "ERR-5"), "9024");
    // CR and LF become spaces; delimiters survive escaped.
    assert_eq!(text(&m, "ERR-8"), "rule |^~\\&  PID|||EVIL #");
}

#[test]
fn rgv_o15_reply_types() {
    let raw = common::rgv_o15();
    let refused = Header::parse(raw.as_bytes()).unwrap();
    for (code, expected) in [
        (AckCode::AR, "RRG^O16^RRG_O16"),
        (AckCode::AE, "RRG^O16^RRG_O16"),
        (AckCode::CR, "ACK^O15^ACK"),
        (AckCode::CE, "ACK^O15^ACK"),
    ] {
        let nack = build_nack(&refused, &refusal(code, "no"), &CTX);
        let m = Message::parse(&nack, &ParseLimits::default()).unwrap();
        assert_eq!(text(&m, "MSH-9"), expected, "{code:?}");
        assert_eq!(read_ack(&m).unwrap().0.raw(), code.as_str().as_bytes());
    }
}

#[test]
fn version_decides_ack_form() {
    let raw = common::adt_a01();
    let refused = Header::parse(raw.as_bytes()).unwrap();
    assert_eq!(refused.ack_mode(), AckMode::Original);
    let nack = build_nack(&refused, &refusal(AckCode::AE, "bad"), &CTX);
    let m = Message::parse(&nack, &ParseLimits::default()).unwrap();
    assert_eq!(text(&m, "MSH-9"), "ACK^A01");
    assert_eq!(text(&m, "MSH-12"), "2.3");
    assert_eq!(text(&m, "MSH-3"), "GHH LAB, INC.");
    assert_eq!(text(&m, "MSA-2"), "MSG00001");

    for (version, expected) in [
        ("2.3.1", "ACK^A01"),
        ("2.4", "ACK^A01^ACK"),
        ("2.5.1", "ACK^A01^ACK"),
        ("", "ACK^A01^ACK"),
        ("junk", "ACK^A01^ACK"),
        ("2.10", "ACK^A01^ACK"),
    ] {
        let raw = format!("MSH|^~\\&|A|B|C|D|1||ADT^A01|X|P|{version}\r");
        let refused = Header::parse(raw.as_bytes()).unwrap();
        let nack = build_nack(&refused, &refusal(AckCode::AR, ""), &CTX);
        let m = Message::parse(&nack, &ParseLimits::default()).unwrap();
        assert_eq!(text(&m, "MSH-9"), expected, "version {version:?}");
    }
}

#[test]
fn nack_with_odd_delimiters_and_broken_body() {
    // Only the header needs to be readable to refuse a message.
    let raw = b"MSH#$%@!#APP#FAC#GW#GFAC#1##ADT$A04#C9#P#2.5\rbroken \x00 segment";
    assert!(Message::parse(raw, &ParseLimits::default()).is_err());
    let refused = Header::parse(raw).unwrap();
    let nack = build_nack(&refused, &refusal(AckCode::AR, "a#b$c"), &CTX);
    assert!(nack.starts_with(b"MSH#$%@!#GW#GFAC#APP#FAC#20261129120000##ACK$A04$ACK#WG-1#P#2.5\r"));
    let m = Message::parse(&nack, &ParseLimits::default()).unwrap();
    assert_eq!(text(&m, "ERR-8"), "a#b$c");
    assert_eq!(text(&m, "MSA-2"), "C9");
}

#[test]
fn caller_text_is_escaped() {
    let raw = common::rgv_o15();
    let refused = Header::parse(raw.as_bytes()).unwrap();
    let ctx = ReplyContext {
        timestamp: "2026|x",
        control_id: "id\rMSA|AA",
    };
    let nack = build_nack(&refused, &refusal(AckCode::AR, ""), &ctx);
    let m = Message::parse(&nack, &ParseLimits::default()).unwrap();
    assert_eq!(m.segment_count(), 3);
    assert_eq!(text(&m, "MSH-7"), "2026|x");
    assert_eq!(text(&m, "MSH-10"), "id MSA|AA");
    assert_eq!(text(&m, "MSA-1"), "AR");
    assert_eq!(
        escape_text(b"\\", &wardgate_hl7::Delimiters::default()),
        b"\\E\\"
    );
}

#[test]
fn read_ack_of_an_ack() {
    let raw = common::ack_aa();
    let m = Message::parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    let (code, id) = read_ack(&m).unwrap();
    assert_eq!(AckCode::from_bytes(code.raw()), Some(AckCode::CA));
    assert_eq!(id.raw(), b"MSG00001");
    let raw = common::adt_a01();
    let m = Message::parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(read_ack(&m).is_none());
}

#[test]
fn code_tables() {
    assert_eq!(ErrorCode::SEGMENT_SEQUENCE.0, 100);
    assert_eq!(ErrorCode::REQUIRED_FIELD_MISSING.0, 101);
    assert_eq!(ErrorCode::DATA_TYPE.0, 102);
    assert_eq!(ErrorCode::TABLE_VALUE_NOT_FOUND.0, 103);
    assert_eq!(ErrorCode::UNSUPPORTED_MESSAGE_TYPE.0, 200);
    assert_eq!(ErrorCode::UNSUPPORTED_EVENT.0, 201);
    assert_eq!(ErrorCode::UNSUPPORTED_VERSION.0, 203);
    assert_eq!(ErrorCode(999).text(), "");
    assert_eq!(PivCode::OUTSIDE_ALLOWABLE_RANGE.0, 9005);
    assert_eq!(PivCode::UNITS_MISMATCH.0, 9009);
    assert_eq!(PivCode::NOT_IN_DRUG_LIBRARY.0, 9010);
    assert_eq!(PivCode::PATIENT_MISMATCH.0, 9012);
    assert_eq!(PivCode::EXCEEDS_MAXIMUM.0, 9014);
    assert_eq!(PivCode::CARE_AREA_MISMATCH.0, 9021);
    assert_eq!(PivCode::STALE_ORDER.0, 9022);
    assert_eq!(Severity::Warning.as_str(), "W");
    assert_eq!(Severity::Information.as_str(), "I");
    assert_eq!(Severity::Fatal.as_str(), "F");
}

/// Found by fuzz/nack_roundtrip: fields copied from an MSH stuffed with component separators
/// made the NACK itself exceed the parse limits, so wardgate's own parser (and strict
/// receivers) rejected wardgate's refusal.
#[test]
fn nack_copies_msh3_over_component_limit() {
    let mut refused = b"MSH|^~\\&|".to_vec();
    refused.extend(std::iter::repeat_n(b'^', 64));
    refused.extend_from_slice(
        b"|FAC~REP~REP|GW|F|20261129||RGV^O15^RGV_O15|ID^X&Y~Z|P^T^U^V|2.6^A^B^C^D\r",
    );
    let header = Header::parse(&refused).unwrap();
    let refusal = Refusal {
        code: AckCode::AR,
        error: ErrorCode::APPLICATION_INTERNAL_ERROR,
        severity: Severity::Error,
        application_code: Some(9024),
        user_message: "refused",
    };
    let ctx = ReplyContext {
        timestamp: "20261129120000",
        control_id: "WG1",
    };
    let nack = build_nack(&header, &refusal, &ctx);
    let msg = Message::parse(&nack, &ParseLimits::default()).expect("the NACK parses");
    let get = |p: &str| {
        msg.get_str_path(p)
            .unwrap()
            .map(|v| v.raw().to_vec())
            .unwrap_or_default()
    };
    assert_eq!(get("MSA-2"), b"ID");
    assert_eq!(get("MSH-6"), b"FAC");
    assert_eq!(get("MSH-11"), b"P^T");
    assert_eq!(get("MSH-12"), b"2.6^A^B");
}

/// Found by fuzz/nack_roundtrip: every NACK wardgate builds for a readable header parses with
/// wardgate's own limits and echoes the refused control id. Replays the committed regressions.
#[test]
fn fuzz_regressions_nack_roundtrip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/nack_roundtrip");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(header) = Header::parse(&bytes) else {
            continue;
        };
        let refusal = Refusal {
            code: AckCode::AR,
            error: ErrorCode::APPLICATION_INTERNAL_ERROR,
            severity: Severity::Error,
            application_code: None,
            user_message: "refused",
        };
        let ctx = ReplyContext {
            timestamp: "20261129120000",
            control_id: "WG1",
        };
        let nack = build_nack(&header, &refusal, &ctx);
        Message::parse(&nack, &ParseLimits::default()).unwrap_or_else(|e| {
            panic!(
                "NACK does not parse: {e}: {:?}",
                String::from_utf8_lossy(&nack)
            )
        });
        seen += 1;
    }
    assert!(seen >= 2, "regression inputs missing");
}

#[test]
fn a_message_that_does_not_parse_is_answered_with_the_code_of_its_fault() {
    use wardgate_hl7::{AckCode, AckMode, ErrorCode, Message, ParseLimits};
    let code = |raw: &[u8], limits: &ParseLimits| {
        let e = Message::parse(raw, limits).expect_err("refused");
        ErrorCode::for_parse_error(&e)
    };
    let defaults = ParseLimits::default();
    // MSH-10 missing: a required field.
    assert_eq!(
        code(b"MSH|^~\\&|A|B|C|D|1||RGV^O15", &defaults),
        ErrorCode::REQUIRED_FIELD_MISSING
    );
    // A segment id that is not one: the segments are not well formed.
    assert_eq!(
        code(b"MSH|^~\\&|A|B|C|D|1||RGV^O15|9|P|2.6\rrxg|1", &defaults),
        ErrorCode::SEGMENT_SEQUENCE
    );
    // Over a limit: a well-formed message this receiver will not take.
    let tight = ParseLimits {
        max_fields_per_segment: 5,
        ..ParseLimits::default()
    };
    assert_eq!(
        code(b"MSH|^~\\&|A|B|C|D|1||RGV^O15|9|P|2.6", &tight),
        ErrorCode::APPLICATION_INTERNAL_ERROR
    );
    assert_eq!(AckMode::Original.error(), AckCode::AE);
    assert_eq!(AckMode::Enhanced.error(), AckCode::CE);
    assert_eq!(AckMode::Original.reject(), AckCode::AR);
    assert_eq!(AckMode::Enhanced.reject(), AckCode::CR);
}
