//! End to end through the proxy: TLS (mutual) from the EHR, plaintext to a simulated pump gateway,
//! the shipped PCD-03 rules, real sockets on 127.0.0.1.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use wardgate_hl7::wrap;
use wardgate_proxy::sim::Behaviour;

#[tokio::test]
async fn a_safe_order_arrives_byte_identical_and_the_gateways_ack_reaches_the_sender() {
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let order = fixture("pcd03-heparin-icu-safe.hl7");
    let reply = ehr.request(&order, REPLY).await.unwrap().expect("a reply");
    let (code, _, _) = ack_fields(&reply);
    let (acked, msh9) = ack_ids(&reply);
    assert_eq!(code, "AA");
    assert_eq!(acked, "PCD03-0001");
    // The positive acknowledgement is the gateway's, not wardgate's.
    assert!(msh9.starts_with("ACK^O15"), "{msh9}");
    assert!(String::from_utf8_lossy(&reply).contains("GW-PCD03-0001"));
    assert_eq!(bed.upstream_saw(), vec![wrap(&order)]);
    let audit = bed.audit_records(2).await;
    let inbound = &audit[0];
    assert_eq!(inbound["verdict"], "allow");
    assert_eq!(inbound["rule"], "pcd03-from-bcma");
    assert_eq!(inbound["cert_subject"], EHR_CN);
    assert_eq!(inbound["control_id"], "PCD03-0001");
    assert_eq!(inbound["forwarded"], true);
    assert_eq!(inbound["bytes"], order.len());
    // No patient data in the audit log.
    let line = serde_json::to_string(&audit).unwrap();
    assert!(
        !line.contains("MRN12345") && !line.contains("DOE"),
        "{line}"
    );
    assert_eq!(audit[1]["direction"], "outbound");
    assert_eq!(audit[1]["verdict"], "allow");
}

#[tokio::test]
async fn a_tenfold_heparin_order_is_refused_with_ar_naming_the_rule_and_the_connection_stays_usable()
 {
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let slip = fixture("pcd03-heparin-icu-10x.hl7");
    let reply = ehr.request(&slip, REPLY).await.unwrap().expect("a refusal");
    let (code, text, app) = ack_fields(&reply);
    let (acked, msh9) = ack_ids(&reply);
    assert_eq!(code, "AR");
    assert_eq!(app, "9024");
    assert_eq!(acked, "PCD03-0002");
    // Original mode: the PCD-03 application acknowledgement.
    assert_eq!(msh9, "RRG^O16^RRG_O16");
    assert!(text.contains("pcd03-from-bcma"), "{text}");
    assert!(
        text.contains("144 mL/h") && text.contains("hard maximum of 50 mL/h"),
        "{text}"
    );
    assert!(
        bed.upstream_saw().is_empty(),
        "the refused order reached the pump gateway"
    );

    // The next, safe message on the same connection still goes through.
    let safe = fixture("pcd03-heparin-icu-safe.hl7");
    let reply = ehr.request(&safe, REPLY).await.unwrap().expect("a reply");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert_eq!(bed.upstream_saw(), vec![wrap(&safe)]);
    let audit = bed.audit_records(3).await;
    assert_eq!(audit[0]["verdict"], "deny");
    assert_eq!(audit[0]["code"], 9024);
    assert_eq!(audit[0]["forwarded"], false);
}

#[tokio::test]
async fn enhanced_mode_gets_a_commit_reject() {
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let reply = ehr
        .request(&fixture("pcd03-heparin-icu-10x-enhanced.hl7"), REPLY)
        .await
        .unwrap()
        .expect("a refusal");
    assert_eq!(ack_fields(&reply).0, "CR");
    assert_eq!(ack_ids(&reply).1, "ACK^O15^ACK");
    assert!(bed.upstream_saw().is_empty());
}

