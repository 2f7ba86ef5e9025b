//! The rule compiler never panics and always explains a failure. See `wardgate_rules::fuzzing::rule_compile`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_rules::fuzzing::rule_compile(data));
