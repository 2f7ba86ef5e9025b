#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every committed fuzz seed (`fuzz/corpus/<target>/`) and crash regression
//! (`fuzz/regressions/<target>/`) through the same `wardgate_pump::fuzzing` function the cargo-fuzz
//! target calls, on stable Rust, so a crash once found can never come back (ARCHITECTURE.md
//! convention 9, docs/FUZZING.md).

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;
use wardgate_pump::fuzzing;

#[test]
fn pump_frame() {
    replay("pump_frame", fuzzing::frame);
}
