//! Phase 3: memory per idle TLS connection, servers in a child process.

use super::*;

pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The child process: run one server (plus the pump gateway) and answer RSS queries on stdin.
pub(crate) fn child_main(kind: &str) {
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
pub(crate) struct ChildServer {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: BufReader<ChildStdout>,
    pub(crate) addr: SocketAddr,
}

impl ChildServer {
    pub(crate) fn spawn(kind: &str, pki: &Pki) -> ChildServer {
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

    pub(crate) fn rss_kib(&mut self) -> u64 {
        writeln!(self.stdin, "RSS").expect("asking the child");
        self.stdin.flush().expect("asking the child");
        let line = read_line(&mut self.stdout);
        line.strip_prefix("RSS ")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("child said {line:?} instead of RSS <kib>"))
    }

    pub(crate) fn stop(mut self) {
        let _ = writeln!(self.stdin, "QUIT");
        let _ = self.stdin.flush();
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

pub(crate) fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    let n = r.read_line(&mut line).expect("reading from the child");
    assert!(n > 0, "the child process exited early");
    line
}

/// Open `n` TLS connections (handshake done, nothing sent), a few at a time.
pub(crate) async fn open_idle(
    addr: SocketAddr,
    tls: &Arc<ClientConfig>,
    n: usize,
) -> Vec<MllpClient> {
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

pub(crate) struct IdleRow {
    pub(crate) kind: &'static str,
    pub(crate) server_kib: i64,
    pub(crate) client_kib: i64,
    pub(crate) n: usize,
}

pub(crate) fn measure_idle_memory(plan: &Plan, rt: &Runtime, pki: &Pki) -> Vec<IdleRow> {
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

pub(crate) fn print_idle_memory(rows: &[IdleRow]) {
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
