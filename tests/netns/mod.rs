//! Network namespaces for tests: a three-namespace topology (EHR, a router running wardgate,
//! pump) removed on drop, and a way to run code inside one of them. Needs root; where network
//! namespaces are unavailable, [`topology`] says why and returns `None`.
#![allow(dead_code)]

use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The EHR network is 10.71.1.0/24, the pump network 10.71.2.0/24; the router is .1 on both.
pub const EHR_IP: &str = "10.71.1.2";
pub const ROUTER_EHR_IP: &str = "10.71.1.1";
pub const ROUTER_PUMP_IP: &str = "10.71.2.1";
pub const PUMP_IP: &str = "10.71.2.2";

/// Upper bound of every wait in these tests.
pub const BOUND: Duration = Duration::from_secs(30);

// ---- namespaces -----------------------------------------------------------------------------

/// The three namespaces and the wardgate process; removed on drop, also when a test panics.
pub struct Topology {
    pub ehr: String,
    pub router: String,
    pub pump: String,
    pub wardgate: Option<Child>,
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
pub fn tool(name: &str) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| name.to_owned())
}

/// Run a command; panic with its output if it fails.
pub fn sh(args: &[&str]) {
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

pub fn in_ns(ns: &str, args: &[&str]) {
    let program = tool(args[0]);
    let mut all = vec!["ip", "netns", "exec", ns, &program];
    all.extend_from_slice(&args[1..]);
    sh(&all);
}

pub fn is_root() -> bool {
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
pub fn topology(tag: &str) -> Option<Topology> {
    if !is_root() {
        eprintln!("SKIPPED: this test needs root to create network namespaces");
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
                "SKIPPED: `ip netns add` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            // Nothing was created; do not try to delete what is not ours.
            topo.ehr.clear();
            topo.router.clear();
            topo.pump.clear();
            return None;
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot run `ip` (iproute2): {e}");
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
pub fn nft(ns: &str, dir: &Path, rules: &str) {
    let file = dir.join("rules.nft");
    std::fs::write(&file, rules).unwrap();
    let file = file.display().to_string();
    in_ns(ns, &["nft", "-c", "-f", &file]);
    in_ns(ns, &["nft", "-f", &file]);
}

// ---- code running inside a namespace -----------------------------------------------------------

/// Run `f` on a new thread that has joined network namespace `ns`: every socket it opens lives
/// there. Waits at most [`BOUND`] for the result.
pub fn run_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
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

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A shipped nftables example from deploy/ with some of its `define`s set to a test's networks
/// and ports (each must be defined there): the test runs the very rules operators are given.
pub fn deploy_example(name: &str, values: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
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

/// Run `serve` on a thread of its own inside namespace `ns`, on a runtime of its own. `serve`
/// gets a ready signal to send once it listens (waited for here, at most [`BOUND`]) and the stop
/// signal (the returned sender, used or dropped), after which it must end; its result comes on
/// the returned receiver.
pub fn serve_in<T, F, Fut>(
    ns: &str,
    serve: F,
) -> (tokio::sync::oneshot::Sender<()>, mpsc::Receiver<T>)
where
    T: Send + 'static,
    F: FnOnce(mpsc::Sender<()>, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("namespace file");
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns into the test namespace");
        let result = runtime().block_on(serve(ready_tx, stop_rx));
        let _ = done_tx.send(result);
    });
    ready
        .recv_timeout(BOUND)
        .expect("the server starts in its namespace");
    (stop_tx, done)
}
