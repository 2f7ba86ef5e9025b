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
