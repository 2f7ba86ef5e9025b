//! The pump rules judge command sequences the way a clinician would expect, and their state is
//! bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use wardgate_pump::Frame;
use wardgate_rules::{CertIdentity, PumpState, RuleSet, Sender, Verdict, compile, load_rule_files};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped() -> RuleSet {
    let sources = load_rule_files(&[root().join("rules/pump/policy.toml")]).unwrap();
    assert_eq!(
        sources.len(),
        2,
        "policy.toml includes the PCD-03 drug library"
    );
    compile(&sources).unwrap_or_else(|e| panic!("{e}"))
}

fn frame_bytes(name: &str) -> Vec<u8> {
    std::fs::read(root().join("fixtures/pump").join(format!("{name}.wpp"))).unwrap()
}

fn gateway() -> Sender {
    Sender {
        address: [10, 20, 0, 5].into(),
        certificate: Some(CertIdentity {
            common_name: Some("pump-gw.egh.example".into()),
            alt_names: vec![],
        }),
    }
}

fn judge(rules: &RuleSet, state: &mut PumpState, name: &str, now_ms: u64) -> Verdict {
    let bytes = frame_bytes(name);
    let frame = Frame::parse(&bytes).unwrap();
    rules.evaluate_pump(&frame, &gateway(), now_ms, state)
}

#[test]
fn the_tenfold_slip_names_the_hard_limit() {
    let rules = shipped();
    let mut state = PumpState::new(16);
    let v = judge(&rules, &mut state, "program-heparin-10x", 0);
    let text = v.to_string();
    assert!(!v.forwards(), "{text}");
    assert!(
        text.contains("144 mL/h is above the ICU hard maximum of 50 mL/h"),
        "{text}"
    );
    assert_eq!(
        state.tracked(),
        0,
        "a refused program must not become state"
    );
}

#[test]
fn a_refused_change_does_not_move_the_baseline() {
    let rules = shipped();
    let mut state = PumpState::new(16);
    assert!(judge(&rules, &mut state, "program-heparin-safe", 0).forwards());
    let jump = judge(&rules, &mut state, "change-rate-jump", 1_000);
    assert!(
        jump.to_string()
            .contains("more than 2 times the last accepted rate of 14.4 mL/h"),
        "{jump}"
    );
    // The baseline is still 14.4 mL/h, so the modest change passes afterwards.
    assert!(judge(&rules, &mut state, "change-rate-safe", 2_000).forwards());
}

#[test]
fn the_frequency_window_slides() {
    let rules = shipped();
    let mut state = PumpState::new(16);
    assert!(judge(&rules, &mut state, "program-heparin-safe", 0).forwards());
    for i in 1..5 {
        assert!(judge(&rules, &mut state, "change-rate-safe", i * 1_000).forwards());
    }
    assert!(!judge(&rules, &mut state, "change-rate-safe", 5_000).forwards());
    // A minute after the program, the oldest change has left the window.
    assert!(judge(&rules, &mut state, "change-rate-safe", 60_001).forwards());
}

#[test]
fn state_is_bounded_and_forgets_the_least_recently_used_channel() {
    let rules = shipped();
    let mut state = PumpState::new(1);
    assert!(judge(&rules, &mut state, "program-heparin-safe", 0).forwards());
    assert_eq!(state.tracked(), 1);
    // The same program on channel 2 pushes channel 1 out of a one-channel state...
    let bytes = frame_bytes("program-heparin-safe");
    let mut frame = Frame::parse(&bytes).unwrap();
    frame.header.channel = 2;
    let other = frame.encode().unwrap();
    let other = Frame::parse(&other).unwrap();
    assert!(
        rules
            .evaluate_pump(&other, &gateway(), 1_000, &mut state)
            .forwards()
    );
    assert_eq!(state.tracked(), 1);
    // ...so channel 1's program is forgotten and a change to it fails closed.
    let v = judge(&rules, &mut state, "change-rate-safe", 2_000);
    assert!(v.to_string().contains("no accepted program"), "{v}");
}

fn biomed() -> Sender {
    Sender {
        address: [10, 20, 0, 9].into(),
        certificate: Some(CertIdentity {
            common_name: Some("biomed-console.egh.example".into()),
            alt_names: vec![],
        }),
    }
}

