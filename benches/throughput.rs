//! wardgate's performance benchmark: `cargo bench --bench throughput`.
//!
//! Three phases, printed as plain-text tables in one run:
//!
//! 1. **Parse and inspect** (single thread, no I/O) over the UTF-8 PCD-03 fixtures in
//!    `fixtures/hl7/pcd03-*.hl7`, each wrapped in an MLLP envelope: wardgate frame + parse,
//!    wardgate frame + parse + the shipped `rules/pcd03` rules, and the `hl7-parser` 0.3 crate
//!    parsing the same payloads. Targets: frame + parse + rules ≤ 2 µs per typical message, and
//!    wardgate's frame + parse ≥ 25× faster than `hl7-parser`.
//! 2. **End to end over loopback** (tokio multi-thread runtime): a client speaking mutual TLS to
//!    wardgate (shipped rules, audit log) in front of the simulated pump gateway, versus the same
//!    client to a plain TLS-terminating byte forwarder (`tokio::io::copy_bidirectional`) in front
//!    of the same gateway. Request/response with the safe heparin order. Target: wardgate's
//!    throughput ≥ 0.9× the forwarder's.
//! 3. **Memory per idle TLS connection**: the servers run in a child process (this same
//!    executable, re-run with `WARDGATE_BENCH_CHILD` set), so its RSS growth is server-side only;
//!    the client side's growth (this process) is printed separately.
//!
//! `WARDGATE_BENCH_QUICK=1` shortens every phase to a few hundred milliseconds (CI smoke test);
//! `WARDGATE_BENCH_ONLY=parse|e2e|idle` runs one phase only (for profiling).
//! `WARDGATE_BENCH_METRICS=1` installs the Prometheus recorder first (as a config with `[admin]`
//! does); by default there is none, as with the embedded default configuration.

// A benchmark has no caller to hand an error to: a broken setup (missing fixture, port in use,
// refused connection) must abort the run with a message saying what went wrong, which is exactly
// what `expect` does. The workspace lints warn on it, so it is allowed for this file only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the `wardgate` binary uses (see src/main.rs), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use wardgate_hl7::{Message, MllpFramer, ParseLimits, read_infusion_orders, wrap};
use wardgate_proxy::audit::AuditLog;
use wardgate_proxy::config::{ClientAuth, Config, ServerTls};
use wardgate_proxy::pki::{DevCa, Pem};
use wardgate_proxy::sim::{Behaviour, MllpClient, PumpGateway, client_tls};
use wardgate_proxy::{Proxy, RouteSpec};
use wardgate_rules::{CertIdentity, RuleSet, RuleSource, Sender, Verdict, compile};

/// The client certificate CN the shipped policy trusts.
const EHR_CN: &str = "ehr-bcma.egh.example";
/// The request of phase 2 and the "typical message" of phase 1.
const TYPICAL: &str = "pcd03-heparin-icu-safe.hl7";
/// Set in the child process: which server to run (`proxy` or `forwarder`).
const CHILD_ENV: &str = "WARDGATE_BENCH_CHILD";
/// Set in the child process: the folder holding the development PKI.
const PKI_ENV: &str = "WARDGATE_BENCH_PKI";
/// Set to 1 for a short smoke-test run.
const QUICK_ENV: &str = "WARDGATE_BENCH_QUICK";
/// Set to `parse`, `e2e` or `idle` to run one phase only (e.g. under `perf record`).
const ONLY_ENV: &str = "WARDGATE_BENCH_ONLY";
/// Set to install the Prometheus recorder before wardgate starts.
const METRICS_ENV: &str = "WARDGATE_BENCH_METRICS";
/// Set to `forwarder`, `file` or `sink` to run one phase-2 server only (e.g. under `perf stat`);
/// the other rows then stay empty.
const TARGET_ENV: &str = "WARDGATE_BENCH_TARGET";

/// Timed samples per phase-1 measurement; the median is reported.
const SAMPLES: usize = 5;
/// Hard cap on passes over the message set in one phase-1 sample.
const MAX_PASSES: u64 = 100_000_000;
/// Requests per connection before the timed window (TLS, upstream connect, allocator warm-up).
const WARMUP_REQUESTS: usize = 50;
/// Hard cap on requests per connection in one timed window.
const MAX_REQUESTS: usize = 5_000_000;
/// Time allowed for any one request/response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections opened at once while setting up the idle connections.
const CONNECT_BATCH: usize = 16;

