//! Fuzz entry point for the proxy's configuration: takes arbitrary bytes, never panics on its
//! own, and panics only when an invariant is broken. The cargo-fuzz target `proxy_config` calls
//! it in one line, and `tests/fuzz_corpus.rs` replays the committed seeds and regressions through
//! it on stable Rust (ARCHITECTURE.md convention 9).

use std::path::Path;

use crate::config::{Config, ConfigError};

/// The name the fuzzed text is parsed under: every error must carry it.
const NAME: &str = "fuzz-wardgate.toml";

/// `Config::parse` of any UTF-8 text never panics, and every error names the file (a person
/// with several configuration files must know which one is wrong). Relative paths are resolved
/// against a base folder, as `Config::load` does.
pub fn proxy_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, NAME, Some(Path::new("/etc/wardgate"))) {
        Ok(config) => {
            std::hint::black_box(config);
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(
                shown.starts_with(NAME),
                "error does not name the file: {shown}"
            );
            match &e {
                ConfigError::Syntax { path, .. } | ConfigError::Invalid { path, .. } => {
                    assert_eq!(path, NAME, "{shown}");
                }
                ConfigError::Read { .. } => panic!("parsing text read a file: {shown}"),
            }
        }
    }
}
