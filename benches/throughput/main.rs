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

mod e2e;
mod idle;
mod parse;
mod setup;

use e2e::*;
use idle::*;
use parse::*;
use setup::*;

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
