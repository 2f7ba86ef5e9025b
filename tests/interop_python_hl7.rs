//! Interoperability with an HL7 implementation we did not write: the Python `hl7` package's
//! `mllp_send` (installed by .ci/run), through the proxy to the simulated pump gateway.
//!
//! `mllp_send` has no TLS, so this route is plaintext and the policy trusts the loopback address.
//! It strips the last segment's carriage return before sending, so the bytes on the wire differ
//! from the fixture in that one byte; what the gateway receives must equal what `mllp_send` sent.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use wardgate_hl7::wrap;

fn mllp_send(port: u16, file: &std::path::Path) -> String {
    let out = Command::new("timeout")
        .args([
            "20",
            "mllp_send",
            "--loose",
            "--port",
            &port.to_string(),
            "--file",
        ])
        .arg(file)
        .arg("127.0.0.1")
        .output()
        .expect("run mllp_send (pip install hl7==0.4.5; .ci/run installs it)");
    assert!(
        out.status.success(),
        "mllp_send failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_hl7_mllp_send_talks_through_the_proxy() {
    let bed = Bed::start(Options {
        tls: false,
        rules: vec![
            root().join("tests/interop/loopback-policy.toml"),
            root().join("rules/pcd03/drug-library.toml"),
        ],
        ..Options::default()
    })
    .await;
    let port = bed.proxy.port();
    let safe = root().join("fixtures/hl7/pcd03-heparin-icu-safe.hl7");
    let slip = root().join("fixtures/hl7/pcd03-heparin-icu-10x.hl7");

    let out = tokio::task::spawn_blocking(move || mllp_send(port, &safe))
        .await
        .unwrap();
    assert!(
        out.contains("MSA|AA|PCD03-0001"),
        "mllp_send printed {out:?}"
    );

    let out = tokio::task::spawn_blocking(move || mllp_send(port, &slip))
        .await
        .unwrap();
    assert!(
        out.contains("MSA|AR|PCD03-0002"),
        "mllp_send printed {out:?}"
    );
    assert!(out.contains("pcd03-from-loopback"), "{out:?}");

    let mut sent = fixture("pcd03-heparin-icu-safe.hl7");
    assert_eq!(sent.pop(), Some(b'\r'));
    assert_eq!(bed.upstream_saw(), vec![wrap(&sent)]);
}
