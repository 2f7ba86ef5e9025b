//! The Prometheus endpoint counts what the proxy judged. (Its own test binary: the metrics
//! recorder is process-wide.)
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, request_line: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin endpoint");
    let request = format!("{request_line}\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_rules_and_connections_are_exported() {
    let admin = wardgate_proxy::telemetry::install_prometheus("127.0.0.1:0".parse().unwrap())
        .await
        .expect("exporter installs");
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    ehr.request(&fixture("pcd03-heparin-icu-safe.hl7"), REPLY)
        .await
        .unwrap()
        .expect("ack");
    ehr.request(&fixture("pcd03-heparin-icu-10x.hl7"), REPLY)
        .await
        .unwrap()
        .expect("nack");
    // A client without a certificate: the handshake fails and is counted by reason.
    if let Ok(mut anonymous) = bed.tls_client(None).await {
        let _ = anonymous.send(b"MSH").await;
        let _ = anonymous.recv(REPLY).await;
    }
    let wanted = [
        r#"wardgate_messages_total{route="pcd03",protocol="hl7",direction="inbound",verdict="allow"} 1"#,
        r#"wardgate_messages_total{route="pcd03",protocol="hl7",direction="inbound",verdict="deny"} 1"#,
        r#"wardgate_bytes_total{route="pcd03",protocol="hl7",direction="inbound"} "#,
        r#"wardgate_bytes_total{route="pcd03",protocol="hl7",direction="outbound"} "#,
        r#"wardgate_rule_verdicts_total{route="pcd03",rule="pcd03-from-bcma",verdict="deny"} 1"#,
        r#"wardgate_refusals_total{route="pcd03",reason="9024"} 1"#,
        r#"wardgate_open_connections{route="pcd03"} 1"#,
        "wardgate_inspection_seconds_count{route=\"pcd03\"} 2",
        "wardgate_upstream_round_trip_seconds_count{route=\"pcd03\"} 1",
        r#"wardgate_tls_handshake_failures_total{route="pcd03",reason="no-client-certificate"} 1"#,
    ];
    // Counters land as the connections finish; poll a bounded number of times.
    let mut text = String::new();
    for _ in 0..100 {
        text = get(admin, "GET /metrics HTTP/1.1").await;
        if wanted.iter().all(|w| text.contains(w)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for want in wanted {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
    assert!(
        get(admin, "GET /healthz HTTP/1.1")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        get(admin, "GET /readyz HTTP/1.1")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        get(admin, "GET /nope HTTP/1.1")
            .await
            .starts_with("HTTP/1.1 404")
    );
    assert!(
        get(admin, "POST /metrics HTTP/1.1")
            .await
            .starts_with("HTTP/1.1 405")
    );
}
