//! Fuzz entry points: each function takes arbitrary bytes, never panics on its own, and panics
//! only when an invariant of this crate is broken. The cargo-fuzz targets in `fuzz/` call them
//! in one line, and `tests/fuzz_corpus.rs` replays the committed seeds and regressions through
//! them on stable Rust (ARCHITECTURE.md convention 9).

use crate::{CRC_LEN, Frame, FrameDecoder, FrameError, HEADER_LEN};

/// Byte offset of the 4-byte big-endian payload length in the header.
const LENGTH_OFFSET: usize = 4;

/// WPP framing and parsing:
///
/// - the framer and the parser never panic;
/// - every strict prefix of a complete frame is "more bytes needed", never an error (the framer
///   judges bytes as they arrive and never refuses a frame it would accept whole);
/// - a frame whose only fault is its CRC-32 is accepted once the CRC is corrected (so mutated
///   payloads reach the parser instead of stopping at the checksum);
/// - read-write-read: whatever parses re-encodes, and the encoding parses to the same frame.
///   Not byte for byte: TLV order is free on input and the encoder writes the canonical order
///   (docs/pump-protocol.md §4), so only the views must agree.
pub fn frame(data: &[u8]) {
    let decoder = FrameDecoder::default();
    match decoder.next_frame(data) {
        Ok(Some(info)) => check_frame(&decoder, &data[..info.consumed]),
        Err(FrameError::BadCrc { expected, .. }) => {
            let mut field = [0u8; 4];
            field.copy_from_slice(&data[LENGTH_OFFSET..LENGTH_OFFSET + 4]);
            let crc_at = HEADER_LEN + u32::from_be_bytes(field) as usize;
            let mut fixed = data[..crc_at + CRC_LEN].to_vec();
            fixed[crc_at..].copy_from_slice(&expected.to_be_bytes());
            match decoder.next_frame(&fixed) {
                Ok(Some(info)) if info.consumed == fixed.len() => check_frame(&decoder, &fixed),
                other => panic!("a frame with its CRC corrected is refused: {other:?}"),
            }
        }
        Ok(None) | Err(_) => {}
    }
}

/// `bytes` is exactly one frame the decoder accepted.
fn check_frame(decoder: &FrameDecoder, bytes: &[u8]) {
    for end in 0..bytes.len() {
        let prefix = decoder.next_frame(&bytes[..end]);
        assert_eq!(prefix, Ok(None), "a {end}-byte prefix of a frame");
    }
    if let Ok(frame) = Frame::parse(bytes) {
        let again = match frame.encode() {
            Ok(again) => again,
            Err(e) => panic!("a parsed frame does not re-encode: {e}\n{frame:?}"),
        };
        assert_eq!(
            Frame::parse(&again),
            Ok(frame),
            "parse/encode/parse changed the frame"
        );
    }
}
