//! WPP framing, parsing and the parse/encode round trip. See `wardgate_pump::fuzzing::frame`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_pump::fuzzing::frame(data));
