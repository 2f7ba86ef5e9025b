#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every committed fuzz seed (`fuzz/corpus/<target>/`) and crash regression
//! (`fuzz/regressions/<target>/`) through the same `wardgate_hl7::fuzzing` function the cargo-fuzz
//! target calls, on stable Rust, so a crash once found can never come back (ARCHITECTURE.md
//! convention 9, docs/FUZZING.md).

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;
use wardgate_hl7::fuzzing;

#[test]
fn mllp_framer() {
    replay("mllp_framer", fuzzing::mllp_framer);
}

#[test]
fn hl7_message() {
    replay("hl7_message", fuzzing::message);
}

#[test]
fn hl7_path() {
    replay("hl7_path", fuzzing::path);
}

#[test]
fn pcd03() {
    replay("pcd03", fuzzing::pcd03);
}

#[test]
fn nack_roundtrip() {
    replay("nack_roundtrip", fuzzing::nack_roundtrip);
}
