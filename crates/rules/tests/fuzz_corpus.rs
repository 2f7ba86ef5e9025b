#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every committed fuzz seed (`fuzz/corpus/<target>/`) and crash regression
//! (`fuzz/regressions/<target>/`) through the same `wardgate_rules::fuzzing` function the cargo-fuzz
//! target calls, on stable Rust, so a crash once found can never come back (ARCHITECTURE.md
//! convention 9, docs/FUZZING.md).

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;
use wardgate_rules::fuzzing;

#[test]
fn rule_compile() {
    replay("rule_compile", fuzzing::rule_compile);
}

#[test]
fn decision_path() {
    replay("decision_path", fuzzing::decision_path);
}
