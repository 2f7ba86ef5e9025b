//! Framer tests: early refusal, limits, back-to-back frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wardgate_pump::{
    Command, CommandCode, DeviceId, Flags, Frame, FrameDecoder, FrameError, FrameInfo, HEADER_LEN,
    MAX_PAYLOAD, ParseError, Tlv, TlvType,
};

fn start() -> Vec<u8> {
    Frame::new(
        Flags::request(true),
        9,
        DeviceId::new("P1").unwrap(),
        1,
        Command::Start,
    )
    .encode()
    .unwrap()
}

#[test]
fn huge_declared_length_refused_with_six_bytes() {
    let d = FrameDecoder::default();
    let huge = [b'W', b'P', 1, 0, 0xFF, 0xFF];
    assert_eq!(
        d.next_frame(&huge),
        Err(FrameError::TooLarge {
            declared: 0xFFFF_0000,
            limit: MAX_PAYLOAD
        })
    );
    // With all four length bytes the exact value is reported.
    assert_eq!(
        d.next_frame(&[b'W', b'P', 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
        Err(FrameError::TooLarge {
            declared: u32::MAX,
            limit: MAX_PAYLOAD
        })
    );
    // A configured lower limit applies the same way.
    let small = FrameDecoder::new(100);
    assert_eq!(
        small.next_frame(&[b'W', b'P', 1, 0, 0, 0, 0, 101]),
        Err(FrameError::TooLarge {
            declared: 101,
            limit: 100
        })
    );
    assert_eq!(
        small.next_frame(&[b'W', b'P', 1, 0, 0, 0, 0, 100]),
        Ok(None)
    );
}

#[test]
fn envelope_errors_on_sight() {
    let d = FrameDecoder::default();
    assert_eq!(
        d.next_frame(&[0x00]),
        Err(FrameError::BadMagic { offset: 0, byte: 0 })
    );
    assert_eq!(
        d.next_frame(b"WP\x00"),
        Err(FrameError::UnsupportedVersion(0))
    );
    for bit in 2..8 {
        let flags = 1u8 << bit;
        assert_eq!(
            d.next_frame(&[b'W', b'P', 1, flags]),
            Err(FrameError::ReservedFlags(flags))
        );
    }
    // A whole frame with a reserved flag (CRC recomputed) is refused by parse too.
    let mut f = start();
    f[3] |= 0x80;
    let n = f.len();
    let crc = crc32fast::hash(&f[..n - 4]);
    f[n - 4..].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        Frame::parse(&f),
        Err(ParseError::Frame(FrameError::ReservedFlags(0x82)))
    );
}

#[test]
fn bad_crc_reports_both_values() {
    let mut f = start();
    let n = f.len();
    let good = u32::from_be_bytes(f[n - 4..].try_into().unwrap());
    f[n - 1] ^= 0xFF;
    assert_eq!(
        FrameDecoder::default().next_frame(&f),
        Err(FrameError::BadCrc {
            expected: good,
            found: good ^ 0xFF
        })
    );
}

#[test]
fn back_to_back_frames_and_trailing_bytes() {
    let one = start();
    let mut buf = one.clone();
    buf.extend_from_slice(&one);
    buf.push(b'W');
    let d = FrameDecoder::default();
    let info = d.next_frame(&buf).unwrap().unwrap();
    assert_eq!(info.consumed, one.len());
    assert_eq!(
        Frame::parse(&buf[..one.len() + 1]),
        Err(ParseError::TrailingBytes { extra: 1 })
    );
    buf.drain(..info.consumed);
    let info = d.next_frame(&buf).unwrap().unwrap();
    buf.drain(..info.consumed);
    assert_eq!(buf, b"W");
    assert_eq!(d.next_frame(&buf), Ok(None));
    assert_eq!(Frame::parse(&buf), Err(ParseError::Incomplete));
}

#[test]
fn payload_of_exactly_max_is_accepted() {
    // One unknown TLV filling the payload: 4 header bytes + value.
    let value = vec![0xAB; MAX_PAYLOAD as usize - 4 - 4 - 4];
    let tlvs = vec![
        Tlv {
            tlv_type: TlvType(0x9000),
            value: &value,
        },
        Tlv {
            tlv_type: TlvType(0x9001),
            value: &[1, 2, 3, 4],
        },
    ];
    let frame = Frame::new(
        Flags::request(false),
        1,
        DeviceId::new("P1").unwrap(),
        0,
        Command::Unknown {
            code: CommandCode(0x7777),
            tlvs,
        },
    );
    let bytes = frame.encode().unwrap();
    assert_eq!(bytes.len(), HEADER_LEN + MAX_PAYLOAD as usize + 4);
    assert_eq!(
        FrameDecoder::default().next_frame(&bytes),
        Ok(Some(FrameInfo {
            consumed: bytes.len(),
            payload: HEADER_LEN..HEADER_LEN + MAX_PAYLOAD as usize
        }))
    );
    assert_eq!(Frame::parse(&bytes).unwrap(), frame);
}

#[test]
fn every_prefix_of_doc_examples_needs_more() {
    let d = FrameDecoder::default();
    for (name, frame) in common::doc_examples() {
        let bytes = frame.encode().unwrap();
        for len in 0..bytes.len() {
            assert_eq!(d.next_frame(&bytes[..len]), Ok(None), "{name} prefix {len}");
            assert_eq!(Frame::parse(&bytes[..len]), Err(ParseError::Incomplete));
        }
    }
}
