//! Fuzz entry points: each function takes arbitrary bytes, never panics on its own, and panics
//! only when an invariant of this crate is broken. The cargo-fuzz target in `fuzz/` calls it in
//! one line, and `tests/fuzz_corpus.rs` replays the committed seeds and regressions through it
//! on stable Rust (ARCHITECTURE.md convention 9).

use crate::{RuleSource, compile};

mod decision;
mod decision_dicom;
mod decision_hl7;
mod decision_pump;

pub use decision::{PathInput, PathOutcome, PathProtocol, Peer, decision_path_outcome};

/// The whole decision path, as the proxy runs it, on fuzzer-chosen protocol, options, chunking
/// and traffic in both directions (input format: docs/FUZZING.md): a refused message never reaches the upstream; what does is complete input
/// frames, byte-identical and in order; every refusal parses with wardgate's own parser and names
/// the refused message; buffers and state stay within their limits.
pub fn decision_path(data: &[u8]) {
    std::hint::black_box(decision_path_outcome(data));
}

/// The rule compiler, on any UTF-8 text as one rule file named `fuzz.toml`: `compile` never
/// panics, and a failed compilation reports at least one diagnostic, each naming that file
/// with a 1-based line and column (and every diagnostic formats).
pub fn rule_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = RuleSource {
        name: "fuzz.toml".into(),
        text: text.to_owned(),
        dir: None,
    };
    if let Err(diagnostics) = compile(&[source]) {
        assert!(!diagnostics.0.is_empty(), "failed without a diagnostic");
        for d in &diagnostics.0 {
            assert_eq!(&*d.file, "fuzz.toml", "{d}");
            assert!(d.line >= 1 && d.column >= 1, "{d}");
        }
        std::hint::black_box(diagnostics.to_string());
    }
}
