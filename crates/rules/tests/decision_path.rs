#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The decision-path harness (`wardgate_rules::fuzzing::decision_path`) reaches the verdicts its
//! seeds are built for: a harness whose every input were refused, or closed at once, would check
//! its invariants on nothing. Seeds: `fuzz/corpus/decision_path/`, built by
//! `cargo run -p wardgate-rules --example decision_path_seeds`.

use std::path::Path;

use wardgate_rules::fuzzing::{PathInput, PathOutcome, PathProtocol, Peer, decision_path_outcome};

fn seed(name: &str) -> PathOutcome {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/decision_path")
        .join(format!("{name}.bin"));
    decision_path_outcome(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
}

fn outcome(forwarded: usize, refused: usize, relayed: usize, closed: bool) -> PathOutcome {
    PathOutcome {
        forwarded,
        refused,
        relayed,
        closed,
    }
}

#[test]
fn a_safe_order_is_forwarded_and_its_ack_relayed_an_overdose_is_nacked() {
    assert_eq!(seed("hl7-pcd03-heparin-icu-safe"), outcome(1, 0, 1, false));
    assert_eq!(seed("hl7-pcd03-heparin-icu-10x"), outcome(0, 1, 0, false));
    // Pipelined in one read: the safe order goes, the overdose is refused, the ACK comes back.
    assert_eq!(seed("hl7-safe-then-10x-pipelined"), outcome(1, 1, 1, false));
}

#[test]
fn an_order_without_the_bcma_certificate_is_refused() {
    assert_eq!(
        seed("hl7-safe-order-without-certificate"),
        outcome(0, 1, 0, false)
    );
}

#[test]
fn an_order_over_the_frame_limit_closes_the_connection_unforwarded() {
    assert_eq!(
        seed("hl7-order-over-512-byte-limit"),
        outcome(0, 0, 0, true)
    );
}

#[test]
fn an_ack_for_a_message_never_sent_is_not_relayed() {
    // One outstanding message at most: the second copy of the order is refused (backlog), the
    // unmatched ACK is dropped, the commit ACK passes.
    assert_eq!(
        seed("hl7-unmatched-ack-and-commit-ack"),
        outcome(1, 1, 1, false)
    );
}

#[test]
fn pump_commands_are_judged_with_the_state_of_the_channel() {
    assert_eq!(seed("pump-program-heparin-safe"), outcome(1, 0, 1, false));
    assert_eq!(seed("pump-program-heparin-10x"), outcome(0, 1, 0, false));
    // After the safe program: a safe rate change goes, a jump is refused.
    assert_eq!(seed("pump-change-rate-safe"), outcome(2, 0, 2, false));
    assert_eq!(seed("pump-change-rate-jump"), outcome(1, 1, 1, false));
    // A corrupted CRC under a readable header: NAK 2, then the connection closes.
    assert_eq!(seed("pump-program-bad-crc"), outcome(0, 1, 0, true));
}

#[test]
fn dicom_associations_and_commands_are_judged() {
    // RQ, C-STORE, C-ECHO and A-RELEASE-RQ forwarded; AC, C-STORE-RSP and A-RELEASE-RP relayed.
    assert_eq!(
        seed("dicom-ct01-store-echo-release"),
        outcome(4, 0, 3, true)
    );
    // A C-STORE on the Verification context: DIMSE failure, its PDU cut out, the C-ECHO goes.
    assert_eq!(
        seed("dicom-ct01-store-on-verification-context-refused"),
        outcome(2, 1, 1, false)
    );
    // The same refusal sharing one PDU with a C-ECHO: the PDU is rebuilt with the C-ECHO only
    // (the harness checks the rebuilt PDU holds exactly that PDV).
    assert_eq!(
        seed("dicom-ct01-refused-store-and-echo-share-a-pdu"),
        outcome(2, 1, 1, false)
    );
    assert_eq!(seed("dicom-ct01-move-aborts"), outcome(1, 0, 1, true));
    assert_eq!(seed("dicom-unknown-host-rejected"), outcome(0, 1, 0, true));
    assert_eq!(
        seed("dicom-unknown-called-ae-rejected"),
        outcome(0, 1, 0, true)
    );
}

#[test]
fn chunking_does_not_change_the_verdicts() {
    // The same two orders fed one byte per read and whole give the same outcome.
    let order = |name: &str| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/hl7")
            .join(name);
        wardgate_hl7::wrap(&std::fs::read(p).unwrap())
    };
    let mut stream = order("pcd03-heparin-icu-safe.hl7");
    stream.extend(order("pcd03-norepinephrine-icu-overdose.hl7"));
    let input = |chunks: Vec<Vec<u8>>| PathInput {
        protocol: PathProtocol::Hl7,
        options: 0,
        max_outstanding: 7,
        chunks: chunks.into_iter().map(|c| (Peer::Client, 0, c)).collect(),
    };
    let whole = decision_path_outcome(&input(vec![stream.clone()]).encode());
    let dripped = decision_path_outcome(&input(stream.iter().map(|&b| vec![b]).collect()).encode());
    assert_eq!(whole, outcome(1, 1, 0, false));
    assert_eq!(dripped, whole);
}