/// Chunk `index` of a two-chunk transfer of `image`, declaring `digest_of`'s SHA-256.
fn chunk(image: &[u8], digest_of: &[u8], index: u32) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let half = image.len() / 2;
    let data = if index == 0 {
        &image[..half]
    } else {
        &image[half..]
    };
    let chunk = wardgate_pump::UpdateChunk {
        transfer_id: 9,
        index,
        count: 2,
        total_size: image.len() as u32,
        digest: Sha256::digest(digest_of).into(),
        version: "42",
        data,
    };
    Frame::new(
        wardgate_pump::Flags::request(true),
        20 + index,
        wardgate_pump::DeviceId::new("PUMP-0042").unwrap(),
        0,
        wardgate_pump::Command::DrugLibraryUpdate(chunk),
    )
    .encode()
    .unwrap()
}

const APPROVED: &[u8] = b"EGH drug library v42: heparin, insulin, propofol, norepinephrine";

#[test]
fn update_chunks_must_come_in_order_and_add_up_to_the_approved_digest() {
    let rules = shipped();
    let send = |state: &mut PumpState, bytes: &[u8], now: u64| {
        rules.evaluate_pump(&Frame::parse(bytes).unwrap(), &biomed(), now, state)
    };
    // In order: both chunks pass.
    let mut state = PumpState::new(16);
    assert!(send(&mut state, &chunk(APPROVED, APPROVED, 0), 0).forwards());
    assert!(send(&mut state, &chunk(APPROVED, APPROVED, 1), 1).forwards());
    // The second chunk first: refused.
    let mut state = PumpState::new(16);
    let v = send(&mut state, &chunk(APPROVED, APPROVED, 1), 0);
    assert!(
        !v.forwards() && v.to_string().contains("update refused"),
        "{v}"
    );
    // Other bytes under the approved digest: the last chunk does not add up, refused.
    let mut forged = APPROVED.to_vec();
    forged[3] ^= 0x20;
    let mut state = PumpState::new(16);
    assert!(send(&mut state, &chunk(&forged, APPROVED, 0), 0).forwards());
    let v = send(&mut state, &chunk(&forged, APPROVED, 1), 1);
    assert!(!v.forwards(), "a forged image completed: {v}");
}

#[test]
fn a_command_the_pump_refuses_leaves_no_trace_in_the_state() {
    let rules = shipped();
    let mut state = PumpState::new(16);
    let program = frame_bytes("program-heparin-safe");
    let program_frame = Frame::parse(&program).unwrap();
    assert!(
        rules
            .evaluate_pump(&program_frame, &gateway(), 0, &mut state)
            .forwards()
    );
    // The pump answers NAK (say, the channel was busy): wardgate forgets the program...
    let nak = wardgate_pump::build_nak(
        &wardgate_pump::ReplyTo::from(&program_frame.header),
        wardgate_pump::NakReason::BUSY,
        Some("channel busy"),
    );
    rules.observe_pump(&Frame::parse(&nak).unwrap(), 500, &mut state);
    let v = judge(&rules, &mut state, "change-rate-safe", 1_000);
    assert!(v.to_string().contains("no accepted program"), "{v}");
    // ...and a program that was never delivered is forgotten the same way.
    assert!(
        rules
            .evaluate_pump(&program_frame, &gateway(), 2_000, &mut state)
            .forwards()
    );
    rules.pump_undelivered(&program_frame.header, &mut state);
    assert!(!judge(&rules, &mut state, "change-rate-safe", 3_000).forwards());
    // An ACKed program stays.
    assert!(
        rules
            .evaluate_pump(&program_frame, &gateway(), 4_000, &mut state)
            .forwards()
    );
    let ack = wardgate_pump::Frame::new(
        wardgate_pump::Flags::RESPONSE,
        program_frame.header.sequence,
        program_frame.header.device,
        program_frame.header.channel,
        wardgate_pump::Command::Ack,
    )
    .encode()
    .unwrap();
    rules.observe_pump(&Frame::parse(&ack).unwrap(), 4_500, &mut state);
    assert!(judge(&rules, &mut state, "change-rate-safe", 5_000).forwards());
}

#[test]
fn a_pump_deny_rule_names_its_refusal_with_its_application_code() {
    let rules = compile(&[wardgate_rules::RuleSource {
        name: "deny.toml".into(),
        text: r#"
[[rule]]
id = "no-new-programs"
description = "No new infusions are programmed during the library migration"
protocol = "pump"
command = ["PROGRAM-INFUSION"]
action = "deny"
application_code = 9014
"#
        .into(),
        dir: None,
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    let mut state = PumpState::new(16);
    match judge(&rules, &mut state, "program-heparin-safe", 0) {
        Verdict::Deny(d) => {
            assert_eq!(&*d.rule, "no-new-programs");
            assert_eq!(d.application_code, Some(9014));
        }
        v => panic!("expected a refusal, got {v}"),
    }
}
