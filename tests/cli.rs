//! The command line as an operator or informaticist uses it.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn wardgate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run wardgate");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn test_runs_the_shipped_rule_tests() {
    let (code, out) = wardgate(&["test", "rules"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("heparin at ten times the rate is refused at the hard limit ... ok"),
        "{out}"
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn test_reports_a_failing_rule_test_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::copy(
        format!("{root}/rules/pcd03/drug-library.toml"),
        dir.path().join("drug-library.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        format!(
            r#"
[[rule]]
id = "everything"
description = "allow everything (a bad policy)"
action = "allow"

[[test]]
name = "a tenfold slip must be refused"
message = "{root}/fixtures/hl7/pcd03-heparin-icu-10x.hl7"
expect = "deny"
"#
        ),
    )
    .unwrap();
    let (code, out) = wardgate(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a tenfold slip must be refused ... FAILED"),
        "{out}"
    );
    assert!(
        out.contains("expected deny, got allow by everything"),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn check_reports_every_problem_with_position_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[rule]]\nid = \"x\"\ndescription = \"d\"\naction = \"alow\"\n[rule.sender]\ncert_cm = [\"a\"]\n",
    )
    .unwrap();
    let (code, out) = wardgate(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad.toml:4:10: error: `action` cannot be `alow`"),
        "{out}"
    );
    assert!(
        out.contains("bad.toml:6:1: error: unknown key `cert_cm`"),
        "{out}"
    );
    assert!(out.contains("did you mean `cert_cn`?"), "{out}");
}

#[test]
fn check_accepts_the_shipped_rules_and_a_config() {
    let (code, out) = wardgate(&[
        "check",
        "rules/pcd03/policy.toml",
        "rules/pcd03/drug-library.toml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok (4 rules, 4 drugs"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let config = dir.path().join("wardgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:1\"\nrules = [\"{root}/rules/pcd03/policy.toml\", \"{root}/rules/pcd03/drug-library.toml\"]\n"
        ),
    )
    .unwrap();
    let (code, out) = wardgate(&["check", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok (1 route)"), "{out}");
}

#[test]
fn check_rejects_a_config_with_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wardgate.toml");
    std::fs::write(
        &config,
        "[[route]]\nname = \"r\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:1\"\nrules = [\"x.toml\"]\nfailure_polcy = \"open\"\n",
    )
    .unwrap();
    let (code, out) = wardgate(&["check", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failure_polcy"), "{out}");
}
