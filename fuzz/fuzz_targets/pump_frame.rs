//! Pump protocol: the framer and the parser never panic, and whatever parses re-encodes to the
//! same bytes (the encoder refuses anything it could not read back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_pump::{Frame, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(info)) = FrameDecoder::default().next_frame(data) {
        let bytes = &data[..info.consumed];
        if let Ok(frame) = Frame::parse(bytes) {
            let again = frame.encode().expect("a parsed frame re-encodes");
            assert_eq!(again, bytes, "parse/encode round trip changed the frame");
        }
    }
});
