//! Round trips: every typed frame encodes, frames, and parses back to itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use wardgate_pump::{CRC_LEN, Frame, FrameDecoder, FrameInfo, HEADER_LEN};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_encode_is_identity(frame in common::frame()) {
        let bytes = frame.encode().unwrap();
        let info = FrameDecoder::default().next_frame(&bytes).unwrap().unwrap();
        prop_assert_eq!(&info, &FrameInfo { consumed: bytes.len(), payload: HEADER_LEN..bytes.len() - CRC_LEN });
        prop_assert_eq!(Frame::parse(&bytes).unwrap(), frame);
    }

    #[test]
    fn every_strict_prefix_needs_more(frame in common::frame()) {
        let bytes = frame.encode().unwrap();
        let d = FrameDecoder::default();
        for len in 0..bytes.len() {
            prop_assert_eq!(d.next_frame(&bytes[..len]), Ok(None), "prefix {}", len);
        }
    }

    #[test]
    fn byte_at_a_time_equals_whole(frames in proptest::collection::vec(common::frame(), 1..4)) {
        let mut stream = Vec::new();
        for f in &frames {
            stream.extend_from_slice(&f.encode().unwrap());
        }
        let d = FrameDecoder::default();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in &stream {
            buf.push(b);
            if let Some(info) = d.next_frame(&buf).unwrap() {
                got.push(Frame::parse(&buf[..info.consumed]).unwrap().encode().unwrap());
                buf.drain(..info.consumed);
            }
        }
        prop_assert!(buf.is_empty());
        let whole: Vec<Vec<u8>> = frames.iter().map(|f| f.encode().unwrap()).collect();
        prop_assert_eq!(got, whole);
    }
}
