//! Transparent interception in network namespaces this test creates: an EHR namespace, a
//! wardgate namespace that routes between the EHR and pump networks (with nftables), and a pump
//! namespace running a simulated pump gateway. The EHR connects to the pump gateway's *own*
//! address; the real `wardgate` binary, run in the router namespace, intercepts the connection
//! (REDIRECT or TPROXY), forwards the safe order and refuses the unsafe one. What the gateway
//! received is the proof that only allowed traffic reached it.
//!
//! Needs root (to create namespaces); skips with a message where `ip netns add` is not possible.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod netns;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::{EHR_CN, ack_fields, fixture, shipped_rules};
use netns::*;
use wardgate_hl7::wrap;
use wardgate_proxy::pki::DevCa;
use wardgate_proxy::sim::{Behaviour, MllpClient, PumpGateway, client_tls};

const MLLP_PORT: u16 = 2575;
/// wardgate's listener in the router namespace; the nftables rules point at it.
const WARDGATE_PORT: u16 = 15575;

fn pump_addr() -> SocketAddr {
    SocketAddr::new(PUMP_IP.parse().unwrap(), MLLP_PORT)
}

/// A shipped example from deploy/, with this test's networks and ports in its `define`s.
fn deploy_rules(name: &str) -> String {
    netns::deploy_example(
        name,
        &[
            ("EHR_NET", "10.71.1.0/24".to_owned()),
            ("PUMP_NET", "10.71.2.0/24".to_owned()),
            ("MLLP_PORT", MLLP_PORT.to_string()),
            ("WARDGATE_PORT", WARDGATE_PORT.to_string()),
        ],
    )
}

/// The simulated pump gateway, listening on the pump's own address inside the pump namespace.
struct PumpSide {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    seen: mpsc::Receiver<(Vec<Vec<u8>>, Vec<SocketAddr>)>,
}

impl PumpSide {
    fn start(ns: &str) -> PumpSide {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (seen_tx, seen) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("namespace file");
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns into the pump namespace");
            runtime().block_on(async move {
                let gw = PumpGateway::start(pump_addr(), None, Behaviour::Acknowledge)
                    .await
                    .expect("gateway listens on the pump's address");
                let _ = ready_tx.send(());
                // Until the test says stop (or is gone), and never longer than the bound.
                let _ = tokio::time::timeout(BOUND * 4, stop_rx).await;
                let _ = seen_tx.send((gw.received(), gw.peers()));
            });
        });
        ready
            .recv_timeout(BOUND)
            .expect("pump gateway starts in its namespace");
        PumpSide {
            stop: Some(stop_tx),
            seen,
        }
    }

    /// Stop the gateway: the frames it received and the peers it saw connect.
    fn finish(mut self) -> (Vec<Vec<u8>>, Vec<SocketAddr>) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.seen.recv_timeout(BOUND).expect("pump gateway reports")
    }
}

// ---- wardgate -----------------------------------------------------------------------------------

/// Material for one run: the CA, wardgate's certificate for the pump's address, the config.
struct Setup {
    dir: tempfile::TempDir,
    ca: DevCa,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("netns test CA").unwrap();
        // The EHR checks the certificate against the address it connects to: the pump's.
        let server = ca.server(&[PUMP_IP]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), &server.cert).unwrap();
        std::fs::write(dir.path().join("server-key.pem"), &server.key).unwrap();
        Setup { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, route_extra: &str) -> PathBuf {
        let rules = shipped_rules()
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let p = |n: &str| format!("{:?}", self.path(n).display().to_string());
        let text = format!(
            "[audit]\npath = {audit}\n\n\
             [[route]]\nname = \"pcd03-transparent\"\nprotocol = \"hl7\"\n\
             listen = \"0.0.0.0:{WARDGATE_PORT}\"\nupstream = \"original-destination\"\n\
             rules = [{rules}]\n{route_extra}\n\
             [route.tls]\ncert = {cert}\nkey = {key}\nclient_ca = {ca}\nclient_auth = \"required\"\n",
            audit = p("audit.jsonl"),
            cert = p("server.pem"),
            key = p("server-key.pem"),
            ca = p("ca.pem"),
        );
        let file = self.path("wardgate.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("route").is_some())
            .collect()
    }
}

/// Start the real binary in the router namespace and wait (bounded) until its route listens.
fn start_wardgate(topo: &mut Topology, config: &Path) {
    let mut child = Command::new(tool("ip"))
        .args([
            "netns",
            "exec",
            &topo.router,
            env!("CARGO_BIN_EXE_wardgate"),
        ])
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wardgate starts");
    let stderr = child.stderr.take().unwrap();
    topo.wardgate = Some(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("wardgate: {line}");
            if tx.send(line).is_err() {
                // Keep draining so wardgate never blocks on a full pipe.
                continue;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(BOUND) {
            Ok(line) if line.contains("route listening") => return,
            Ok(line) => seen.push(line),
            Err(_) => panic!("wardgate did not start listening:\n{}", seen.join("\n")),
        }
    }
}

// ---- the EHR --------------------------------------------------------------------------------------

/// What the EHR experienced.
struct EhrSaw {
    /// MSA-1 of the reply to the safe order, and to the unsafe one.
    safe: String,
    unsafe_: String,
    /// A direct connection to wardgate's own port: bytes read before the connection ended.
    direct_bytes: usize,
}

fn ehr_session(topo: &Topology, setup: &Setup) -> EhrSaw {
    let ca = setup.ca.cert_pem();
    let client = setup.ca.client(EHR_CN).unwrap();
    run_in(&topo.ehr, move || {
        runtime().block_on(async move {
            let tls = client_tls(&ca, Some(&client)).unwrap();
            // The pump's own address: the EHR knows nothing about wardgate.
            let mut ehr = tokio::time::timeout(
                BOUND,
                MllpClient::connect(pump_addr(), Some((tls, PUMP_IP))),
            )
            .await
            .expect("connect in time")
            .expect("EHR connects to the pump's address");
            let safe = ehr
                .request(&fixture("pcd03-heparin-icu-safe.hl7"), BOUND)
                .await
                .unwrap()
                .expect("a reply to the safe order");
            let unsafe_ = ehr
                .request(&fixture("pcd03-heparin-icu-10x.hl7"), BOUND)
                .await
                .unwrap()
                .expect("a reply to the unsafe order");
            // Straight to wardgate's listener: it must be refused, not relayed to itself.
            let direct = SocketAddr::new(ROUTER_EHR_IP.parse().unwrap(), WARDGATE_PORT);
            let mut s = tokio::time::timeout(BOUND, tokio::net::TcpStream::connect(direct))
                .await
                .expect("connect in time")
                .expect("the listener accepts at TCP level");
            let mut buf = Vec::new();
            let read = tokio::time::timeout(
                BOUND,
                tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf),
            )
            .await
            .expect("wardgate closes a direct connection");
            // A reset is as good as a close: either way nothing was answered.
            let _ = read;
            EhrSaw {
                safe: ack_fields(&safe).0,
                unsafe_: ack_fields(&unsafe_).0,
                direct_bytes: buf.len(),
            }
        })
    })
}

