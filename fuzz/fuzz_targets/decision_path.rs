//! The whole decision path (framer, parser, shipped rules, refusal) in both directions. See `wardgate_rules::fuzzing::decision_path`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_rules::fuzzing::decision_path(data));
