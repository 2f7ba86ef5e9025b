//! Rules reload under traffic: each message is judged by one complete rule set, none is lost, and
//! a rule file with errors never replaces the set in force.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use wardgate_rules::{RuleSource, compile};

const LOOPBACK_ALLOWED: &str = "tests/interop/loopback-policy.toml";

fn deny_everything() -> wardgate_rules::RuleSet {
    compile(&[RuleSource {
        name: Arc::from("deny.toml"),
        text: "[policy]\ndefault = \"deny\"\n".into(),
        dir: None,
    }])
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_traffic_loses_nothing_and_never_mixes_rule_sets() {
    let bed = Bed::start(Options {
        tls: false,
        rules: vec![
            root().join(LOOPBACK_ALLOWED),
            root().join("rules/pcd03/drug-library.toml"),
        ],
        ..Options::default()
    })
    .await;
    let order = fixture("pcd03-heparin-icu-safe.hl7");
    let replies = Arc::new(AtomicUsize::new(0));
    let counter = replies.clone();
    let addr = bed.proxy;
    const N: usize = 200;
    let client = tokio::spawn(async move {
        let mut c = wardgate_proxy::sim::MllpClient::connect(addr, None)
            .await
            .unwrap();
        let mut codes = Vec::with_capacity(N);
        for _ in 0..N {
            let reply = c
                .request(&order, REPLY)
                .await
                .unwrap()
                .expect("every order is answered");
            codes.push(ack_fields(&reply).0);
            counter.fetch_add(1, Ordering::SeqCst);
        }
        codes
    });
    for _ in 0..2000 {
        if replies.load(Ordering::SeqCst) >= N / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let route = bed.routes[0].clone();
    let old = route.rules().digest.clone();
    route.replace_rules(deny_everything());
    let codes = client.await.unwrap();
    assert_eq!(codes.len(), N, "every order got an answer");
    let first_refusal = codes
        .iter()
        .position(|c| c == "AR")
        .expect("the new set refused");
    assert!(first_refusal >= N / 4, "{codes:?}");
    assert!(
        codes[..first_refusal].iter().all(|c| c == "AA"),
        "{codes:?}"
    );
    assert!(
        codes[first_refusal..].iter().all(|c| c == "AR"),
        "an order was judged by the old set after the swap: {codes:?}"
    );
    let audit = bed.audit_records(1).await;
    let reload = audit
        .iter()
        .find(|r| r["verdict"] == "reload")
        .expect("the reload is audited");
    assert!(
        reload["reason"].as_str().unwrap().contains(&old),
        "{reload}"
    );
}

#[test]
fn sighup_reloads_rule_files_and_a_broken_file_keeps_the_old_set() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::copy(root().join(LOOPBACK_ALLOWED), &policy).unwrap();
    let library = root().join("rules/pcd03/drug-library.toml");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt
        .block_on(wardgate_proxy::sim::PumpGateway::start(
            "127.0.0.1:0".parse().unwrap(),
            None,
            wardgate_proxy::sim::Behaviour::Acknowledge,
        ))
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("wardgate.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\npath = {:?}\n\n[[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\nrules = [{:?}, {:?}]\n",
            dir.path().join("audit.jsonl").display().to_string(),
            gateway.addr(),
            policy.display().to_string(),
            library.display().to_string()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(["run", "--config"])
        .arg(&config)
        .stderr(log)
        .spawn()
        .unwrap();
    let order = wardgate_hl7::wrap(&fixture("pcd03-heparin-icu-safe.hl7"));
    let ask = || -> String {
        for _ in 0..200 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(&order).unwrap();
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.ends_with(&[0x1C, 0x0D]) {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "connection closed without a reply");
                    got.extend_from_slice(&buf[..n]);
                }
                return ack_fields(&got[1..got.len() - 2]).0;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("wardgate did not start listening");
    };
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert_eq!(ask(), "AA");
    // A broken file: the error names the place, and the previous set stays in force.
    std::fs::write(&policy, "[[rule]]\nid = \"x\"\naction = \"alow\"\n").unwrap();
    hup(child.id());
    let reported = (0..400).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        stderr().contains("policy.toml:3:10")
    });
    assert!(reported, "{}", stderr());
    assert_eq!(ask(), "AA", "a broken rule file replaced the set in force");
    // A valid file that refuses: in force once reloaded.
    std::fs::write(&policy, "[policy]\ndefault = \"deny\"\n").unwrap();
    hup(child.id());
    let refused = (0..400).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        ask() == "AR"
    });
    assert!(refused, "the new rules never came into force");
    let _ = child.kill();
    let _ = child.wait();
}
