//! `wardgate replay` on captures as a vendor's CI runs it: routes chosen by port or by the
//! proxy's own configuration, golden verdicts compared, a changed policy shown as a diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn wardgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run wardgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CAPTURE: &str = "fixtures/captures/hl7-orders.pcap";
const GOLDEN: &str = "tests/cases/capture-hl7-orders/expected.jsonl";

#[test]
fn a_capture_replays_to_its_golden_verdicts_with_ports_from_the_command_line() {
    let (code, stdout, stderr) = wardgate(&[
        "replay",
        CAPTURE,
        "--port",
        "42576=hl7",
        "--cert-cn",
        "ehr-bcma.egh.example",
        "--expect",
        GOLDEN,
        "--rules",
        "rules/pcd03/policy.toml",
        "rules/pcd03/drug-library.toml",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    assert!(stderr.contains("all 8 verdicts match"), "{stderr}");
    assert!(stderr.contains("1 connections, 0 on no route"), "{stderr}");
}

#[test]
fn the_proxy_configuration_picks_the_route_by_its_upstream_port() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let config = dir.path().join("wardgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:2575\"\n\
             upstream = \"127.0.0.1:42576\"\nrules = [\"{root}/rules/pcd03/policy.toml\", \
             \"{root}/rules/pcd03/drug-library.toml\"]\n"
        ),
    )
    .unwrap();
    let (code, _, stderr) = wardgate(&[
        "replay",
        CAPTURE,
        "--config",
        config.to_str().unwrap(),
        "--cert-cn",
        "ehr-bcma.egh.example",
        "--expect",
        GOLDEN,
    ]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_stricter_policy_against_the_capture_lists_what_it_would_have_refused() {
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, "[policy]\ndefault = \"deny\"\n").unwrap();
    let (code, _, stderr) = wardgate(&[
        "replay",
        CAPTURE,
        "--port",
        "42576=hl7",
        "--expect",
        GOLDEN,
        "--rules",
        strict.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "hl7-orders.pcap stream 1 inbound #0: expected allow by pcd03-from-bcma (code None), got deny by default"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("would have been refused: 2 message(s) that"),
        "{stderr}"
    );
    // Its acknowledgement would never have existed behind wardgate.
    assert!(
        stderr.contains("hl7-orders.pcap stream 1 outbound #0: expected allow by - (code None), got unmatched-ack"),
        "{stderr}"
    );
}

#[test]
fn a_capture_without_a_route_for_its_connections_is_refused_with_a_hint() {
    let (code, _, stderr) = wardgate(&["replay", CAPTURE, "--rules", "rules/pump/policy.toml"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--config or --port"), "{stderr}");
}

#[test]
fn a_truncated_capture_reports_what_it_judged_then_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let bytes = std::fs::read(format!("{root}/{CAPTURE}")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let (code, stdout, stderr) = wardgate(&[
        "replay",
        cut.to_str().unwrap(),
        "--port",
        "42576=hl7",
        "--cert-cn",
        "ehr-bcma.egh.example",
        "--rules",
        "rules/pcd03/policy.toml",
        "rules/pcd03/drug-library.toml",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(stdout.contains("\"control_id\":\"PCD03-0001\""), "{stdout}");
}
