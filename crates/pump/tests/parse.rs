//! Parser tests: unknowns stay raw, every rule has a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{q, raw_frame};
use wardgate_pump::{
    ChunkError, Command, CommandCode, DeviceIdError, Frame, Header, ParseError, StringError, Tlv,
    TlvType, Unit,
};

const REQ: u8 = 0x00;
const RESP: u8 = 0x01;
const PROGRAM: u16 = 0x0020;

fn program_tlvs() -> Vec<(u16, Vec<u8>)> {
    vec![
        (0x0020, b"MORPH-1".to_vec()),
        (0x0022, q(5_000, 0x0030)),
        (0x0023, q(100_000, 0x0001)),
        (0x0025, b"ICU".to_vec()),
        (0x0026, b"ORD-1".to_vec()),
    ]
}

fn parse_program(tlvs: &[(u16, Vec<u8>)]) -> Result<(), ParseError> {
    let refs: Vec<(u16, &[u8])> = tlvs.iter().map(|(t, v)| (*t, v.as_slice())).collect();
    let bytes = raw_frame(REQ, "P1", 1, PROGRAM, &refs);
    Frame::parse(&bytes).map(|_| ())
}

fn with(mut tlvs: Vec<(u16, Vec<u8>)>, t: u16, v: Vec<u8>) -> Vec<(u16, Vec<u8>)> {
    tlvs.retain(|(x, _)| *x != t);
    tlvs.push((t, v));
    tlvs
}

fn without(mut tlvs: Vec<(u16, Vec<u8>)>, t: u16) -> Vec<(u16, Vec<u8>)> {
    tlvs.retain(|(x, _)| *x != t);
    tlvs
}

#[test]
fn unknown_command_keeps_code_and_tlvs_raw() {
    let bytes = raw_frame(
        RESP,
        "P1",
        3,
        0x4242,
        &[(0x0026, b"x"), (0xBEEF, b"\x00\x01")],
    );
    let frame = Frame::parse(&bytes).unwrap();
    assert_eq!(
        frame.command,
        Command::Unknown {
            code: CommandCode(0x4242),
            tlvs: vec![
                Tlv {
                    tlv_type: TlvType::ORDER_ID,
                    value: b"x"
                },
                Tlv {
                    tlv_type: TlvType(0xBEEF),
                    value: b"\x00\x01"
                },
            ]
        }
    );
    assert!(frame.unknown.is_empty());
    assert_eq!(frame.header.channel, 3);
}

#[test]
fn unknown_tlv_in_known_command_is_kept_raw() {
    let mut tlvs = program_tlvs();
    tlvs.insert(2, (0xC001, vec![9, 9, 9]));
    let refs: Vec<(u16, &[u8])> = tlvs.iter().map(|(t, v)| (*t, v.as_slice())).collect();
    let bytes = raw_frame(REQ, "P1", 1, PROGRAM, &refs);
    let frame = Frame::parse(&bytes).unwrap();
    assert!(matches!(frame.command, Command::ProgramInfusion(ref p) if p.order_id == "ORD-1"));
    assert_eq!(
        frame.unknown,
        vec![Tlv {
            tlv_type: TlvType(0xC001),
            value: &[9, 9, 9]
        }]
    );
}