/// How long each phase runs.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    /// Budget of one phase-1 measurement.
    micro: Duration,
    /// Timed window of one phase-2 run.
    e2e: Duration,
    /// Interleaved phase-2 rounds (each runs every target once).
    rounds: usize,
    /// Idle connections opened in phase 3.
    idle: usize,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var(QUICK_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Plan {
                quick,
                micro: Duration::from_millis(150),
                e2e: Duration::from_millis(300),
                rounds: 1,
                idle: 100,
            }
        } else {
            Plan {
                quick,
                micro: Duration::from_millis(1500),
                e2e: Duration::from_millis(2500),
                rounds: 2,
                idle: 500,
            }
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    if let Ok(kind) = std::env::var(CHILD_ENV) {
        child_main(&kind);
        return;
    }
    let plan = Plan::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("wardgate throughput benchmark");
    println!(
        "  mode: {}   cores: {cores}   ({QUICK_ENV}=1 for a short smoke run)\n",
        if plan.quick { "QUICK" } else { "full" }
    );
    let only = std::env::var(ONLY_ENV).unwrap_or_default();
    let run = |phase: &str| only.is_empty() || only == phase;
    let started = Instant::now();
    let micro = run("parse").then(|| phase_parse(&plan));
    let dir = std::env::temp_dir().join(format!("wardgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the benchmark's temporary folder");
    let pki = Pki::generate(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    // Idle memory is measured before phase 2 so that this (client) process's RSS growth is not
    // hidden by heap that phase 2 freed; it is printed in phase order.
    let idle = run("idle").then(|| measure_idle_memory(&plan, &rt, &pki));
    let e2e = run("e2e").then(|| phase_end_to_end(&plan, &rt, &pki));
    if let Some(rows) = &idle {
        print_idle_memory(rows);
    }
    drop(rt);
    print_summary(micro.as_ref(), e2e.as_ref(), idle.as_deref());
    println!(
        "\ntotal benchmark time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Phase 1: parse and inspect
// ---------------------------------------------------------------------------------------------

/// One fixture, framed.
struct Fixture {
    name: String,
    /// The MLLP-framed bytes (what arrives on the wire).
    wire: Vec<u8>,
    /// The payload as text, for hl7-parser (`None` when it is not UTF-8).
    text: Option<String>,
}

fn load_fixtures() -> Vec<Fixture> {
    let dir = root().join("fixtures/hl7");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading fixtures/hl7")
        .take(10_000)
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pcd03-") && n.ends_with(".hl7"))
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures/hl7/pcd03-*.hl7 found");
    paths
        .iter()
        .map(|p| {
            let payload = std::fs::read(p).expect("reading a fixture");
            Fixture {
                name: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                wire: wrap(&payload),
                text: String::from_utf8(payload).ok(),
            }
        })
        .collect()
}

fn shipped_rules() -> RuleSet {
    let dir = root().join("rules/pcd03");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading rules/pcd03")
        .take(10_000)
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let sources: Vec<RuleSource> = files
        .iter()
        .map(|f| RuleSource::from_file(f).expect("reading a shipped rule file"))
        .collect();
    compile(&sources).unwrap_or_else(|d| panic!("the shipped rules do not compile:\n{d}"))
}

fn ehr_sender() -> Sender {
    Sender {
        address: IpAddr::V4(Ipv4Addr::new(10, 20, 30, 40)),
        certificate: Some(CertIdentity {
            common_name: Some(EHR_CN.to_owned()),
            alt_names: vec![],
        }),
    }
}

/// One phase-1 measurement: the median of [`SAMPLES`] timed samples.
#[derive(Debug, Clone, Copy)]
struct Rate {
    ns_per_msg: f64,
    /// (slowest - fastest sample) / median, in percent.
    spread_pct: f64,
    /// Mean payload bytes per message of the set.
    bytes_per_msg: f64,
}

impl Rate {
    fn msgs_per_s(&self) -> f64 {
        1e9 / self.ns_per_msg
    }

    fn mb_per_s(&self) -> f64 {
        self.bytes_per_msg * self.msgs_per_s() / 1e6
    }
}

/// Time `pass` (one pass over a set of `msgs` messages holding `bytes` payload bytes) for about
/// `budget`: a twentieth to warm up and calibrate, the rest in [`SAMPLES`] equal samples.
fn measure(budget: Duration, msgs: usize, bytes: usize, mut pass: impl FnMut()) -> Rate {
    let warm = budget / 20;
    let start = Instant::now();
    let mut passes: u64 = 0;
    while passes < MAX_PASSES && (passes == 0 || start.elapsed() < warm) {
        pass();
        passes += 1;
    }
    let per_pass = start.elapsed().as_secs_f64() / passes as f64;
    let sample_secs = budget.as_secs_f64() * 0.95 / SAMPLES as f64;
    let n = ((sample_secs / per_pass.max(1e-9)) as u64).clamp(1, MAX_PASSES);
    let mut ns: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                pass();
            }
            t.elapsed().as_nanos() as f64 / (n as f64 * msgs as f64)
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    let median = ns[SAMPLES / 2];
    Rate {
        ns_per_msg: median,
        spread_pct: (ns[SAMPLES - 1] - ns[0]) / median * 100.0,
        bytes_per_msg: bytes as f64 / msgs as f64,
    }
}

/// Frame and parse, keeping only the success path (every benchmark input is checked first).
#[inline(always)]
fn frame_parse<'a>(
    framer: &mut MllpFramer,
    wire: &'a [u8],
    limits: &ParseLimits,
) -> Option<Message<'a>> {
    let info = framer.next_frame(wire).ok().flatten()?;
    Message::parse(wire.get(info.payload)?, limits).ok()
}

/// Touch every subcomponent through wardgate's lazy accessors (the work hl7-parser does eagerly).
fn visit_all(msg: &Message<'_>) -> usize {
    let mut total = 0usize;
    for seg in msg.segments() {
        for f in 1..=seg.field_count() {
            let Some(field) = seg.field(f) else { continue };
            for r in 1..=field.repetition_count() {
                let Some(rep) = field.repetition(r) else {
                    continue;
                };
                for c in 1..=rep.component_count() {
                    let Some(comp) = rep.component(c) else {
                        continue;
                    };
                    for s in 1..=comp.subcomponent_count() {
                        total += comp.subcomponent(s).map_or(0, |v| v.raw().len());
                    }
                }
            }
        }
    }
    total
}

/// The results phase 1 hands to the summary.
struct MicroResults {
    /// Per message set: (label, frame+parse, frame+parse+rules, hl7-parser).
    sets: Vec<(String, Rate, Rate, Rate)>,
}

fn phase_parse(plan: &Plan) -> MicroResults {
    let fixtures = load_fixtures();
    let skipped: Vec<&str> = fixtures
        .iter()
        .filter(|f| f.text.is_none())
        .map(|f| f.name.as_str())
        .collect();
    let usable: Vec<&Fixture> = fixtures.iter().filter(|f| f.text.is_some()).collect();
    let rules = shipped_rules();
    let sender = ehr_sender();
    let limits = ParseLimits::default();

    // Every input must take the success path on both sides, or the comparison is meaningless.
    let mut allowed = 0usize;
    let mut denied = Vec::new();
    for f in &usable {
        let mut framer = MllpFramer::default();
        let msg = frame_parse(&mut framer, &f.wire, &limits)
            .unwrap_or_else(|| panic!("{}: wardgate does not frame+parse it", f.name));
        match rules.evaluate_hl7(&msg, &sender) {
            Verdict::Permit(_) => allowed += 1,
            Verdict::Deny(d) => denied.push(format!("{} ({})", f.name, d.rule)),
        }
        let text = f.text.as_deref().unwrap_or_default();
        if let Err(e) = hl7_parser::parse_message(text) {
            panic!("{}: hl7-parser does not parse it: {e}", f.name);
        }
    }

    let typical: Vec<&Fixture> = usable
        .iter()
        .copied()
        .filter(|f| f.name == TYPICAL)
        .collect();
    assert_eq!(typical.len(), 1, "fixture {TYPICAL} missing");
    let sets = [
        (format!("{} UTF-8 fixtures", usable.len()), usable.clone()),
        ("heparin-icu-safe".to_owned(), typical),
    ];

    println!("== 1. Parse and inspect: one thread, no I/O, messages already in memory ==");
    println!(
        "   {} PCD-03 fixtures, {} UTF-8 used on both sides; skipped (not UTF-8): {}",
        fixtures.len(),
        usable.len(),
        if skipped.is_empty() {
            "none".to_owned()
        } else {
            skipped.join(", ")
        }
    );
    println!(
        "   shipped rules on the {} used: {allowed} allowed, {} denied ({})",
        usable.len(),
        denied.len(),
        denied.join(", ")
    );
    println!(
        "   MB/s counts HL7 payload bytes (envelope excluded); median of {SAMPLES} samples, {} ms budget each; spread = (max-min)/median",
        plan.micro.as_millis()
    );
    println!(
        "   hl7-parser gets pre-validated &str payloads (no MLLP framing, no UTF-8 check): that favours it.\n"
    );
    let header = format!(
        "   {:<20} {:<52} {:>10} {:>13} {:>9} {:>7}",
        "message set", "case", "ns/msg", "msgs/s", "MB/s", "spread"
    );
    println!("{header}");
    println!("   {}", "-".repeat(header.len() - 3));
    let row = |set: &str, case: &str, r: &Rate| {
        println!(
            "   {:<20} {:<52} {:>10.1} {:>13.0} {:>9.1} {:>6.1}%",
            set,
            case,
            r.ns_per_msg,
            r.msgs_per_s(),
            r.mb_per_s(),
            r.spread_pct
        );
    };

    let mut results = Vec::new();
    for (label, set) in &sets {
        let wires: Vec<&[u8]> = set.iter().map(|f| f.wire.as_slice()).collect();
        let texts: Vec<&str> = set
            .iter()
            .map(|f| f.text.as_deref().unwrap_or_default())
            .collect();
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        let n = set.len();
        let parsed: Vec<Message<'_>> = wires
            .iter()
            .filter_map(|w| frame_parse(&mut MllpFramer::default(), w, &limits))
            .collect();
        let payloads: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let mut framer = MllpFramer::default();

        let a = measure(plan.micro, n, bytes, || {
            for w in &wires {
                if let Some(m) = frame_parse(&mut framer, black_box(w), &limits) {
                    black_box(&m);
                }
            }
        });
        row(label, "(a) wardgate frame + parse", &a);
        let b = measure(plan.micro, n, bytes, || {
            for w in &wires {
                if let Some(m) = frame_parse(&mut framer, black_box(w), &limits) {
                    black_box(rules.evaluate_hl7(&m, black_box(&sender)));
                }
            }
        });
        row(label, "(b) wardgate frame + parse + shipped rules", &b);
        let c = measure(plan.micro, n, bytes, || {
            for t in &texts {
                if let Ok(m) = hl7_parser::parse_message(black_box(t)) {
                    black_box(&m);
                }
            }
        });
        row(label, "(c) hl7-parser 0.3 parse_message", &c);
        let d = measure(plan.micro / 2, n, bytes, || {
            for w in &wires {
                if let Some(m) = frame_parse(&mut framer, black_box(w), &limits) {
                    black_box(visit_all(&m));
                }
            }
        });
        row(
            label,
            "(d) wardgate (a) + visit every subcomponent (info)",
            &d,
        );
        // Where the time of (b) goes.
        let p = measure(plan.micro / 2, n, bytes, || {
            for p in &payloads {
                if let Ok(m) = Message::parse(black_box(p), &limits) {
                    black_box(&m);
                }
            }
        });
        row(label, "    part: Message::parse only (no framing)", &p);
        let o = measure(plan.micro / 2, n, bytes, || {
            for m in &parsed {
                let _ = black_box(read_infusion_orders(black_box(m)));
            }
        });
        row(label, "    part: read_infusion_orders (parsed message)", &o);
        let e = measure(plan.micro / 2, n, bytes, || {
            for m in &parsed {
                black_box(rules.evaluate_hl7(black_box(m), &sender));
            }
        });
        row(label, "    part: evaluate_hl7 (parsed message)", &e);
        println!(
            "   {:<20} ratio (c)/(a) = {:.1}x   (c)/(b) = {:.1}x   (c)/(d) = {:.1}x\n",
            "",
            c.ns_per_msg / a.ns_per_msg,
            c.ns_per_msg / b.ns_per_msg,
            c.ns_per_msg / d.ns_per_msg
        );
        results.push((label.clone(), a, b, c));
    }
    MicroResults { sets: results }
}

// ---------------------------------------------------------------------------------------------
// Shared setup: PKI, proxy, forwarder
// ---------------------------------------------------------------------------------------------

/// The development PKI: files on disk for the servers, PEM text for the clients.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client: Pem,
}