#[tokio::test]
async fn an_unknown_sending_facility_is_refused() {
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let reply = ehr
        .request(&fixture("pcd03-unknown-facility.hl7"), REPLY)
        .await
        .unwrap()
        .expect("a refusal");
    let (code, text, _) = ack_fields(&reply);
    assert_eq!(code, "AR");
    assert!(text.contains("unknown-facility"), "{text}");
    assert!(bed.upstream_saw().is_empty());
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_when_mutual_tls_is_required() {
    let bed = Bed::start(Options::default()).await;
    // TLS 1.3 reports the missing certificate after the client's handshake completes, so the
    // refusal shows up on the first read or write.
    let outcome = match bed.tls_client(None).await {
        Err(_) => None,
        Ok(mut c) => {
            let _ = c.send(&fixture("pcd03-heparin-icu-safe.hl7")).await;
            c.recv(REPLY).await.ok().flatten()
        }
    };
    assert!(
        outcome.is_none(),
        "a client without a certificate got a reply"
    );
    assert!(bed.upstream_saw().is_empty());
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "closed");
    assert!(
        audit[0]["reason"]
            .as_str()
            .unwrap()
            .contains("TLS handshake failed"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn the_certificate_cn_is_what_rules_see() {
    let bed = Bed::start(Options::default()).await;
    let order = fixture("pcd03-heparin-icu-safe.hl7");
    let mut lab = bed
        .tls_client(Some("lab-system.egh.example"))
        .await
        .unwrap();
    let reply = lab
        .request(&order, REPLY)
        .await
        .unwrap()
        .expect("a refusal");
    let (code, text, _) = ack_fields(&reply);
    assert_eq!(code, "AR");
    assert!(text.contains("pcd03-other-senders"), "{text}");
    let mut ehr = bed.ehr().await;
    let reply = ehr.request(&order, REPLY).await.unwrap().expect("a reply");
    assert_eq!(ack_fields(&reply).0, "AA");
    let audit = bed.audit_records(2).await;
    assert_eq!(audit[0]["cert_subject"], "lab-system.egh.example");
    assert_eq!(audit[1]["cert_subject"], EHR_CN);
}

#[tokio::test]
async fn two_messages_in_one_write_are_judged_separately() {
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let safe = fixture("pcd03-heparin-icu-safe.hl7");
    let slip = fixture("pcd03-heparin-icu-10x.hl7");
    let mut both = wrap(&slip);
    both.extend_from_slice(&wrap(&safe));
    ehr.send_raw(&both).await.unwrap();
    let first = ehr.recv(REPLY).await.unwrap().expect("refusal");
    let second = ehr.recv(REPLY).await.unwrap().expect("ack");
    assert_eq!(ack_fields(&first).0, "AR");
    assert_eq!(ack_fields(&second).0, "AA");
    assert_eq!(bed.upstream_saw(), vec![wrap(&safe)]);
}

#[tokio::test]
async fn a_frame_split_into_single_bytes_is_forwarded_whole() {
    let bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let safe = fixture("pcd03-heparin-icu-safe.hl7");
    for b in wrap(&safe) {
        ehr.send_raw(&[b]).await.unwrap();
    }
    let reply = ehr.recv(REPLY).await.unwrap().expect("ack");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert_eq!(bed.upstream_saw(), vec![wrap(&safe)]);
}

/// Checks that after `bad` input on one connection nothing was forwarded, the connection was
/// closed, and another connection is still served.
async fn refused_and_still_serving(bad: Vec<u8>, expect_reply: Option<&str>) {
    let bed = Bed::start(Options::default()).await;
    let mut attacker = bed.ehr().await;
    attacker.send_raw(&bad).await.unwrap();
    match expect_reply {
        Some(code) => {
            let reply = attacker.recv(REPLY).await.unwrap().expect("a NACK");
            assert_eq!(ack_fields(&reply).0, code);
        }
        None => {
            let got = attacker.recv(REPLY).await;
            assert!(
                matches!(got, Ok(None) | Err(_)),
                "expected the connection to close, got {got:?}"
            );
        }
    }
    let mut ehr = bed.ehr().await;
    let safe = fixture("pcd03-heparin-icu-safe.hl7");
    let reply = ehr.request(&safe, REPLY).await.unwrap().expect("ack");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert_eq!(
        bed.upstream_saw(),
        vec![wrap(&safe)],
        "bad input was forwarded"
    );
}

#[tokio::test]
async fn two_mebibytes_without_an_end_block_close_the_connection() {
    let mut bad = vec![0x0B];
    bad.extend(std::iter::repeat_n(b'A', 2 << 20));
    refused_and_still_serving(bad, None).await;
}

#[tokio::test]
async fn bytes_outside_the_envelope_close_the_connection() {
    let mut bad = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    bad.extend(wrap(&fixture("pcd03-heparin-icu-safe.hl7")));
    refused_and_still_serving(bad, None).await;
}

#[tokio::test]
async fn binary_garbage_closes_the_connection() {
    refused_and_still_serving(vec![0x0B, 0x00, 0xFF, 0x1C, 0x41, 0x0D], None).await;
}

#[tokio::test]
async fn a_truncated_msh_is_refused_with_ae() {
    // The delimiters can be read, so the sender gets a NACK (MSH-9 missing) instead of silence.
    refused_and_still_serving(wrap(b"MSH|^~"), Some("AE")).await;
}

#[tokio::test]
async fn a_message_that_does_not_parse_but_has_an_msh_gets_ae() {
    let bad = wrap(
        b"MSH|^~\\&|EHR_BCMA|EGH_NORTH|PUMP_GW|EGH_NORTH|20261129081500||RGV^O15^RGV_O15|BAD-1|P|2.6\rP!D|||x\r",
    );
    refused_and_still_serving(bad, Some("AE")).await;
}

#[tokio::test]
async fn a_slow_sender_hits_the_frame_timeout() {
    let bed = Bed::start(Options {
        tables: "[route.limits]\nframe_timeout = \"300ms\"\n".into(),
        ..Options::default()
    })
    .await;
    let mut slow = bed.ehr().await;
    let order = wrap(&fixture("pcd03-heparin-icu-safe.hl7"));
    slow.send_raw(&order[..order.len() / 2]).await.unwrap();
    let got = slow.recv(REPLY).await;
    assert!(matches!(got, Ok(None) | Err(_)), "{got:?}");
    assert!(bed.upstream_saw().is_empty());
    let audit = bed.audit_records(1).await;
    assert!(
        audit[0]["reason"]
            .as_str()
            .unwrap()
            .contains("frame not completed"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_gets_the_sender_an_error_never_a_positive_ack() {
    let bed = Bed::start(Options {
        gateway: None,
        tables: "[route.limits]\nupstream_connect_timeout = \"2s\"\n".into(),
        ..Options::default()
    })
    .await;
    let mut ehr = bed.ehr().await;
    let reply = ehr
        .request(&fixture("pcd03-heparin-icu-safe.hl7"), REPLY)
        .await
        .unwrap()
        .expect("a NACK");
    let (code, text, _) = ack_fields(&reply);
    assert_eq!(code, "AE");
    assert!(text.contains("could not deliver"), "{text}");
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "upstream-unavailable");
}

#[tokio::test]
async fn an_upstream_that_dies_mid_exchange_leaves_the_sender_without_an_ack() {
    let bed = Bed::start(Options {
        gateway: Some(Behaviour::CloseWithoutAck),
        ..Options::default()
    })
    .await;
    let mut ehr = bed.ehr().await;
    let got = ehr
        .request(&fixture("pcd03-heparin-icu-safe.hl7"), REPLY)
        .await;
    assert!(matches!(got, Ok(None) | Err(_)), "sender got {got:?}");
    assert_eq!(bed.upstream_saw().len(), 1);
    let audit = bed.audit_records(2).await;
    assert!(
        audit.iter().any(|r| r["verdict"] == "upstream-lost"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn fail_open_forwards_an_uninspectable_message_and_says_so() {
    let bed = Bed::start(Options {
        route_extra: "failure_policy = \"open\"".into(),
        ..Options::default()
    })
    .await;
    let mut ehr = bed.ehr().await;
    let bad = b"MSH|^~\\&|EHR_BCMA|EGH_NORTH|PUMP_GW|EGH_NORTH|20261129081500||RGV^O15^RGV_O15|BAD-2|P|2.6\rP!D|||x\r";
    let reply = ehr
        .request(bad, REPLY)
        .await
        .unwrap()
        .expect("gateway's ACK");
    assert_eq!(ack_fields(&reply).0, "AA");
    assert_eq!(bed.upstream_saw(), vec![wrap(bad)]);
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "fail-open");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_and_closes_idle_connections() {
    let mut bed = Bed::start(Options::default()).await;
    let mut ehr = bed.ehr().await;
    let reply = ehr
        .request(&fixture("pcd03-heparin-icu-safe.hl7"), REPLY)
        .await
        .unwrap();
    assert!(reply.is_some());
    bed.shutdown().await;
    let after = ehr.recv(Duration::from_secs(5)).await;
    assert!(matches!(after, Ok(None) | Err(_)), "{after:?}");
    assert!(
        tokio::net::TcpStream::connect(bed.proxy).await.is_err(),
        "still accepting after shutdown"
    );
}

/// An upstream that answers every message with an ACK for a control id nobody sent.
async fn confused_upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || !buf[..n].contains(&0x1C) {
                        if n == 0 {
                            return;
                        }
                        continue;
                    }
                    let ack = wrap(b"MSH|^~\\&|PUMP_GW|EGH_NORTH|EHR_BCMA|EGH_NORTH|20261129||ACK^O15^ACK|X1|P|2.6\rMSA|AA|SOMEONE-ELSES\r");
                    if s.write_all(&ack).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn unmatched_ack_bed(mode: &str) -> (Bed, wardgate_proxy::sim::MllpClient) {
    let bed = Bed::start(Options {
        route_extra: format!("unmatched_ack = \"{mode}\""),
        gateway: None,
        upstream: Some(confused_upstream().await),
        ..Options::default()
    })
    .await;
    let ehr = bed.ehr().await;
    (bed, ehr)
}

#[tokio::test]
async fn an_ack_for_a_message_never_sent_is_flagged_and_forwarded_by_default() {
    let (bed, mut c) = unmatched_ack_bed("flag").await;
    let reply = c
        .request(&fixture("pcd03-heparin-icu-safe.hl7"), REPLY)
        .await
        .unwrap()
        .expect("the upstream's reply, flagged");
    assert_eq!(ack_ids(&reply).0, "SOMEONE-ELSES");
    let audit = bed.audit_records(2).await;
    assert_eq!(audit[1]["verdict"], "unmatched-ack");
    assert_eq!(audit[1]["forwarded"], true);
}

#[tokio::test]
async fn an_ack_for_a_message_never_sent_is_dropped_when_configured() {
    let (bed, mut c) = unmatched_ack_bed("drop").await;
    let got = c
        .request(
            &fixture("pcd03-heparin-icu-safe.hl7"),
            std::time::Duration::from_millis(500),
        )
        .await;
    assert!(
        got.is_err(),
        "the mismatched ACK reached the sender: {got:?}"
    );
    let audit = bed.audit_records(2).await;
    assert_eq!(audit[1]["verdict"], "unmatched-ack");
    assert_eq!(audit[1]["forwarded"], false);
}

#[tokio::test]
async fn line_feed_terminators_are_accepted_only_where_the_route_allows_them() {
    let with_lf: Vec<u8> = fixture("pcd03-heparin-icu-safe.hl7")
        .into_iter()
        .map(|b| if b == b'\r' { b'\n' } else { b })
        .collect();
    let strict = Bed::start(Options::default()).await;
    let reply = strict
        .ehr()
        .await
        .request(&with_lf, REPLY)
        .await
        .unwrap()
        .expect("NACK");
    assert_eq!(ack_fields(&reply).0, "AE");
    assert!(strict.upstream_saw().is_empty());

    let tolerant = Bed::start(Options {
        route_extra: "allow_lf_terminators = true".into(),
        ..Options::default()
    })
    .await;
    let reply = tolerant
        .ehr()
        .await
        .request(&with_lf, REPLY)
        .await
        .unwrap()
        .expect("ACK");
    assert_eq!(ack_fields(&reply).0, "AA");
    // Forwarded as sent: wardgate does not rewrite terminators.
    assert_eq!(tolerant.upstream_saw(), vec![wrap(&with_lf)]);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_at_accept() {
    let bed = Bed::start(Options {
        tables: "[route.limits]\nmax_connections = 1\n".into(),
        ..Options::default()
    })
    .await;
    let mut first = bed.ehr().await;
    let second = bed.tls_client(Some(EHR_CN)).await;
    let refused = match second {
        Err(_) => true,
        Ok(mut c) => {
            let _ = c.send(&fixture("pcd03-heparin-icu-safe.hl7")).await;
            matches!(c.recv(REPLY).await, Ok(None) | Err(_))
        }
    };
    assert!(
        refused,
        "a second connection was served beyond max_connections = 1"
    );
    let reply = first
        .request(&fixture("pcd03-heparin-icu-safe.hl7"), REPLY)
        .await
        .unwrap()
        .expect("the first connection still works");
    assert_eq!(ack_fields(&reply).0, "AA");
    let audit = bed.audit_records(1).await;
    assert!(
        audit.iter().any(|r| r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("connection limit of 1"))),
        "{audit:?}"
    );
}
