//! Parsing and walking an HL7 v2 message never panics. See `wardgate_hl7::fuzzing::message`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_hl7::fuzzing::message(data));
