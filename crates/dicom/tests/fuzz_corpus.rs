#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every committed fuzz seed (`fuzz/corpus/<target>/`) and crash regression
//! (`fuzz/regressions/<target>/`) through the same `wardgate_dicom::fuzzing` function the cargo-fuzz
//! target calls, on stable Rust, so a crash once found can never come back (ARCHITECTURE.md
//! convention 9, docs/FUZZING.md).

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;
use wardgate_dicom::fuzzing;

#[test]
fn dicom_pdu() {
    replay("dicom_pdu", fuzzing::pdu);
}

#[test]
fn dicom_command_set() {
    replay("dicom_command_set", fuzzing::command_set);
}

#[test]
fn dicom_associate() {
    replay("dicom_associate", fuzzing::associate);
}

#[test]
fn dicom_reassembly() {
    replay("dicom_reassembly", fuzzing::reassembly);
}
