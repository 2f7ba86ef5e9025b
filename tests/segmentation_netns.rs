//! Micro-segmentation in transparent mode, in network namespaces this test creates (the topology
//! of tests/transparent_netns.rs): the EHR network holds the EHR's interface engine (10.71.1.2)
//! and its database (10.71.1.3:5432); the device network holds the pump gateway (10.71.2.2) and a
//! ward thermometer (10.71.2.3); wardgate runs on the router between them with the shipped
//! deploy/nftables-redirect.nft. The thermometer reaching for the database is refused at accept
//! and reported with the destination it reached for; its vitals still reach the interface engine
//! and the EHR's orders still reach the pumps.
//!
//! Needs root (to create namespaces); skips with a message where `ip netns add` is not possible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod netns;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ack_fields, fixture};
use netns::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardgate_hl7::wrap;
use wardgate_proxy::sim::{Behaviour, PumpGateway};

const MLLP_PORT: u16 = 2575;
/// The order route's listener (EHR network to pump gateways).
const WARDGATE_PORT: u16 = 15575;
/// The device route's listener (every device connection towards the EHR network).
const DEVICE_ROUTE_PORT: u16 = 15576;
/// wardgate's admin endpoint, on the router namespace's own loopback.
const ADMIN: &str = "127.0.0.1:19102";
const EHR_DB_IP: &str = "10.71.1.3";
const DB_PORT: u16 = 5432;
const THERMOMETER_IP: &str = "10.71.2.3";

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// A body-temperature result, as a ward thermometer's HL7 gateway sends it.
const VITALS: &[u8] =
    b"MSH|^~\\&|THERMO|WARD3|EHR|EGH|20261129093000||ORU^R01^ORU_R01|TH0001|P|2.6\r\
PID|||MRN12345^^^EGH^MR||DOE^JANE\r\
OBR|1|||8310-5^Body temperature^LN\r\
OBX|1|NM|8310-5^Body temperature^LN||37.2|Cel^degC^UCUM|||||F\r";

/// An acknowledging MLLP server at `addr` in `ns`; on stop, what it received.
fn hl7_server(
    ns: &str,
    addr: SocketAddr,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
) {
    serve_in(ns, move |ready, stop| async move {
        let gw = PumpGateway::start(addr, None, Behaviour::Acknowledge)
            .await
            .expect("listens in its namespace");
        let _ = ready.send(());
        let _ = tokio::time::timeout(BOUND * 4, stop).await;
        gw.received()
    })
}

/// The EHR database's port: on stop, how many connections reached it.
fn database(
    ns: &str,
    addr: SocketAddr,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::sync::mpsc::Receiver<usize>,
) {
    serve_in(ns, move |ready, stop| async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("listens in its namespace");
        let _ = ready.send(());
        let stop = tokio::time::timeout(BOUND * 4, stop);
        tokio::pin!(stop);
        let mut accepted = 0;
        loop {
            tokio::select! {
                _ = &mut stop => break accepted,
                r = listener.accept() => accepted += usize::from(r.is_ok()),
            }
        }
    })
}

/// From `source` in `ns`, connect to `to`, send `bytes` and read until an MLLP frame ends or
/// the connection does: what came back.
fn exchange(ns: &str, source: &str, to: SocketAddr, bytes: Vec<u8>) -> Vec<u8> {
    let source = at(source, 0);
    run_in(ns, move || {
        runtime().block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(source).unwrap();
            let mut s = tokio::time::timeout(BOUND, socket.connect(to))
                .await
                .expect("connect in time")
                .expect("the connection is accepted");
            // A closed connection may refuse the write: what was read back tells.
            let _ = s.write_all(&bytes).await;
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(&[0x1C, 0x0D]) {
                match tokio::time::timeout(BOUND, s.read(&mut buf))
                    .await
                    .expect("an answer or a close in time")
                {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            got
        })
    })
}

