//! Regression cases (`tests/cases/<name>/`): message files or a capture, the rules to judge them
//! with, the sender, and golden verdicts. The format vendors copy for their own devices (see
//! docs/REPLAY.md): replay with `wardgate replay --expect expected.jsonl`, or add a folder here
//! and `cargo test` runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wardgate_proxy::replay::{
    CaptureOptions, CaptureRoute, ReplayLine, ReplayProtocol, compare, replay, replay_capture,
};
use wardgate_rules::{CertIdentity, Sender, compile, load_rule_files};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    protocol: String,
    rules: Vec<PathBuf>,
    sender: CaseSender,
    /// A pcap/pcapng file (relative to the case) instead of a `messages/` folder.
    capture: Option<PathBuf>,
    /// With `capture`: connections to these ports are judged as `protocol`.
    #[serde(default)]
    ports: Vec<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSender {
    /// Default: 127.0.0.1 for message files, the client's address in a capture.
    address: Option<IpAddr>,
    cert_cn: Option<String>,
}

fn run_case(dir: &Path) -> Vec<String> {
    let case: Case = toml::from_str(&std::fs::read_to_string(dir.join("case.toml")).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let rules: Vec<PathBuf> = case.rules.iter().map(|r| dir.join(r)).collect();
    let set = compile(&load_rule_files(&rules).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    let protocol = match case.protocol.as_str() {
        "hl7" => ReplayProtocol::Hl7,
        "pump" => ReplayProtocol::Pump,
        "dicom" => ReplayProtocol::Dicom,
        other => panic!("{}: unknown protocol {other}", dir.display()),
    };
    let got = match &case.capture {
        Some(capture) => {
            assert!(
                !case.ports.is_empty(),
                "{}: a capture case needs ports",
                dir.display()
            );
            let routes = [CaptureRoute {
                name: "case".into(),
                protocol,
                ports: case.ports.clone(),
                rules: &set,
                limits: Default::default(),
            }];
            let opts = CaptureOptions {
                address: case.sender.address,
                cert_cn: case.sender.cert_cn.clone(),
                ..CaptureOptions::default()
            };
            let mut lines = Vec::new();
            replay_capture(&dir.join(capture), &routes, &opts, &mut |l| lines.push(l))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            lines
        }
        None => {
            let sender = Sender {
                address: case.sender.address.unwrap_or([127, 0, 0, 1].into()),
                certificate: case.sender.cert_cn.map(|cn| CertIdentity {
                    common_name: Some(cn),
                    alt_names: vec![],
                }),
            };
            replay(&dir.join("messages"), protocol, &set, &sender).unwrap()
        }
    };
    let expected: Vec<ReplayLine> = std::fs::read_to_string(dir.join("expected.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !expected.is_empty(),
        "{}: no expected verdicts",
        dir.display()
    );
    compare(&got, &expected)
}

#[test]
fn every_regression_case_replays_to_its_golden_verdicts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 3,
        "regression cases missing under {}",
        root.display()
    );
    let failures: Vec<String> = cases
        .iter()
        .flat_map(|c| {
            run_case(c)
                .into_iter()
                .map(move |d| format!("{}: {d}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_changed_policy_shows_up_as_a_readable_diff() {
    // "Would have been refused": the same traffic against a stricter rule set.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/pcd03-orders");
    let strict = compile(&[wardgate_rules::RuleSource {
        name: "strict.toml".into(),
        text: "[policy]\ndefault = \"deny\"\n".into(),
        dir: None,
    }])
    .unwrap();
    let sender = Sender::from_address([10, 20, 30, 40].into());
    let got = replay(&dir.join("messages"), ReplayProtocol::Hl7, &strict, &sender).unwrap();
    let expected: Vec<ReplayLine> = std::fs::read_to_string(dir.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let diffs = compare(&got, &expected);
    assert!(
        diffs
            .iter()
            .any(|d| d
                .starts_with("pcd03-heparin-icu-safe.hl7 #0: expected allow by pcd03-from-bcma")),
        "{diffs:#?}"
    );
}
