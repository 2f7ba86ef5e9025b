//! The IHE PCD-03 order view never panics. See `wardgate_hl7::fuzzing::pcd03`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_hl7::fuzzing::pcd03(data));
