//! The rule compiler reports diagnostics for any text and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_rules::{RuleSource, compile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = RuleSource {
        name: "fuzz.toml".into(),
        text: text.to_owned(),
        dir: None,
    };
    let _ = std::hint::black_box(compile(&[source]));
});
