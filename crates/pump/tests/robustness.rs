//! Hostile input: no panics, and whatever the parser accepts the encoder reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use wardgate_pump::sim::PumpSim;
use wardgate_pump::{DeviceId, Frame, FrameDecoder, Header};

/// Replace bytes of a valid frame (keeping its length field) and fix the CRC, so the
/// mutation reaches the header and TLV parsers instead of stopping at the CRC.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    let n = bytes.len();
    for &(pos, val) in edits {
        let pos = pos % (n - 4);
        if !(4..8).contains(&pos) {
            bytes[pos] = val;
        }
    }
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn exercise(bytes: &[u8]) {
    let _ = FrameDecoder::default().next_frame(bytes);
    let _ = FrameDecoder::new(16).next_frame(bytes);
    let _ = Header::parse(bytes);
    if let Ok(frame) = Frame::parse(bytes) {
        // Anything accepted has a canonical encoding that parses back to the same value.
        let again = frame.encode().unwrap();
        assert_eq!(Frame::parse(&again).unwrap(), frame);
    }
    let mut pump = PumpSim::new(DeviceId::new("P1").unwrap(), "M", 8);
    let reply = pump.handle_bytes(bytes);
    if !reply.is_empty() {
        let r = Frame::parse(&reply).unwrap();
        assert!(r.header.flags.response);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..200)) {
        exercise(&bytes);
        let mut framed = b"WP\x01\x00".to_vec();
        framed.extend_from_slice(&bytes);
        exercise(&framed);
    }

    #[test]
    fn mutated_frames_with_fixed_crc(
        frame in common::frame(),
        edits in vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        exercise(&mutate(frame.encode().unwrap(), &edits));
    }
}