#[test]
fn program_field_errors_are_typed() {
    assert_eq!(parse_program(&program_tlvs()), Ok(()));
    let code = CommandCode::PROGRAM_INFUSION;
    assert_eq!(
        parse_program(&without(program_tlvs(), 0x0026)),
        Err(ParseError::MissingTlv {
            code,
            tlv: TlvType::ORDER_ID
        })
    );
    assert_eq!(
        parse_program(&with(program_tlvs(), 0x0022, vec![0; 5])),
        Err(ParseError::TlvLength {
            tlv: TlvType::RATE,
            expected: 6,
            found: 5
        })
    );
    // A dose in the rate field.
    assert_eq!(
        parse_program(&with(program_tlvs(), 0x0022, q(5_000, 0x0011))),
        Err(ParseError::WrongUnitKind {
            tlv: TlvType::RATE,
            unit: Unit::Mg
        })
    );
    assert_eq!(
        parse_program(&with(program_tlvs(), 0x0023, q(5_000, 0x0000))),
        Err(ParseError::UnknownUnit {
            tlv: TlvType::VTBI,
            unit: 0
        })
    );
    assert_eq!(
        parse_program(&with(program_tlvs(), 0x0023, q(1_000_000_001, 0x0001))),
        Err(ParseError::QuantityOutOfRange {
            tlv: TlvType::VTBI,
            milli: 1_000_000_001
        })
    );
    assert_eq!(
        parse_program(&with(program_tlvs(), 0x0025, b" ICU".to_vec())),
        Err(ParseError::BadString {
            tlv: TlvType::CARE_AREA,
            error: StringError::EdgeSpace
        })
    );
    // Dose mode without concentration; per-kg dose rate without weight.
    let dosed = with(program_tlvs(), 0x0024, q(18_000, 0x0055));
    assert_eq!(
        parse_program(&dosed),
        Err(ParseError::MissingTlv {
            code,
            tlv: TlvType::CONCENTRATION
        })
    );
    let dosed = with(dosed, 0x0021, q(100_000, 0x0062));
    assert_eq!(
        parse_program(&dosed),
        Err(ParseError::MissingTlv {
            code,
            tlv: TlvType::PATIENT_WEIGHT
        })
    );
    assert_eq!(
        parse_program(&with(dosed, 0x0027, q(70_000, 0x0002))),
        Ok(())
    );
    // A known TLV that PROGRAM-INFUSION does not carry.
    assert_eq!(
        parse_program(&with(program_tlvs(), 0x0055, vec![1])),
        Err(ParseError::UnexpectedTlv {
            code,
            tlv: TlvType::CHUNK_DATA
        })
    );
    let mut dup = program_tlvs();
    dup.push((0x0020, b"OTHER".to_vec()));
    assert_eq!(
        parse_program(&dup),
        Err(ParseError::DuplicateTlv(TlvType::DRUG_CODE))
    );
}

#[test]
fn header_rules() {
    // Requests must not carry the response flag, responses must.
    assert_eq!(
        Frame::parse(&raw_frame(RESP, "P1", 1, 0x0030, &[])),
        Err(ParseError::Direction {
            code: CommandCode::START,
            response: true
        })
    );
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P1", 1, 0x00F0, &[])),
        Err(ParseError::Direction {
            code: CommandCode::ACK,
            response: false
        })
    );
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P1", 0, 0x0030, &[])),
        Err(ParseError::ChannelNotAllowed {
            code: CommandCode::START,
            channel: 0
        })
    );
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P1", 2, 0x0050, &[])),
        Err(ParseError::ChannelNotAllowed {
            code: CommandCode::SET_CONFIG,
            channel: 2
        })
    );
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P1", 9, 0x4242, &[])),
        Err(ParseError::BadChannel(9))
    );
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "", 1, 0x0030, &[])),
        Err(ParseError::Unaddressed {
            code: CommandCode::START
        })
    );
    assert!(Frame::parse(&raw_frame(REQ, "", 0, 0x0001, &[])).is_ok());
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P 1", 1, 0x0030, &[])),
        Err(ParseError::DeviceId(DeviceIdError::BadByte {
            offset: 1,
            byte: b' '
        }))
    );
    // The header is readable on its own even when the body is not (to address a NAK).
    let bytes = raw_frame(REQ, "P1", 1, PROGRAM, &[(0x0020, b"")]);
    assert!(Frame::parse(&bytes).is_err());
    let h = Header::parse(&bytes).unwrap();
    assert_eq!((h.sequence, h.device.as_str(), h.channel), (42, "P1", 1));
}

#[test]
fn tlv_structure_errors() {
    let mut bytes = raw_frame(REQ, "P1", 1, 0x0030, &[(0x9000, b"abc")]);
    // Claim 4 value bytes where 3 follow; fix the CRC.
    bytes[31 + 3] = 4;
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        Frame::parse(&bytes),
        Err(ParseError::TruncatedTlv { offset: 0 })
    );
    let many: Vec<(u16, &[u8])> = (0..65u16).map(|t| (0x9000 + t, &b""[..])).collect();
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P1", 1, 0x0030, &many)),
        Err(ParseError::TooManyTlvs { limit: 64 })
    );
}