impl Pki {
    fn generate(dir: &Path) -> Pki {
        let ca = DevCa::new("wardgate bench CA").expect("generating the CA");
        let server = ca
            .server(&["localhost", "127.0.0.1"])
            .expect("generating the server certificate");
        let client = ca
            .client(EHR_CN)
            .expect("generating the client certificate");
        for (name, text) in [
            ("ca.pem", ca.cert_pem()),
            ("server.pem", server.cert),
            ("server-key.pem", server.key),
        ] {
            std::fs::write(dir.join(name), text).expect("writing the PKI files");
        }
        Pki {
            dir: dir.to_owned(),
            ca_pem: ca.cert_pem(),
            client,
        }
    }

    fn client_config(&self) -> Arc<ClientConfig> {
        client_tls(&self.ca_pem, Some(&self.client)).expect("building the client TLS config")
    }
}

/// Where the proxy's audit lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audit {
    /// A file in the temporary folder (`AuditLog::to_file`: buffered, flushed per line).
    File,
    /// `std::io::sink()`: what the proxy costs without audit I/O.
    Sink,
}

/// Start wardgate on the embedded default's route settings (mutual TLS, shipped `rules/pcd03`,
/// fail closed), except `max_connections`, raised from 128 to 1024 for the idle-connection phase.
async fn start_proxy(pki_dir: &Path, upstream: SocketAddr, audit: Audit, tag: &str) -> SocketAddr {
    let p = |f: &str| pki_dir.join(f).display().to_string().replace('\\', "/");
    let r = |f: &str| root().join(f).display().to_string().replace('\\', "/");
    let text = format!(
        r#"[[route]]
name = "pcd03"
protocol = "hl7"
listen = "127.0.0.1:0"
upstream = "{upstream}"
rules = ["{policy}", "{library}"]
failure_policy = "closed"

[route.limits]
max_message_bytes = 1048576
idle_timeout = "5m"
frame_timeout = "10s"
max_connections = 1024

[route.tls]
cert = "{cert}"
key = "{key}"
client_ca = "{ca}"
client_auth = "required"
"#,
        policy = r("rules/pcd03/policy.toml"),
        library = r("rules/pcd03/drug-library.toml"),
        cert = p("server.pem"),
        key = p("server-key.pem"),
        ca = p("ca.pem"),
    );
    let config = Config::parse(&text, "bench config", None).expect("parsing the bench config");
    let specs: Vec<RouteSpec> = config
        .routes
        .iter()
        .map(|route| {
            let sources: Vec<RuleSource> = route
                .rules
                .iter()
                .map(|f| RuleSource::from_file(f).expect("reading a rule file"))
                .collect();
            RouteSpec {
                config: route.clone(),
                rules: compile(&sources).unwrap_or_else(|d| panic!("rules do not compile: {d}")),
            }
        })
        .collect();
    let log = match audit {
        Audit::File => AuditLog::to_file(&pki_dir.join(format!("audit-{tag}.jsonl")))
            .expect("opening the audit log"),
        Audit::Sink => AuditLog::to_writer(Box::new(std::io::sink())),
    };
    if std::env::var(METRICS_ENV).is_ok() {
        wardgate_proxy::admin::start(
            "127.0.0.1:0".parse().expect("an address"),
            wardgate_proxy::admin::Readiness::default(),
            None,
        )
        .await
        .expect("starting the admin endpoint");
    }
    let proxy = Proxy::bind(specs, Arc::new(log))
        .await
        .expect("binding the proxy");
    let addr = proxy
        .local_addrs()
        .first()
        .map(|(_, a)| *a)
        .expect("the proxy route did not bind");
    // Runs until the runtime is dropped at the end of the benchmark.
    tokio::spawn(proxy.run(std::future::pending::<()>()));
    addr
}