/// GET `path` from wardgate's admin endpoint inside the router namespace.
fn admin_get(router: &str, path: &'static str) -> Option<String> {
    run_in(router, move || {
        let mut s = std::net::TcpStream::connect(ADMIN).ok()?;
        s.set_read_timeout(Some(BOUND)).ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text)
    })
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let file = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    file(
        "devices.toml",
        &format!(
            "[[device]]\nid = \"ehr\"\nkind = \"ehr\"\naddress = [\"{EHR_IP}\"]\n\n\
             [[device]]\nid = \"ehr-db\"\nkind = \"server\"\naddress = [\"{EHR_DB_IP}\"]\n\n\
             [[device]]\nid = \"pump-gateway\"\nkind = \"pump-gateway\"\naddress = [\"{PUMP_IP}\"]\n\n\
             [[device]]\nid = \"thermometer-ward3\"\nkind = \"thermometer\"\ngroup = \"vitals\"\naddress = [\"{THERMOMETER_IP}\"]\n"
        ),
    );
    file(
        "segmentation.toml",
        &format!(
            "include = [\"devices.toml\"]\n\n\
             [[flow]]\nid = \"ehr-orders-to-pumps\"\ndescription = \"PCD-03 orders\"\n\
             from = {{ device = [\"ehr\"] }}\nto = {{ device = [\"pump-gateway\"] }}\nports = [{MLLP_PORT}]\nprotocols = [\"hl7\"]\n\n\
             [[flow]]\nid = \"vitals-to-ehr\"\ndescription = \"results to the interface engine\"\n\
             from = {{ group = [\"vitals\"] }}\nto = {{ device = [\"ehr\"] }}\nports = [{MLLP_PORT}]\nprotocols = [\"hl7\"]\n"
        ),
    );
    file("allow.toml", "[policy]\ndefault = \"allow\"\n");
    // The device route sends what it admits to the interface engine (a fixed upstream): the
    // thermometer's connection meant for the database must be judged by where it was going,
    // not by that (allowed) upstream.
    let config = format!(
        "[admin]\nlisten = \"{ADMIN}\"\n[audit]\npath = \"audit.jsonl\"\n\
         [segmentation]\npolicy = \"segmentation.toml\"\n\n\
         [[route]]\nname = \"orders\"\nprotocol = \"hl7\"\nmode = \"redirect\"\n\
         listen = \"0.0.0.0:{WARDGATE_PORT}\"\nupstream = \"original-destination\"\nrules = [\"allow.toml\"]\n\n\
         [[route]]\nname = \"devices-to-clinical\"\nprotocol = \"hl7\"\nmode = \"redirect\"\n\
         listen = \"0.0.0.0:{DEVICE_ROUTE_PORT}\"\nupstream = \"{EHR_IP}:{MLLP_PORT}\"\nrules = [\"allow.toml\"]\n"
    );
    file("wardgate.toml", &config);
    dir.join("wardgate.toml")
}

