//! The proxy configuration parser never panics and every error names the file. See `wardgate_proxy::fuzzing::proxy_config`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wardgate_proxy::fuzzing::proxy_config(data));
