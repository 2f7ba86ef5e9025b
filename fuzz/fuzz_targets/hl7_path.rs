//! `Path::parse` never panics, and a parsed path survives `Display`: parse(p.to_string()) == p.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardgate_hl7::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = Path::parse(text) {
        let shown = path.to_string();
        assert_eq!(
            Path::parse(&shown),
            Ok(path),
            "{text:?} displayed as {shown:?}"
        );
    }
});