#[test]
fn coded_values_and_chunks() {
    assert_eq!(
        Frame::parse(&raw_frame(
            REQ,
            "P1",
            1,
            0x0040,
            &[(0x0030, b"\x00\x01"), (0x0031, b"\x04")]
        )),
        Err(ParseError::BadValue {
            tlv: TlvType::ALARM_SEVERITY,
            value: 4
        })
    );
    assert_eq!(
        Frame::parse(&raw_frame(RESP, "P1", 1, 0x00F1, &[(0x0060, b"\x00\x00")])),
        Err(ParseError::BadValue {
            tlv: TlvType::NAK_REASON,
            value: 0
        })
    );
    let chunk = |index: u32, count: u32, total: u32, data: &[u8]| {
        let (i, c, t) = (
            index.to_be_bytes(),
            count.to_be_bytes(),
            total.to_be_bytes(),
        );
        let tlvs: Vec<(u16, &[u8])> = vec![
            (0x0050, b"\x00\x00\x00\x07"),
            (0x0051, &i),
            (0x0052, &c),
            (0x0053, &t),
            (0x0054, &[0u8; 32]),
            (0x0056, b"DL-2"),
            (0x0055, data),
        ];
        Frame::parse(&raw_frame(REQ, "P1", 0, 0x0060, &tlvs)).map(|_| ())
    };
    assert_eq!(chunk(0, 2, 10, b"abc"), Ok(()));
    assert_eq!(
        chunk(2, 2, 10, b"abc"),
        Err(ParseError::BadChunk(ChunkError::IndexOutOfRange {
            index: 2,
            count: 2
        }))
    );
    assert_eq!(
        chunk(0, 0, 10, b"abc"),
        Err(ParseError::BadChunk(ChunkError::BadCount(0)))
    );
    assert_eq!(
        chunk(0, 2, 10, b""),
        Err(ParseError::BadChunk(ChunkError::BadChunkLen(0)))
    );
    assert_eq!(
        chunk(0, 2, 2, b"abc"),
        Err(ParseError::BadChunk(ChunkError::BadTotalSize {
            total: 2,
            count: 2
        }))
    );
}

#[test]
fn status_report_rules() {
    let report = |ch: u8| {
        let mut v = Vec::new();
        for (t, val) in [
            (0x0011u16, vec![ch]),
            (0x0012, vec![2]),
            (0x0022, q(5_000, 0x0030)),
            (0x0013, q(1_000, 0x0001)),
            (0x0014, q(9_000, 0x0001)),
        ] {
            v.extend_from_slice(&t.to_be_bytes());
            v.extend_from_slice(&(val.len() as u16).to_be_bytes());
            v.extend_from_slice(&val);
        }
        v
    };
    let (r1, r2) = (report(1), report(2));
    let ok = raw_frame(RESP, "P1", 0, 0x0011, &[(0x0010, &r1), (0x0010, &r2)]);
    match Frame::parse(&ok).unwrap().command {
        Command::StatusReport(s) => assert_eq!(s.channels.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Frame::parse(&raw_frame(
            RESP,
            "P1",
            0,
            0x0011,
            &[(0x0010, &r2), (0x0010, &r1)]
        )),
        Err(ParseError::ReportOrder { channel: 1 })
    );
    assert_eq!(
        Frame::parse(&raw_frame(RESP, "P1", 0, 0x0011, &[])),
        Err(ParseError::MissingTlv {
            code: CommandCode::STATUS_REPORT,
            tlv: TlvType::CHANNEL_REPORT
        })
    );
    // CHANNEL-REPORT is repeatable only where it belongs.
    assert_eq!(
        Frame::parse(&raw_frame(REQ, "P1", 1, 0x0030, &[(0x0010, &r1)])),
        Err(ParseError::UnexpectedTlv {
            code: CommandCode::START,
            tlv: TlvType::CHANNEL_REPORT
        })
    );
}