/// The forwarder's TLS: built by wardgate's own `tls::server_config`, so both servers negotiate
/// exactly the same way (mutual TLS, same provider, versions and verifier).
fn forwarder_tls(pki_dir: &Path) -> Arc<ServerConfig> {
    wardgate_proxy::tls::server_config(&ServerTls {
        cert: pki_dir.join("server.pem"),
        key: pki_dir.join("server-key.pem"),
        client_ca: Some(pki_dir.join("ca.pem")),
        client_auth: ClientAuth::Required,
    })
    .expect("building the forwarder's TLS config")
}

/// A plain TLS-terminating byte forwarder: no framing, no parsing, no rules, no audit.
async fn start_forwarder(pki_dir: &Path, upstream: SocketAddr) -> SocketAddr {
    let acceptor = TlsAcceptor::from(forwarder_tls(pki_dir));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the forwarder");
    let addr = listener.local_addr().expect("forwarder address");
    tokio::spawn(async move {
        for _ in 0..10_000_000u64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = forward_one(acceptor, tcp, upstream).await;
            });
        }
    });
    addr
}

/// Like wardgate, connect upstream only when the client first sends something, so idle
/// connections cost the same kind of resources on both servers.
async fn forward_one(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    upstream: SocketAddr,
) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut tls = acceptor.accept(tcp).await?;
    // One byte: the rest of the decrypted record stays in rustls's buffer for the copy below.
    let mut first = [0u8; 1];
    if tls.read(&mut first).await? == 0 {
        return Ok(());
    }
    let mut up = TcpStream::connect(upstream).await?;
    up.set_nodelay(true)?;
    up.write_all(&first).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut up).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phase 2: end to end
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Forwarder,
    ProxyFile,
    ProxySink,
}

