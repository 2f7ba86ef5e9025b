//! `wardgate break-glass` and `wardgate probe` as an operator runs them, against a real
//! `wardgate run` process with an admin token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// Ends the proxy process however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wardgate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(args)
        .env("USER", "nurse-lead")
        .output()
        .expect("run wardgate");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_operator_grants_lists_and_ends_break_glass_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(dir.path().join("admin.token"), "cli-test-token\n").unwrap();
    let config = dir.path().join("wardgate.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"127.0.0.1:{}\"\ntoken_file = \"admin.token\"\nbreak_glass_max = \"1h\"\n\
             [audit]\npath = \"audit.jsonl\"\n\
             [[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:0\"\n\
             upstream = \"127.0.0.1:9\"\nrules = [{:?}, {:?}]\n",
            free_port(),
            root.join("rules/pcd03/policy.toml").display().to_string(),
            root.join("rules/pcd03/drug-library.toml").display().to_string(),
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let _proxy = Running(
        Command::new(env!("CARGO_BIN_EXE_wardgate"))
            .args(["run", "--config", cfg])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut ready = false;
    for _ in 0..100 {
        if wardgate(&["probe", "--config", cfg, "--path", "/readyz"]).0 == 0 {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "the proxy never became ready");

    let (code, out) = wardgate(&[
        "break-glass",
        "--config",
        cfg,
        "--route",
        "pcd03",
        "--for",
        "2h",
        "--reason",
        "x",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("at most"), "{out}");
    let (code, out) = wardgate(&[
        "break-glass",
        "--config",
        cfg,
        "--route",
        "pcd03",
        "--rule",
        "unknown-facility",
        "--for",
        "30m",
        "--reason",
        "new facility code not yet in the policy",
    ]);
    assert_eq!(code, 0, "{out}");
    let grant: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(grant["operator"], "nurse-lead");
    let id = grant["id"].as_u64().unwrap().to_string();
    let (code, out) = wardgate(&["break-glass", "--config", cfg, "--list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("new facility code"), "{out}");
    let (code, out) = wardgate(&["break-glass", "--config", cfg, "--end", &id]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = wardgate(&["break-glass", "--config", cfg, "--end", &id]);
    assert_eq!(code, 1, "{out}");
    let (_, out) = wardgate(&["break-glass", "--config", cfg, "--list"]);
    assert_eq!(out.trim(), "[]");

    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"verdict\":\"break-glass-start\""),
        "{audit}"
    );
    assert!(audit.contains("\"verdict\":\"break-glass-end\""), "{audit}");
    let (code, out) = wardgate(&[
        "audit",
        "verify",
        dir.path().join("audit.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
}
