//! Break-glass end to end: an operator with the admin token puts the PCD-03 route into audit mode
//! through the admin endpoint; refused senders are forwarded and audited as such, the hard limits
//! of never_override drugs stay enforced, and the grant reverts by itself when a (manual) clock
//! passes its end. (Its own test binary: the metrics recorder is process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardgate_proxy::admin::{Readiness, Services, start_with};
use wardgate_proxy::breakglass::BreakGlass;
use wardgate_proxy::clock::ManualClock;

const TOKEN: &str = "break-glass-test-token";

async fn http(
    admin: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

async fn metrics_line(admin: SocketAddr, prefix: &str) -> Option<String> {
    let (_, text) = http(admin, "GET", "/metrics", Some(TOKEN), "").await;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_owned)
}

fn grant(route: &str, rule: Option<&str>, for_: &str) -> String {
    serde_json::json!({
        "route": route, "rule": rule, "for": for_,
        "reason": "EHR certificate renewed with a new CN; orders blocked in ICU",
        "operator": "dr-oncall",
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_route_forwards_refused_senders_keeps_hard_limits_and_reverts_by_itself() {
    let bed = Bed::start(Options::default()).await;
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let glass = BreakGlass::new(bed.routes.clone(), Duration::from_secs(3600), clock.clone());
    let admin = start_with(
        "127.0.0.1:0".parse().unwrap(),
        Readiness::default(),
        Some(TOKEN.into()),
        Services {
            break_glass: Some(glass.clone()),
            ..Services::default()
        },
    )
    .await
    .unwrap();

    // Without the token, or for longer than the configured maximum: refused.
    let (status, _) = http(
        admin,
        "POST",
        "/break-glass",
        None,
        &grant("pcd03", None, "30m"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = http(
        admin,
        "POST",
        "/break-glass",
        Some(TOKEN),
        &grant("pcd03", None, "2h"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most"), "{body}");
    // A grant for a rule the route does not have is refused.
    let unknown = grant("pcd03", Some("no-such-rule"), "30m");
    let (status, body) = http(admin, "POST", "/break-glass", Some(TOKEN), &unknown).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("no rule `no-such-rule`"), "{body}");

    // Before break-glass, a sender with an unexpected certificate is refused.
    let mut renewed = bed
        .tls_client(Some("ehr-bcma-2027.egh.example"))
        .await
        .unwrap();
    let safe = fixture("pcd03-heparin-icu-safe.hl7");
    let reply = renewed.request(&safe, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AR");

    let (status, body) = http(
        admin,
        "POST",
        "/break-glass",
        Some(TOKEN),
        &grant("pcd03", None, "30m"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let granted: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(granted["operator"], "dr-oncall");
    let (_, listed) = http(admin, "GET", "/break-glass", Some(TOKEN), "").await;
    assert!(listed.contains("certificate renewed"), "{listed}");

    // Under break-glass the same order reaches the gateway, audited as audit-deny with the marker.
    let reply = renewed.request(&safe, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert_eq!(bed.upstream_saw().len(), 1);
    // A tenfold overdose is still refused at the hard limit.
    let overdose = fixture("pcd03-heparin-icu-10x.hl7");
    let reply = renewed
        .request(&overdose, REPLY)
        .await
        .unwrap()
        .expect("reply");
    let (code, _, app) = ack_fields(&reply);
    assert_eq!((code.as_str(), app.as_str()), ("AR", "9024"));
    assert_eq!(bed.upstream_saw().len(), 1);

    let records = bed.audit_records(5).await;
    let judged: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["direction"] == "inbound")
        .collect();
    let forwarded = judged[1];
    assert_eq!(forwarded["verdict"], "audit-deny");
    assert_eq!(forwarded["forwarded"], true);
    assert!(
        forwarded["audit"][0]
            .as_str()
            .unwrap()
            .starts_with("pcd03-other-senders")
    );
    assert_eq!(forwarded["break_glass"][0]["reason"], granted["reason"]);
    assert_eq!(forwarded["break_glass"][0]["until"], granted["until"]);
    assert_eq!(judged[2]["verdict"], "deny");
    assert_eq!(judged[2]["rule"], "never-override");
    assert!(judged[2]["break_glass"].is_array());
    assert!(judged[0].get("break_glass").is_none());
    let start = records
        .iter()
        .find(|r| r["verdict"] == "break-glass-start")
        .expect("start audited");
    assert!(
        start["reason"].as_str().unwrap().contains("dr-oncall"),
        "{start}"
    );
    assert!(start["peer"].as_str().unwrap().starts_with("127.0.0.1:"));

    assert_eq!(
        metrics_line(
            admin,
            r#"wardgate_break_glass_active{route="pcd03",rule="*"}"#
        )
        .await
        .as_deref(),
        Some(r#"wardgate_break_glass_active{route="pcd03",rule="*"} 1"#)
    );

    // Past its end, the grant reverts without any request asking for it.
    clock.advance(Duration::from_secs(30 * 60 + 1));
    glass.sweep();
    let reply = renewed.request(&safe, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AR");
    assert_eq!(bed.upstream_saw().len(), 1);
    let (_, listed) = http(admin, "GET", "/break-glass", Some(TOKEN), "").await;
    assert_eq!(listed.trim(), "[]");
    let records = bed.audit_records(7).await;
    assert!(
        records
            .iter()
            .any(|r| r["verdict"] == "break-glass-expired")
    );
    assert_eq!(
        metrics_line(
            admin,
            r#"wardgate_break_glass_active{route="pcd03",rule="*"}"#
        )
        .await
        .as_deref(),
        Some(r#"wardgate_break_glass_active{route="pcd03",rule="*"} 0"#)
    );
    assert_eq!(
        metrics_line(
            admin,
            r#"wardgate_break_glass_activations_total{route="pcd03",rule="*"}"#
        )
        .await
        .as_deref(),
        Some(r#"wardgate_break_glass_activations_total{route="pcd03",rule="*"} 1"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_grant_can_be_ended_early_and_needs_a_token_on_the_endpoint() {
    let bed = Bed::start(Options::default()).await;
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let glass = BreakGlass::new(bed.routes.clone(), Duration::from_secs(3600), clock);
    // An endpoint without a token never serves break-glass, even on loopback.
    let open = start_with(
        "127.0.0.1:0".parse().unwrap(),
        Readiness::default(),
        None,
        Services {
            break_glass: Some(glass.clone()),
            ..Services::default()
        },
    )
    .await
    .unwrap();
    let (status, _) = http(
        open,
        "POST",
        "/break-glass",
        None,
        &grant("pcd03", Some("unknown-facility"), "10m"),
    )
    .await;
    assert_eq!(status, 403);
    assert!(glass.list().is_empty());

    let admin = start_with(
        "127.0.0.1:0".parse().unwrap(),
        Readiness::default(),
        Some(TOKEN.into()),
        Services {
            break_glass: Some(glass.clone()),
            ..Services::default()
        },
    )
    .await
    .unwrap();
    let (status, body) = http(
        admin,
        "POST",
        "/break-glass",
        Some(TOKEN),
        &grant("pcd03", Some("unknown-facility"), "10m"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();

    let mut ehr = bed.ehr().await;
    let foreign = fixture("pcd03-unknown-facility.hl7");
    let reply = ehr.request(&foreign, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AA");

    let end = serde_json::json!({"operator": "biomed-lead"}).to_string();
    let (status, body) = http(
        admin,
        "DELETE",
        &format!("/break-glass/{id}"),
        Some(TOKEN),
        &end,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(
        admin,
        "DELETE",
        &format!("/break-glass/{id}"),
        Some(TOKEN),
        "",
    )
    .await;
    assert_eq!(status, 404);
    let reply = ehr.request(&foreign, REPLY).await.unwrap().expect("reply");
    assert_eq!(ack_fields(&reply).0, "AR");
    let records = bed.audit_records(5).await;
    let ended = records
        .iter()
        .find(|r| r["verdict"] == "break-glass-end")
        .expect("end audited");
    assert_eq!(ended["rule"], "unknown-facility");
    assert!(
        ended["reason"].as_str().unwrap().contains("biomed-lead"),
        "{ended}"
    );
}
