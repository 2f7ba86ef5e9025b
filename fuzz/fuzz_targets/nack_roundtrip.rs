//! Every NACK parses and echoes MSH-10. See `wardgate_hl7::fuzzing::nack_roundtrip`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_hl7::fuzzing::nack_roundtrip(data));
