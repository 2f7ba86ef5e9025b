//! Phase 2: request/response through wardgate and through a TLS byte forwarder.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Forwarder,
    ProxyFile,
    ProxySink,
}

impl Target {
    const ALL: [Target; 3] = [Target::Forwarder, Target::ProxyFile, Target::ProxySink];

    /// The name `WARDGATE_BENCH_TARGET` selects it by.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Target::Forwarder => "forwarder",
            Target::ProxyFile => "file",
            Target::ProxySink => "sink",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Target::Forwarder => "(b) TLS forwarder (copy_bidirectional)",
            Target::ProxyFile => "(a) wardgate, audit -> file",
            Target::ProxySink => "(a') wardgate, audit -> io::sink",
        }
    }
}

/// Accumulated over rounds for one (target, connection count).
#[derive(Debug, Default, Clone)]
pub(crate) struct E2e {
    pub(crate) msgs: u64,
    pub(crate) secs: f64,
    pub(crate) lat_ns: Vec<u64>,
    /// CPU time of this whole process (clients, server under test, gateway) in the window.
    pub(crate) cpu_ns: u64,
}

impl E2e {
    pub(crate) fn rate(&self) -> f64 {
        self.msgs as f64 / self.secs.max(1e-9)
    }

    /// CPU time per message of the whole loop (client, server under test, gateway), in µs.
    pub(crate) fn cpu_us_per_msg(&self) -> f64 {
        self.cpu_ns as f64 / 1000.0 / self.msgs.max(1) as f64
    }

    /// Nearest-rank percentile in microseconds (lat_ns must be sorted).
    pub(crate) fn pct_us(&self, p: f64) -> f64 {
        if self.lat_ns.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.lat_ns.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.lat_ns.len()) - 1;
        self.lat_ns[i] as f64 / 1000.0
    }
}

/// Send the request and wait for the gateway's AA; anything else invalidates the benchmark.
pub(crate) async fn one_request(client: &mut MllpClient, payload: &[u8]) {
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

pub(crate) async fn client_task(
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
pub(crate) async fn run_clients(
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
pub(crate) fn process_cpu_ns() -> u64 {
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
pub(crate) struct E2eResults {
    pub(crate) rows: Vec<(usize, E2e, E2e, E2e)>,
    pub(crate) audit_lines: usize,
}

pub(crate) fn phase_end_to_end(plan: &Plan, rt: &Runtime, pki: &Pki) -> E2eResults {
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