impl Target {
    const ALL: [Target; 3] = [Target::Forwarder, Target::ProxyFile, Target::ProxySink];

    /// The name `WARDGATE_BENCH_TARGET` selects it by.
    fn key(self) -> &'static str {
        match self {
            Target::Forwarder => "forwarder",
            Target::ProxyFile => "file",
            Target::ProxySink => "sink",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Target::Forwarder => "(b) TLS forwarder (copy_bidirectional)",
            Target::ProxyFile => "(a) wardgate, audit -> file",
            Target::ProxySink => "(a') wardgate, audit -> io::sink",
        }
    }
}

/// Accumulated over rounds for one (target, connection count).
#[derive(Debug, Default, Clone)]
struct E2e {
    msgs: u64,
    secs: f64,
    lat_ns: Vec<u64>,
    /// CPU time of this whole process (clients, server under test, gateway) in the window.
    cpu_ns: u64,
}

impl E2e {
    fn rate(&self) -> f64 {
        self.msgs as f64 / self.secs.max(1e-9)
    }

    /// CPU time per message of the whole loop (client, server under test, gateway), in µs.
    fn cpu_us_per_msg(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.msgs.max(1) as f64
    }

    /// Nearest-rank percentile in microseconds (lat_ns must be sorted).
    fn pct_us(&self, p: f64) -> f64 {
        if self.lat_ns.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.lat_ns.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.lat_ns.len()) - 1;
        self.lat_ns[i] as f64 / 1000.0
    }
}

/// Send the request and wait for the gateway's AA; anything else invalidates the benchmark.
async fn one_request(client: &mut MllpClient, payload: &[u8]) {
    let reply = client
        .request(payload, REQUEST_TIMEOUT)
        .await
        .expect("request failed")
        .expect("the server closed the connection instead of answering");
    assert!(
        reply.windows(7).any(|w| w == b"MSA|AA|"),
        "expected the gateway's AA, got {:?}",
        String::from_utf8_lossy(&reply)
    );
}

