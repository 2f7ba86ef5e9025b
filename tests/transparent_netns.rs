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

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{EHR_CN, ack_fields, fixture, shipped_rules};
use wardgate_hl7::wrap;
use wardgate_proxy::pki::DevCa;
use wardgate_proxy::sim::{Behaviour, MllpClient, PumpGateway, client_tls};

const EHR_IP: &str = "10.71.1.2";
const ROUTER_EHR_IP: &str = "10.71.1.1";
const ROUTER_PUMP_IP: &str = "10.71.2.1";
const PUMP_IP: &str = "10.71.2.2";
const MLLP_PORT: u16 = 2575;
/// wardgate's listener in the router namespace; the nftables rules point at it.
const WARDGATE_PORT: u16 = 15575;
/// Upper bound of every wait in this file.
const BOUND: Duration = Duration::from_secs(30);

fn pump_addr() -> SocketAddr {
    SocketAddr::new(PUMP_IP.parse().unwrap(), MLLP_PORT)
}

// ---- namespaces -----------------------------------------------------------------------------

/// The three namespaces and the wardgate process; removed on drop, also when a test panics.
struct Topology {
    ehr: String,
    router: String,
    pump: String,
    wardgate: Option<Child>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut child) = self.wardgate.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.ehr, &self.router, &self.pump] {
            let _ = Command::new(tool("ip"))
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where a system tool is: the sbin folders are often not on a test's PATH.
fn tool(name: &str) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| name.to_owned())
}

/// Run a command; panic with its output if it fails.
fn sh(args: &[&str]) {
    let out = Command::new(tool(args[0]))
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_ns(ns: &str, args: &[&str]) {
    let program = tool(args[0]);
    let mut all = vec!["ip", "netns", "exec", ns, &program];
    all.extend_from_slice(&args[1..]);
    sh(&all);
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

static RUN: AtomicUsize = AtomicUsize::new(0);

/// Create the namespaces, veth pairs, addresses and routes; `None` (after saying why) where
/// network namespaces are not available.
fn topology(tag: &str) -> Option<Topology> {
    if !is_root() {
        eprintln!("SKIPPED: transparent_netns needs root to create network namespaces");
        return None;
    }
    // Unique per process and per test, so parallel runs never share a namespace.
    let base = format!(
        "wgt{}{}{}",
        std::process::id(),
        tag,
        RUN.fetch_add(1, Ordering::Relaxed)
    );
    let mut topo = Topology {
        ehr: format!("{base}-ehr"),
        router: format!("{base}-wg"),
        pump: format!("{base}-pump"),
        wardgate: None,
    };
    let probe = Command::new(tool("ip"))
        .args(["netns", "add", &topo.ehr])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIPPED: transparent_netns: `ip netns add` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            // Nothing was created; do not try to delete what is not ours.
            topo.ehr.clear();
            topo.router.clear();
            topo.pump.clear();
            return None;
        }
        Err(e) => {
            eprintln!("SKIPPED: transparent_netns: cannot run `ip` (iproute2): {e}");
            topo.ehr.clear();
            topo.router.clear();
            topo.pump.clear();
            return None;
        }
    }
    sh(&["ip", "netns", "add", &topo.router]);
    sh(&["ip", "netns", "add", &topo.pump]);
    // The veth ends are created directly inside their namespaces: no name in the host's.
    sh(&[
        "ip",
        "link",
        "add",
        "eth0",
        "netns",
        &topo.ehr,
        "type",
        "veth",
        "peer",
        "name",
        "ehr0",
        "netns",
        &topo.router,
    ]);
    sh(&[
        "ip",
        "link",
        "add",
        "eth0",
        "netns",
        &topo.pump,
        "type",
        "veth",
        "peer",
        "name",
        "pump0",
        "netns",
        &topo.router,
    ]);
    for ns in [&topo.ehr, &topo.router, &topo.pump] {
        in_ns(ns, &["ip", "link", "set", "lo", "up"]);
    }
    in_ns(
        &topo.ehr,
        &["ip", "addr", "add", &format!("{EHR_IP}/24"), "dev", "eth0"],
    );
    in_ns(&topo.ehr, &["ip", "link", "set", "eth0", "up"]);
    in_ns(
        &topo.ehr,
        &["ip", "route", "add", "default", "via", ROUTER_EHR_IP],
    );
    in_ns(
        &topo.pump,
        &["ip", "addr", "add", &format!("{PUMP_IP}/24"), "dev", "eth0"],
    );
    in_ns(&topo.pump, &["ip", "link", "set", "eth0", "up"]);
    in_ns(
        &topo.pump,
        &["ip", "route", "add", "default", "via", ROUTER_PUMP_IP],
    );
    let r = &topo.router;
    in_ns(
        r,
        &[
            "ip",
            "addr",
            "add",
            &format!("{ROUTER_EHR_IP}/24"),
            "dev",
            "ehr0",
        ],
    );
    in_ns(
        r,
        &[
            "ip",
            "addr",
            "add",
            &format!("{ROUTER_PUMP_IP}/24"),
            "dev",
            "pump0",
        ],
    );
    in_ns(r, &["ip", "link", "set", "ehr0", "up"]);
    in_ns(r, &["ip", "link", "set", "pump0", "up"]);
    in_ns(r, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    Some(topo)
}

/// Load an nftables ruleset into a namespace (checked first, so a syntax error names its line).
fn nft(ns: &str, dir: &Path, rules: &str) {
    let file = dir.join("rules.nft");
    std::fs::write(&file, rules).unwrap();
    let file = file.display().to_string();
    in_ns(ns, &["nft", "-c", "-f", &file]);
    in_ns(ns, &["nft", "-f", &file]);
}

/// A shipped example from deploy/, with this test's networks and ports in its `define`s: the
/// test runs the very rules operators are given.
fn deploy_rules(name: &str) -> String {
    let text = std::fs::read_to_string(common::root().join("deploy").join(name)).unwrap();
    let values = [
        ("EHR_NET", "10.71.1.0/24".to_owned()),
        ("PUMP_NET", "10.71.2.0/24".to_owned()),
        ("MLLP_PORT", MLLP_PORT.to_string()),
        ("WARDGATE_PORT", WARDGATE_PORT.to_string()),
    ];
    let mut replaced = 0;
    let mut out = String::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let define = match (words.next(), words.next()) {
            (Some("define"), Some(name)) => values.iter().find(|(n, _)| *n == name),
            _ => None,
        };
        match define {
            Some((name, value)) => {
                out.push_str(&format!("define {name} = {value}\n"));
                replaced += 1;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    assert_eq!(replaced, values.len(), "deploy/{name} defines {values:?}");
    out
}

// ---- code running inside a namespace -----------------------------------------------------------

/// Run `f` on a new thread that has joined network namespace `ns`: every socket it opens lives
/// there. Waits at most [`BOUND`] for the result.
fn run_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("namespace file");
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns into the test namespace");
        let _ = tx.send(f());
    });
    match rx.recv_timeout(BOUND * 2) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("namespace thread ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("namespace thread did not finish in time"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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
