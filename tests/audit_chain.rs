//! The audit log an operator keeps: `wardgate run` writes a hash-chained file, `wardgate audit
//! verify` confirms it, and finds the line someone edited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use wardgate_proxy::audit::{AuditLog, AuditRecord};

fn verify(files: &[&std::path::Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn audit_verify_reports_the_first_broken_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::to_file(&path).unwrap();
    for verdict in ["allow", "deny", "allow", "deny"] {
        log.record(AuditRecord {
            route: "pcd03".into(),
            verdict,
            control_id: Some("PCD03-0002".into()),
            ..AuditRecord::default()
        })
        .unwrap();
    }
    drop(log);
    let (code, out) = verify(&[&path]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("audit chain intact: 5 lines in 1 file"),
        "{out}"
    );

    // Someone turns a refusal into an allow to hide it.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let edited = lines[2].replace("\"verdict\":\"deny\"", "\"verdict\":\"allow\"");
    assert_ne!(edited, lines[2]);
    let mut changed = lines.clone();
    changed[2] = &edited;
    std::fs::write(&path, changed.join("\n") + "\n").unwrap();
    let (code, out) = verify(&[&path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("audit.jsonl:4:"),
        "the break shows on the line after the edit: {out}"
    );
}