async fn client_task(
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    payload: Arc<Vec<u8>>,
    barrier: Arc<Barrier>,
    window: Duration,
) -> Vec<u64> {
    let mut client = MllpClient::connect(addr, Some((tls, "localhost")))
        .await
        .expect("connecting to the server under test");
    for _ in 0..WARMUP_REQUESTS {
        one_request(&mut client, &payload).await;
    }
    barrier.wait().await;
    let deadline = Instant::now() + window;
    let mut lat = Vec::with_capacity(1 << 16);
    for _ in 0..MAX_REQUESTS {
        if Instant::now() >= deadline {
            break;
        }
        let t = Instant::now();
        one_request(&mut client, &payload).await;
        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    lat
}

/// `conns` clients, each sending request after request for `window`.
async fn run_clients(
    addr: SocketAddr,
    tls: &Arc<ClientConfig>,
    payload: &Arc<Vec<u8>>,
    conns: usize,
    window: Duration,
) -> E2e {
    let barrier = Arc::new(Barrier::new(conns + 1));
    let mut set = JoinSet::new();
    for _ in 0..conns {
        set.spawn(client_task(
            addr,
            tls.clone(),
            payload.clone(),
            barrier.clone(),
            window,
        ));
    }
    // A client that fails before the barrier would leave us waiting forever: bound the wait.
    tokio::time::timeout(Duration::from_secs(60), barrier.wait())
        .await
        .expect("clients did not connect and warm up within 60 s (one probably failed)");
    let start = Instant::now();
    let cpu_start = process_cpu_ns();
    let mut out = E2e::default();
    while let Some(r) = set.join_next().await {
        let lat = r.expect("a client task failed");
        out.msgs += lat.len() as u64;
        out.lat_ns.extend(lat);
    }
    out.secs = start.elapsed().as_secs_f64();
    out.cpu_ns = process_cpu_ns().saturating_sub(cpu_start);
    out
}

/// CPU time used so far by every thread of this process, in ns (the first field of each
/// thread's `/proc/self/task/*/schedstat`; 0 where that is not available). The runtime's worker
/// threads live for the whole run, so differences between two readings are exact.
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Results phase 2 hands to the summary: per connection count, (forwarder, proxy+file, proxy+sink).
struct E2eResults {
    rows: Vec<(usize, E2e, E2e, E2e)>,
    audit_lines: usize,
}

fn phase_end_to_end(plan: &Plan, rt: &Runtime, pki: &Pki) -> E2eResults {
    let payload = Arc::new(
        std::fs::read(root().join("fixtures/hl7").join(TYPICAL)).expect("reading the request"),
    );
    let tls = pki.client_config();
    let conn_counts = [1usize, 8];
    let (gateway, proxy_file, proxy_sink, forwarder) = rt.block_on(async {
        let gateway = PumpGateway::start(
            "127.0.0.1:0".parse().expect("address"),
            None,
            Behaviour::Acknowledge,
        )
        .await
        .expect("starting the pump gateway");
        let up = gateway.addr();
        let pf = start_proxy(&pki.dir, up, Audit::File, "e2e").await;
        let ps = start_proxy(&pki.dir, up, Audit::Sink, "e2e-sink").await;
        let fw = start_forwarder(&pki.dir, up).await;
        (gateway, pf, ps, fw)
    });
    let addr_of = |t: Target| match t {
        Target::Forwarder => forwarder,
        Target::ProxyFile => proxy_file,
        Target::ProxySink => proxy_sink,
    };

    println!(
        "== 2. End to end over loopback: request/response, TLS 1.3 with client certificate =="
    );
    println!(
        "   client --mutual TLS--> server under test --plain TCP--> simulated pump gateway (Behaviour::Acknowledge)"
    );
    println!(
        "   request: {TYPICAL} ({} bytes), wait for the gateway's AA before the next; client, server and gateway",
        payload.len()
    );
    println!(
        "   share one tokio multi-thread runtime ({} workers) in this process; {} interleaved round(s) x {} ms per cell",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        plan.rounds,
        plan.e2e.as_millis()
    );
    let metrics = if std::env::var(METRICS_ENV).is_ok() {
        "the Prometheus recorder installed (as with [admin])"
    } else {
        "no metrics recorder installed (as without [admin])"
    };
    println!(
        "   wardgate runs the embedded default route settings (shipped rules, fail closed), audit to a file\n   in {} or to io::sink; {metrics}; jemalloc, as the binary.\n",
        pki.dir.display()
    );

    let only = std::env::var(TARGET_ENV).unwrap_or_default();
    let wanted = Target::ALL.map(|t| only.is_empty() || only == t.key());
    let mut acc: Vec<Vec<E2e>> = vec![vec![E2e::default(); Target::ALL.len()]; conn_counts.len()];
    for round in 0..plan.rounds {
        for (ci, &conns) in conn_counts.iter().enumerate() {
            // Alternate the order between rounds so drift (thermal, page cache) hits both sides.
            let mut order: Vec<usize> = (0..Target::ALL.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for ti in order {
                if !wanted[ti] {
                    continue;
                }
                let addr = addr_of(Target::ALL[ti]);
                let r = rt.block_on(run_clients(addr, &tls, &payload, conns, plan.e2e));
                let cell = &mut acc[ci][ti];
                cell.msgs += r.msgs;
                cell.secs += r.secs;
                cell.lat_ns.extend(r.lat_ns);
                cell.cpu_ns += r.cpu_ns;
            }
        }
    }
    drop(gateway);

    let header = format!(
        "   {:>5}  {:<40} {:>11} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "conns", "server under test", "msgs/s", "p50 us", "p99 us", "msgs", "vs (b)", "CPU us/msg"
    );
    println!("{header}");
    println!("   {}", "-".repeat(header.len() - 3));
    let mut rows = Vec::new();
    for (ci, &conns) in conn_counts.iter().enumerate() {
        for cell in &mut acc[ci] {
            cell.lat_ns.sort_unstable();
        }
        let base = acc[ci][0].rate();
        for (ti, t) in Target::ALL.iter().enumerate() {
            let c = &acc[ci][ti];
            println!(
                "   {:>5}  {:<40} {:>11.0} {:>10.1} {:>10.1} {:>10} {:>9.3}x {:>12.1}",
                conns,
                t.label(),
                c.rate(),
                c.pct_us(50.0),
                c.pct_us(99.0),
                c.msgs,
                c.rate() / base,
                c.cpu_us_per_msg()
            );
        }
        rows.push((
            conns,
            acc[ci][0].clone(),
            acc[ci][1].clone(),
            acc[ci][2].clone(),
        ));
    }
    let audit_lines = std::fs::read(pki.dir.join("audit-e2e.jsonl"))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0);
    println!(
        "   audit file lines written by (a): {audit_lines} (2 per message: inbound verdict + outbound ACK)\n"
    );
    E2eResults { rows, audit_lines }
}

// ---------------------------------------------------------------------------------------------
// Phase 3: memory per idle connection
// ---------------------------------------------------------------------------------------------

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The child process: run one server (plus the pump gateway) and answer RSS queries on stdin.
fn child_main(kind: &str) {
    let dir = PathBuf::from(std::env::var(PKI_ENV).expect("WARDGATE_BENCH_PKI not set"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the child's runtime");
    let (gateway, addr) = rt.block_on(async {
        let gateway = PumpGateway::start(
            "127.0.0.1:0".parse().expect("address"),
            None,
            Behaviour::Acknowledge,
        )
        .await
        .expect("starting the pump gateway");
        let addr = match kind {
            "proxy" => start_proxy(&dir, gateway.addr(), Audit::File, "idle").await,
            "forwarder" => start_forwarder(&dir, gateway.addr()).await,
            other => panic!("unknown child kind {other:?}"),
        };
        (gateway, addr)
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {addr}").expect("writing to the parent");
    out.flush().expect("writing to the parent");
    // The runtime's workers serve connections while this thread answers the parent.
    for line in std::io::stdin().lock().lines().take(1000) {
        match line.as_deref().map(str::trim) {
            Ok("RSS") => {
                writeln!(out, "RSS {}", rss_kib().unwrap_or(0)).expect("writing to the parent");
                out.flush().expect("writing to the parent");
            }
            _ => break,
        }
    }
    drop(gateway);
    drop(rt);
}

/// A server running in a child process.
struct ChildServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ChildServer {
    fn spawn(kind: &str, pki: &Pki) -> ChildServer {
        let exe = std::env::current_exe().expect("locating the bench executable");
        let mut child = Command::new(exe)
            .env(CHILD_ENV, kind)
            .env(PKI_ENV, &pki.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the child server process");
        let stdin = child.stdin.take().expect("child stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("child stdout"));
        let line = read_line(&mut stdout);
        let addr = line
            .strip_prefix("READY ")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("child said {line:?} instead of READY <addr>"));
        ChildServer {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    fn rss_kib(&mut self) -> u64 {
        writeln!(self.stdin, "RSS").expect("asking the child");
        self.stdin.flush().expect("asking the child");
        let line = read_line(&mut self.stdout);
        line.strip_prefix("RSS ")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("child said {line:?} instead of RSS <kib>"))
    }

    fn stop(mut self) {
        let _ = writeln!(self.stdin, "QUIT");
        let _ = self.stdin.flush();
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    let n = r.read_line(&mut line).expect("reading from the child");
    assert!(n > 0, "the child process exited early");
    line
}

/// Open `n` TLS connections (handshake done, nothing sent), a few at a time.
async fn open_idle(addr: SocketAddr, tls: &Arc<ClientConfig>, n: usize) -> Vec<MllpClient> {
    let mut out = Vec::with_capacity(n);
    let batches = n.div_ceil(CONNECT_BATCH);
    for b in 0..batches {
        let mut set: JoinSet<MllpClient> = JoinSet::new();
        for _ in 0..CONNECT_BATCH.min(n - b * CONNECT_BATCH) {
            let tls = tls.clone();
            set.spawn(async move {
                MllpClient::connect(addr, Some((tls, "localhost")))
                    .await
                    .expect("opening an idle connection")
            });
        }
        while let Some(c) = set.join_next().await {
            out.push(c.expect("connect task"));
        }
    }
    out
}

struct IdleRow {
    kind: &'static str,
    server_kib: i64,
    client_kib: i64,
    n: usize,
}

fn measure_idle_memory(plan: &Plan, rt: &Runtime, pki: &Pki) -> Vec<IdleRow> {
    let tls = pki.client_config();
    let payload = std::fs::read(root().join("fixtures/hl7").join(TYPICAL)).expect("request");
    let settle = Duration::from_millis(if plan.quick { 200 } else { 500 });
    let mut rows = Vec::new();
    let mut keep = Vec::new();
    for kind in ["forwarder", "proxy"] {
        let mut server = ChildServer::spawn(kind, pki);
        let addr = server.addr;
        // Warm up both processes (TLS, rules, upstream, allocator) with a few used connections.
        rt.block_on(async {
            let mut warm = open_idle(addr, &tls, CONNECT_BATCH).await;
            for c in &mut warm {
                one_request(c, &payload).await;
            }
            drop(warm);
            tokio::time::sleep(settle).await;
        });
        let server_before = server.rss_kib();
        let client_before = rss_kib().unwrap_or(0);
        let idle = rt.block_on(async {
            let idle = open_idle(addr, &tls, plan.idle).await;
            // Let the server finish its side of every handshake and park in its read.
            tokio::time::sleep(settle).await;
            idle
        });
        let server_after = server.rss_kib();
        let client_after = rss_kib().unwrap_or(0);
        rows.push(IdleRow {
            kind,
            server_kib: server_after as i64 - server_before as i64,
            client_kib: client_after as i64 - client_before as i64,
            n: idle.len(),
        });
        // Kept open until both servers are measured: freed client heap would otherwise be
        // reused by the next measurement and hide its client-side growth.
        keep.push(idle);
        server.stop();
    }
    drop(keep);
    rows
}

fn print_idle_memory(rows: &[IdleRow]) {
    println!("== 3. Memory per idle TLS connection (handshake done, nothing sent) ==");
    println!(
        "   each server runs in its own child process (this executable, {CHILD_ENV}=<kind>) with its pump gateway;"
    );
    println!(
        "   server = growth of the child's VmRSS, so it is server-side only; client = growth of this process's VmRSS."
    );
    println!(
        "   both processes were warmed with {CONNECT_BATCH} used connections first; RSS is allocator-dependent (glibc malloc).\n   The client side is the same code in both rows (rustls client + MllpClient), so it should read about the same.\n"
    );
    let header = format!(
        "   {:<36} {:>6} {:>16} {:>18} {:>18}",
        "server", "conns", "server RSS +KiB", "server KiB/conn", "client KiB/conn"
    );
    println!("{header}");
    println!("   {}", "-".repeat(header.len() - 3));
    for r in rows {
        let label = match r.kind {
            "proxy" => "wardgate (embedded-default route)",
            _ => "TLS forwarder (copy_bidirectional)",
        };
        println!(
            "   {:<36} {:>6} {:>16} {:>18.1} {:>18.1}",
            label,
            r.n,
            r.server_kib,
            r.server_kib as f64 / r.n.max(1) as f64,
            r.client_kib as f64 / r.n.max(1) as f64
        );
    }
    if let [fw, px] = rows {
        println!(
            "   wardgate - forwarder: {:.1} KiB per idle connection\n",
            (px.server_kib - fw.server_kib) as f64 / px.n.max(1) as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

fn print_summary(micro: Option<&MicroResults>, e2e: Option<&E2eResults>, idle: Option<&[IdleRow]>) {
    println!("== Summary against the issue's targets ==");
    let verdict = |ok: bool| if ok { "MET " } else { "MISS" };
    for (label, a, b, c) in micro.map(|m| m.sets.as_slice()).unwrap_or_default() {
        println!(
            "   [{}] frame+parse+rules <= 2000 ns/msg ({label}): {:.1} ns",
            verdict(b.ns_per_msg <= 2000.0),
            b.ns_per_msg
        );
        println!(
            "   [{}] hl7-parser / wardgate frame+parse >= 25x ({label}): {:.1}x  ({:.1} ns / {:.1} ns)",
            verdict(c.ns_per_msg / a.ns_per_msg >= 25.0),
            c.ns_per_msg / a.ns_per_msg,
            c.ns_per_msg,
            a.ns_per_msg
        );
    }
    for (conns, fw, pf, ps) in e2e.map(|e| e.rows.as_slice()).unwrap_or_default() {
        println!(
            "   [{}] wardgate / forwarder throughput >= 0.9 ({conns} conn): {:.3} (audit->file {:.0} vs {:.0} msgs/s); with audit->sink: {:.3}",
            verdict(pf.rate() / fw.rate() >= 0.9),
            pf.rate() / fw.rate(),
            pf.rate(),
            fw.rate(),
            ps.rate() / fw.rate()
        );
        // Client, server and gateway share this process, so the difference in CPU per message
        // is what the server under test adds; when the loop is CPU-bound, 0.9x leaves a ninth
        // of the forwarder's whole-loop cost for everything wardgate does on top of it.
        println!(
            "   [info] CPU per message, whole loop ({conns} conn): forwarder {:.1} us; wardgate adds {:+.1} us (audit->file), {:+.1} us (audit->sink); 0.9x allows {:+.1} us",
            fw.cpu_us_per_msg(),
            pf.cpu_us_per_msg() - fw.cpu_us_per_msg(),
            ps.cpu_us_per_msg() - fw.cpu_us_per_msg(),
            fw.cpu_us_per_msg() / 9.0
        );
    }
    if e2e.is_some_and(|e| e.audit_lines == 0) {
        println!("   note: the file audit log stayed empty");
    }
    if let Some([fw, px]) = idle {
        println!(
            "   [info] idle TLS connection, server side: wardgate {:.1} KiB, forwarder {:.1} KiB",
            px.server_kib as f64 / px.n.max(1) as f64,
            fw.server_kib as f64 / fw.n.max(1) as f64
        );
    }
}
