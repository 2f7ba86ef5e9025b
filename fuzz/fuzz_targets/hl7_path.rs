//! HL7 path parsing round-trips through Display. See `wardgate_hl7::fuzzing::path`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_hl7::fuzzing::path(data));
