//! Shared by the library crates' `tests/fuzz_corpus.rs` (included with `#[path]`): replays every
//! committed fuzz seed (`fuzz/corpus/<target>/`) and crash regression (`fuzz/regressions/<target>/`)
//! through the library function the cargo-fuzz target calls, on stable Rust, so a crash once
//! found can never come back (ARCHITECTURE.md convention 9, docs/FUZZING.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Run `check` on every file of the target's corpus and regressions; fail naming the file
/// that broke an invariant, or when the corpus folder is missing or empty.
pub fn replay(target: &str, check: fn(&[u8])) {
    // Every library crate sits two levels below the repository root.
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut seeds = 0;
    for (kind, required) in [("corpus", true), ("regressions", false)] {
        let dir = fuzz.join(kind).join(target);
        if !required && !dir.exists() {
            continue;
        }
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut found = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                panic!("{target}: {} breaks an invariant", path.display());
            }
            found += 1;
        }
        assert!(
            !required || found > 0,
            "{target}: no seed files in {}",
            dir.display()
        );
        seeds += found;
    }
    eprintln!("{target}: {seeds} files replayed");
}