/// Start the real binary in the router namespace; wait (bounded) until it is ready.
fn start_wardgate(topo: &mut Topology, config: &Path, dir: &Path) {
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let child = Command::new(tool("ip"))
        .args([
            "netns",
            "exec",
            &topo.router,
            env!("CARGO_BIN_EXE_wardgate"),
        ])
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("wardgate starts");
    topo.wardgate = Some(child);
    for _ in 0..400 {
        if admin_get(&topo.router, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "wardgate did not become ready: {}",
        std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
    );
}

#[test]
fn a_thermometer_reaching_for_the_ehr_database_is_refused_at_accept_and_reported() {
    let Some(mut topo) = topology("s") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    in_ns(
        &topo.ehr,
        &[
            "ip",
            "addr",
            "add",
            &format!("{EHR_DB_IP}/24"),
            "dev",
            "eth0",
        ],
    );
    in_ns(
        &topo.pump,
        &[
            "ip",
            "addr",
            "add",
            &format!("{THERMOMETER_IP}/24"),
            "dev",
            "eth0",
        ],
    );
    let (stop_engine, engine) = hl7_server(&topo.ehr, at(EHR_IP, MLLP_PORT));
    let (stop_db, db) = database(&topo.ehr, at(EHR_DB_IP, DB_PORT));
    let (stop_pump, pump) = hl7_server(&topo.pump, at(PUMP_IP, MLLP_PORT));
    nft(
        &topo.router,
        dir.path(),
        &deploy_example(
            "nftables-redirect.nft",
            &[
                ("EHR_NET", "10.71.1.0/24".to_owned()),
                ("PUMP_NET", "10.71.2.0/24".to_owned()),
                ("MLLP_PORT", MLLP_PORT.to_string()),
                ("WARDGATE_PORT", WARDGATE_PORT.to_string()),
                ("DEVICE_ROUTE_PORT", DEVICE_ROUTE_PORT.to_string()),
            ],
        ),
    );
    start_wardgate(&mut topo, &write_config(dir.path()), dir.path());

    // The EHR's order to the pump gateway's own address is inspected and delivered.
    let order = wrap(&fixture("pcd03-heparin-icu-safe.hl7"));
    let reply = exchange(&topo.ehr, EHR_IP, at(PUMP_IP, MLLP_PORT), order.clone());
    assert_eq!(ack_fields(&reply[1..reply.len() - 2]).0, "AA");
    // The thermometer reaching for the database (a PostgreSQL SSLRequest) gets nothing back.
    let sslrequest = vec![0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];
    let db_reply = exchange(
        &topo.pump,
        THERMOMETER_IP,
        at(EHR_DB_IP, DB_PORT),
        sslrequest,
    );
    assert!(db_reply.is_empty(), "{db_reply:?}");
    // Its own flow, results to the interface engine, still works.
    let reply = exchange(
        &topo.pump,
        THERMOMETER_IP,
        at(EHR_IP, MLLP_PORT),
        wrap(VITALS),
    );
    assert_eq!(ack_fields(&reply[1..reply.len() - 2]).0, "AA");

    let metrics = admin_get(&topo.router, "/metrics").expect("metrics");
    let _ = stop_engine.send(());
    let _ = stop_db.send(());
    let _ = stop_pump.send(());
    assert_eq!(
        db.recv_timeout(BOUND).unwrap(),
        0,
        "nothing reached the database"
    );
    assert_eq!(engine.recv_timeout(BOUND).unwrap(), vec![wrap(VITALS)]);
    assert_eq!(pump.recv_timeout(BOUND).unwrap(), vec![order]);

    // Reported: the thermometer, the destination it reached for, the reason.
    let audit: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refusals: Vec<_> = audit
        .iter()
        .filter(|r| r["verdict"] == "segmentation")
        .collect();
    assert_eq!(refusals.len(), 1, "{audit:#?}");
    let r = refusals[0];
    let db_addr = format!("{EHR_DB_IP}:{DB_PORT}");
    assert_eq!(r["route"], "devices-to-clinical", "{r}");
    assert_eq!(r["original_dst"], db_addr.as_str(), "{r}");
    assert_eq!(r["rule"], "no-flow", "{r}");
    assert_eq!(r["forwarded"], false, "{r}");
    assert!(
        r["peer"].as_str().unwrap().starts_with(THERMOMETER_IP),
        "{r}"
    );
    assert!(r["reason"].as_str().unwrap().contains(&db_addr), "{r}");
    for line in [
        "wardgate_segmentation_refusals_total{route=\"devices-to-clinical\",reason=\"no-flow\"} 1",
        "wardgate_messages_total{route=\"orders\",protocol=\"hl7\",direction=\"inbound\",verdict=\"allow\"} 1",
        "wardgate_messages_total{route=\"devices-to-clinical\",protocol=\"hl7\",direction=\"inbound\",verdict=\"allow\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
}