/// The checks both modes share; returns the peers the pump gateway saw.
fn run_scenario(topo: &mut Topology, setup: &Setup, route_extra: &str) -> Vec<SocketAddr> {
    let pump = PumpSide::start(&topo.pump);
    start_wardgate(topo, &setup.config(route_extra));
    let saw = ehr_session(topo, setup);
    let (received, peers) = pump.finish();

    assert_eq!(
        saw.safe, "AA",
        "the safe order is delivered and acknowledged"
    );
    assert_eq!(saw.unsafe_, "AR", "the unsafe order is refused by wardgate");
    assert_eq!(saw.direct_bytes, 0, "a direct connection gets no answer");
    // The pump side saw exactly the safe order, byte for byte, and nothing else.
    assert_eq!(received, vec![wrap(&fixture("pcd03-heparin-icu-safe.hl7"))]);

    let audit = setup.audit();
    let inbound: Vec<_> = audit
        .iter()
        .filter(|r| r["direction"] == "inbound" && r["verdict"] != "closed")
        .collect();
    assert_eq!(inbound.len(), 2, "{audit:#?}");
    for r in &inbound {
        assert_eq!(r["original_dst"], format!("{PUMP_IP}:{MLLP_PORT}"), "{r}");
        assert!(
            r["peer"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{EHR_IP}:")),
            "{r}"
        );
    }
    assert_eq!(inbound[0]["verdict"], "allow");
    assert_eq!(inbound[1]["verdict"], "deny");
    let refused = audit
        .iter()
        .find(|r| r["verdict"] == "closed")
        .expect("the direct connection is audited");
    assert!(
        refused["reason"].as_str().unwrap().contains("own listener"),
        "{refused}"
    );
    peers
}

#[test]
fn redirect_mode_inspects_traffic_to_the_pumps_own_address() {
    let Some(mut topo) = topology("r") else {
        return;
    };
    let setup = Setup::new();
    // Connections from the EHR network to the pump network's MLLP port go to wardgate instead.
    nft(
        &topo.router,
        setup.dir.path(),
        &deploy_rules("nftables-redirect.nft"),
    );
    let peers = run_scenario(&mut topo, &setup, "mode = \"redirect\"");
    // wardgate connected from its own address on the pump network.
    assert!(!peers.is_empty());
    for p in &peers {
        assert_eq!(p.ip().to_string(), ROUTER_PUMP_IP, "{peers:?}");
    }
}

#[test]
fn tproxy_mode_connects_upstream_from_the_clients_own_address() {
    let Some(mut topo) = topology("t") else {
        return;
    };
    let setup = Setup::new();
    // TPROXY: connections are delivered unchanged to wardgate's transparent listener; packets
    // for sockets wardgate opened from the EHR's address (the pump's replies) are delivered
    // locally too, by the policy routing the example's header asks for (TPROXY_MARK = 0x1).
    nft(
        &topo.router,
        setup.dir.path(),
        &deploy_rules("nftables-tproxy.nft"),
    );
    in_ns(
        &topo.router,
        &["ip", "rule", "add", "fwmark", "0x1", "lookup", "100"],
    );
    in_ns(
        &topo.router,
        &[
            "ip",
            "route",
            "add",
            "local",
            "0.0.0.0/0",
            "dev",
            "lo",
            "table",
            "100",
        ],
    );
    let peers = run_scenario(
        &mut topo,
        &setup,
        "mode = \"tproxy\"\nupstream_source = \"client\"",
    );
    // The pump gateway saw the EHR itself, as it would without wardgate in the path.
    assert!(!peers.is_empty());
    for p in &peers {
        assert_eq!(p.ip().to_string(), EHR_IP, "{peers:?}");
    }
}

/// Every nftables example in deploy/ passes `nft -c` (parsed and checked by the kernel, e.g. that
/// `tproxy` and `socket` are available), as shipped, in a namespace of its own so the host's
/// rules neither matter nor change.
#[test]
fn every_deploy_nftables_example_checks() {
    let Some(topo) = topology("n") else {
        return;
    };
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(common::root().join("deploy")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "nft") {
            in_ns(&topo.router, &["nft", "-c", "-f", path.to_str().unwrap()]);
            checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    checked.sort();
    for expected in ["nftables-redirect.nft", "nftables-tproxy.nft"] {
        assert!(checked.iter().any(|c| c == expected), "{checked:?}");
    }
}
