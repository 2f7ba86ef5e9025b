//! A full disk under the audit log, for real: the log lives on a small tmpfs this test mounts, and
//! a filler file takes the rest of it. A fail-closed route refuses (NACK) what it cannot record and
//! never forwards an unrecorded message; a fail-open route forwards and counts; a DICOM route
//! (always fail-closed) rejects the association (DCMTK's echoscu); `/readyz` says so;
//! once space is back, everything recovers and the hash chain is intact. Needs root (mount); skips
//! with a message where mounting is not permitted. (Its own test binary: the metrics recorder is
//! process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardgate_proxy::admin::{Readiness, start};
use wardgate_proxy::audit::{AuditLog, FileOptions, verify_files};
use wardgate_proxy::config::Config;
use wardgate_proxy::sim::{Behaviour, MllpClient, PumpGateway};
use wardgate_proxy::{Proxy, RouteSpec};
use wardgate_rules::{RuleSource, compile};

/// Unmounts the tmpfs however the test ends (lazily: the admin task may still hold the log open).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path) -> Option<Mounted> {
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64k",
            "wardgate-test",
            dir.to_str()?,
        ])
        .output()
        .ok()?;
    if out.status.success() {
        Some(Mounted(dir.to_owned()))
    } else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        None
    }
}

/// Write zeros until the file system is full (bounded: the tmpfs is 64 KiB).
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = [0u8; 512];
    for _ in 0..1000 {
        if f.write_all(&chunk).and_then(|()| f.flush()).is_err() {
            return;
        }
    }
    panic!("the 64 KiB tmpfs never filled up");
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_makes_a_fail_closed_route_refuse_and_a_fail_open_route_forward() {
    let work = tempfile::tempdir().unwrap();
    let disk = work.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(_mounted) = mount_tmpfs(&disk) else {
        return;
    };
    let rules = work.path().join("allow.toml");
    std::fs::write(
        &rules,
        "[policy]\nname = \"allow all\"\ndefault = \"allow\"\n",
    )
    .unwrap();
    let gateway = PumpGateway::start("127.0.0.1:0".parse().unwrap(), None, Behaviour::Acknowledge)
        .await
        .unwrap();
    let route = |name: &str, policy: &str| {
        format!(
            "[[route]]\nname = \"{name}\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:0\"\n\
             upstream = \"{}\"\nrules = [{:?}]\nfailure_policy = \"{policy}\"\n",
            gateway.addr(),
            rules.display().to_string()
        )
    };
    let scp = common::dicom::StoreScp::start(&[]).await;
    let text = route("closed", "closed")
        + &route("open", "open")
        + &format!(
            "[[route]]\nname = \"pacs\"\nprotocol = \"dicom\"\nlisten = \"127.0.0.1:0\"\n\
             upstream = \"{}\"\nrules = [{:?}]\n",
            scp.addr,
            common::dicom::test_rules()[0].display().to_string()
        );
    let config = Config::parse(&text, "test", None).unwrap();
    let specs = config
        .routes
        .iter()
        .map(|r| RouteSpec {
            config: r.clone(),
            rules: compile(&[RuleSource::from_file(&r.rules[0]).unwrap()]).unwrap(),
        })
        .collect();
    let audit_path = disk.join("audit.jsonl");
    let audit = Arc::new(AuditLog::to_file_with(&audit_path, FileOptions::default()).unwrap());
    let ready = Readiness::default();
    ready.set(true);
    ready.watch_audit(audit.clone());
    let admin = start("127.0.0.1:0".parse().unwrap(), ready, None)
        .await
        .unwrap();
    let proxy = Proxy::bind(specs, audit).await.unwrap();
    let addrs = proxy.local_addrs();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(proxy.run(async {
        let _ = rx.await;
    }));
    let mut closed = MllpClient::connect(addrs[0].1, None).await.unwrap();
    let mut open = MllpClient::connect(addrs[1].1, None).await.unwrap();
    let pacs_port = addrs[2].1.port().to_string();
    let echo = || async {
        common::dicom::run(
            &common::dicom::dcmtk("echoscu"),
            &[
                "-aet",
                "MODALITY",
                "-aec",
                "STORESCP",
                "127.0.0.1",
                &pacs_port,
            ],
        )
        .await
    };
    let order = fixture("pcd03-heparin-icu-safe.hl7");

    let reply = closed.request(&order, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert!(get(admin, "/readyz").await.starts_with("HTTP/1.1 200"));

    fill(&disk.join("filler"));
    // What is left of the audit file's last page takes a few more lines; then the disk is full.
    let mut accepted = 1;
    let mut refusal = None;
    for _ in 0..64 {
        let reply = closed.request(&order, REPLY).await.unwrap().expect("reply");
        match ack_fields(&reply).0.as_str() {
            "AA" => accepted += 1,
            _ => {
                refusal = Some(reply);
                break;
            }
        }
    }
    let refusal = refusal.expect("the fail-closed route refused once the disk was full");
    let (code, text, _) = ack_fields(&refusal);
    assert_eq!(code, "AE");
    assert!(text.contains("audit log"), "{text}");
    // Nothing reached the gateway that the audit log does not hold.
    assert_eq!(gateway.received().len(), accepted);
    assert!(
        get(admin, "/readyz")
            .await
            .contains("audit log cannot be written")
    );

    // The fail-open route forwards all the same, and counts the lost line.
    let reply = open.request(&order, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert_eq!(gateway.received().len(), accepted + 1);
    // The DICOM route rejects the association it cannot record.
    let out = echo().await;
    assert!(!out.status.success(), "echoscu passed: {}", out.text());
    let metrics = get(admin, "/metrics").await;
    for want in [
        r#"wardgate_messages_total{route="pacs",protocol="dicom",direction="inbound",verdict="audit-unavailable"} 1"#,
        r#"wardgate_audit_write_failures_total{route="closed"}"#,
        r#"wardgate_audit_write_failures_total{route="open"}"#,
        r#"wardgate_messages_total{route="closed",protocol="hl7",direction="inbound",verdict="audit-unavailable"} 1"#,
    ] {
        assert!(metrics.contains(want), "missing {want}\n{metrics}");
    }

    // Space comes back: the readiness probe alone notices (a node that is not ready gets no
    // traffic to write), and the closed route forwards again.
    std::fs::remove_file(disk.join("filler")).unwrap();
    assert!(get(admin, "/readyz").await.starts_with("HTTP/1.1 200"));
    let reply = closed.request(&order, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AA");
    let out = echo().await;
    assert!(out.status.success(), "echoscu failed: {}", out.text());
    let _ = tx.send(());
    drop((closed, open));
    running.await.unwrap();

    // Every line that made it is whole and chained; every forwarded closed-route message is there.
    verify_files(&[&audit_path]).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&audit_path).unwrap();
    // The gap is on record: how many lines were lost, at the point where writing resumed.
    let resumed = text
        .lines()
        .find(|l| l.contains("\"verdict\":\"audit-resumed\""))
        .expect("an audit-resumed line");
    assert!(!resumed.contains("\"reason\":\"0 audit"), "{resumed}");
    let recorded = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["route"] == "closed" && r["direction"] == "inbound" && r["forwarded"] == true)
        .count();
    assert_eq!(recorded, accepted + 1);
}
