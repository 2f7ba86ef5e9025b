//! Framer: "need more" until the last byte, early refusal of bad headers (PS3.8 §9.3.1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{pdu, valid_pdus};
use wardgate_dicom::{DEFAULT_MAX_PDU_LEN, FramerError, PduFramer, PduInfo, PduType, decode_pdu};

#[test]
fn every_strict_prefix_of_every_valid_pdu_needs_more() {
    let framer = PduFramer::default();
    for whole in valid_pdus() {
        for end in 0..whole.len() {
            assert_eq!(
                framer.next_pdu(&whole[..end]),
                Ok(None),
                "prefix {end} of {whole:02x?}"
            );
        }
        let info = framer.next_pdu(&whole).unwrap().unwrap();
        assert_eq!(info.consumed, whole.len());
        assert!(decode_pdu(&whole).is_ok(), "{whole:02x?}");
    }
}

#[test]
fn byte_at_a_time_equals_whole() {
    let framer = PduFramer::default();
    let stream: Vec<u8> = valid_pdus().concat();
    let mut whole = Vec::new();
    let mut rest = &stream[..];
    while let Some(info) = framer.next_pdu(rest).unwrap() {
        whole.push(info);
        rest = &rest[info.consumed..];
    }
    assert!(rest.is_empty());

    let mut trickled = Vec::new();
    let mut buf = Vec::new();
    for &b in &stream {
        buf.push(b);
        if let Some(info) = framer.next_pdu(&buf).unwrap() {
            trickled.push(info);
            buf.drain(..info.consumed);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(trickled, whole);
    assert_eq!(whole.len(), valid_pdus().len());
}

#[test]
fn four_gib_length_refused_with_only_six_bytes() {
    let framer = PduFramer::default();
    assert_eq!(
        framer.next_pdu(&[0x04, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]),
        Err(FramerError::TooLarge {
            pdu_type: PduType::P_DATA_TF,
            declared: u32::MAX,
            limit: DEFAULT_MAX_PDU_LEN
        })
    );
    // Already the first length byte proves it.
    assert!(matches!(
        framer.next_pdu(&[0x01, 0x00, 0xFF]),
        Err(FramerError::TooLarge { .. })
    ));
}

#[test]
fn configured_limit_applies_to_the_exact_length() {
    let framer = PduFramer::new(16_384);
    let at_limit = [0x04, 0, 0x00, 0x00, 0x40, 0x00];
    assert_eq!(framer.next_pdu(&at_limit), Ok(None));
    assert_eq!(
        framer.next_pdu(&[0x04, 0, 0x00, 0x00, 0x40, 0x01]),
        Err(FramerError::TooLarge {
            pdu_type: PduType::P_DATA_TF,
            declared: 16_385,
            limit: 16_384
        })
    );
}

#[test]
fn unknown_pdu_types_are_refused_on_the_first_byte() {
    let framer = PduFramer::default();
    for t in [0x00u8, 0x08, 0x10, 0xFF] {
        assert_eq!(framer.next_pdu(&[t]), Err(FramerError::UnknownPduType(t)));
    }
}

#[test]
fn fixed_length_pdus_must_declare_four() {
    let framer = PduFramer::default();
    assert_eq!(
        framer.next_pdu(&pdu(0x03, &[0, 1, 1, 1, 0])),
        Err(FramerError::BadFixedLength {
            pdu_type: PduType::ASSOCIATE_RJ,
            declared: 5
        })
    );
    // Refused with the header alone, before the body arrives.
    for t in [0x03, 0x05, 0x06, 0x07] {
        assert_eq!(
            framer.next_pdu(&[t, 0, 0, 0, 0, 3]),
            Err(FramerError::BadFixedLength {
                pdu_type: PduType(t),
                declared: 3
            })
        );
    }
}

#[test]
fn bodies_shorter_than_their_fixed_fields_are_refused() {
    let framer = PduFramer::default();
    assert_eq!(
        framer.next_pdu(&[0x01, 0, 0, 0, 0, 67]),
        Err(FramerError::TooShort {
            pdu_type: PduType::ASSOCIATE_RQ,
            declared: 67,
            minimum: 68
        })
    );
    assert_eq!(
        framer.next_pdu(&[0x04, 0, 0, 0, 0, 5]),
        Err(FramerError::TooShort {
            pdu_type: PduType::P_DATA_TF,
            declared: 5,
            minimum: 6
        })
    );
}

#[test]
fn back_to_back_pdus_are_found_one_at_a_time() {
    let framer = PduFramer::default();
    let mut stream = pdu(0x05, &[0; 4]);
    stream.extend(pdu(0x06, &[0; 4]));
    assert_eq!(
        framer.next_pdu(&stream),
        Ok(Some(PduInfo {
            pdu_type: PduType::RELEASE_RQ,
            consumed: 10
        }))
    );
}
