//! MLLP framing is independent of read boundaries. See `wardgate_hl7::fuzzing::mllp_framer`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_hl7::fuzzing::mllp_framer(data));
