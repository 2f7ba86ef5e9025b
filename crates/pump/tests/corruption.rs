//! Single-byte corruption is always detected (docs/pump-protocol.md §2.5).
//!
//! Outside the length field a changed byte is refused on sight (magic, version, flags) or by
//! the CRC. A changed length byte moves the frame's end: a longer length makes the decoder wait
//! (`Ok(None)`) or exceed the limit; a shorter one makes it read the CRC from payload bytes,
//! which fails unless those four bytes happen to equal the CRC of the shorter span (odds
//! 2^-32 per corruption, not a guarantee). Never does a corrupted frame parse as a valid one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use wardgate_pump::{Frame, FrameDecoder, FrameError};

const LENGTH_FIELD: core::ops::Range<usize> = 4..8;

fn check_corruption(bytes: &[u8], pos: usize, new: u8) -> Result<(), String> {
    let mut bad = bytes.to_vec();
    if bad[pos] == new {
        return Ok(());
    }
    bad[pos] = new;
    let got = FrameDecoder::default().next_frame(&bad);
    let ok = match (pos, got) {
        (0 | 1, Err(FrameError::BadMagic { offset, .. })) => offset == pos,
        (2, Err(FrameError::UnsupportedVersion(v))) => v == new,
        (3, Err(FrameError::ReservedFlags(_))) => true,
        // Flipping a defined flag bit keeps the envelope valid; the CRC catches it.
        (3, Err(FrameError::BadCrc { .. })) => true,
        (p, Ok(None) | Err(FrameError::TooLarge { .. } | FrameError::BadCrc { .. }))
            if LENGTH_FIELD.contains(&p) =>
        {
            true
        }
        (_, Err(FrameError::BadCrc { .. })) => true,
        _ => false,
    };
    // Whatever the framer says, the corrupted buffer never parses as a frame.
    if ok && Frame::parse(&bad).is_err() {
        Ok(())
    } else {
        Err(format!(
            "byte {pos} set to {new:#04x}: framer said {:?}",
            FrameDecoder::default().next_frame(&bad)
        ))
    }
}

#[test]
fn every_substitution_in_doc_examples_is_detected() {
    for (name, frame) in common::doc_examples() {
        let bytes = frame.encode().unwrap();
        for pos in 0..bytes.len() {
            for new in 0..=255u8 {
                check_corruption(&bytes, pos, new)
                    .map_err(|e| format!("{name}: {e}"))
                    .unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn single_byte_corruption_is_detected(
        frame in common::frame(),
        pos_seed in any::<usize>(),
        bit in 0u8..8,
        new in any::<u8>(),
    ) {
        let bytes = frame.encode().unwrap();
        let pos = pos_seed % bytes.len();
        check_corruption(&bytes, pos, bytes[pos] ^ (1 << bit)).map_err(TestCaseError::fail)?;
        check_corruption(&bytes, pos, new).map_err(TestCaseError::fail)?;
    }
}
