//! NAK building: what wardgate sends back for a refused command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wardgate_pump::{
    Command, DeviceId, Frame, FrameError, Header, MAX_TEXT_LEN, Nak, NakReason, ParseError,
    ReplyTo, build_nak,
};

#[test]
fn nak_echoes_request_and_parses() {
    let (_, program) = common::doc_examples().swap_remove(1);
    let bytes = program.encode().unwrap();
    let request = Frame::parse(&bytes).unwrap();
    let nak = build_nak(
        &ReplyTo::from(&request.header),
        NakReason::REFUSED_BY_POLICY,
        Some("rule heparin-max-rate"),
    );
    let reply = Frame::parse(&nak).unwrap();
    assert!(reply.header.flags.response);
    assert!(!reply.header.flags.ack_requested);
    assert_eq!(reply.header.sequence, request.header.sequence);
    assert_eq!(reply.header.device, request.header.device);
    assert_eq!(reply.header.channel, request.header.channel);
    assert_eq!(
        reply.command,
        Command::Nak(Nak {
            reason: NakReason::REFUSED_BY_POLICY,
            text: Some("rule heparin-max-rate")
        })
    );
    // Identical to the documented NAK example.
    assert_eq!(nak, common::doc_examples()[3].1.encode().unwrap());
}

#[test]
fn nak_text_is_sanitized_and_bounded() {
    let to = ReplyTo {
        sequence: 7,
        device: DeviceId::new("P1").unwrap(),
        channel: 2,
    };
    let long = "é".repeat(MAX_TEXT_LEN);
    let nak = build_nak(
        &to,
        NakReason::LIMIT_EXCEEDED,
        Some(&format!("a\nb\u{7}{long}")),
    );
    match Frame::parse(&nak).unwrap().command {
        Command::Nak(Nak { text: Some(t), .. }) => {
            assert!(t.starts_with("a?b?é"));
            assert!(t.len() <= MAX_TEXT_LEN && t.len() >= MAX_TEXT_LEN - 1);
        }
        other => panic!("{other:?}"),
    }
    // Reason 0 is reserved; the builder never emits it.
    let nak = build_nak(&to, NakReason(0), None);
    assert!(matches!(
        Frame::parse(&nak).unwrap().command,
        Command::Nak(Nak {
            reason: NakReason::MALFORMED,
            text: None
        })
    ));
}

#[test]
fn nak_for_unaddressed_or_odd_headers_still_parses() {
    let to = ReplyTo {
        sequence: 1,
        device: DeviceId::UNADDRESSED,
        channel: 200,
    };
    let bytes = build_nak(&to, NakReason::UNSUPPORTED, None);
    let reply = Frame::parse(&bytes).unwrap();
    assert_eq!(reply.header.device.as_str(), "?");
    assert_eq!(reply.header.channel, 0);
}

#[test]
fn parse_errors_map_to_reasons() {
    assert_eq!(
        ParseError::Frame(FrameError::BadCrc {
            expected: 1,
            found: 2
        })
        .nak_reason(),
        NakReason::CRC
    );
    assert_eq!(
        ParseError::Frame(FrameError::TooLarge {
            declared: 1 << 20,
            limit: 1 << 16
        })
        .nak_reason(),
        NakReason::LIMIT_EXCEEDED
    );
    assert_eq!(ParseError::Incomplete.nak_reason(), NakReason::MALFORMED);
    // A malformed body with a readable header: NAK it, addressed from the header.
    let bytes = common::raw_frame(0, "P1", 1, 0x0020, &[(0x0020, b"")]);
    let err = Frame::parse(&bytes).unwrap_err();
    let header = Header::parse(&bytes).unwrap();
    let nak = build_nak(
        &ReplyTo::from(&header),
        err.nak_reason(),
        Some(&err.to_string()),
    );
    let reply = Frame::parse(&nak).unwrap();
    assert_eq!(reply.header.sequence, 42);
    assert!(matches!(
        reply.command,
        Command::Nak(Nak {
            reason: NakReason::MALFORMED,
            ..
        })
    ));
}
