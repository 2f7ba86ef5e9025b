//! C-STORE throughput of a multi-megabyte CT study, DCMTK storescu -> storescp: direct, through a
//! plain TCP byte forwarder (tokio `copy_bidirectional`), and through wardgate (the `wardgate`
//! binary on a `dicom` route with tests/dicom/policy.toml), with wardgate's peak RSS.
//! Needs DCMTK and pydicom (`.ci/run` installs them). `cargo bench --bench dicom_store`;
//! `WARDGATE_BENCH_QUICK=1` for a small study.
// A benchmark: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {addr}");
}

fn storescp(out: &Path) -> (Guard, u16) {
    let port = free_port();
    let child = Command::new("/usr/bin/storescp")
        .args(["--aetitle", "STORESCP", "--output-directory"])
        .arg(out)
        .args(["--bit-preserving", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("DCMTK storescp (apt-get install dcmtk)");
    wait_listening(([127, 0, 0, 1], port).into());
    (Guard(child), port)
}

/// Seconds for one storescu run of every file to `port`.
fn store(port: u16, files: &[PathBuf]) -> f64 {
    let start = Instant::now();
    let status = Command::new("/usr/bin/storescu")
        .args(["-R", "-aet", "MODALITY", "-aec", "STORESCP", "127.0.0.1"])
        .arg(port.to_string())
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("DCMTK storescu");
    assert!(status.success(), "storescu failed through port {port}");
    start.elapsed().as_secs_f64()
}

/// A plain byte forwarder on its own thread and runtime.
fn forwarder(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut up) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                    }
                });
            }
        });
    });
    port
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("WARDGATE_BENCH_QUICK").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let study = work.path().join("study");
    let (count, mb) = if quick { ("2", "1") } else { ("8", "4") };
    let status = Command::new("python3")
        .arg(root.join("tests/dicom/gen_ct.py"))
        .arg(&study)
        .args([count, "--pixels-mb", mb])
        .stdout(Stdio::null())
        .status()
        .expect("python3 with pydicom");
    assert!(status.success(), "gen_ct.py failed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&study)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();

    let out = work.path().join("received");
    std::fs::create_dir_all(&out).unwrap();
    let (_scp, scp_port) = storescp(&out);

    // wardgate as its own process, so its peak RSS is its own.
    let wg_port = free_port();
    let config = work.path().join("wardgate.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\npath = {:?}\n\n[[route]]\nname = \"dicom\"\nprotocol = \"dicom\"\nlisten = \"127.0.0.1:{wg_port}\"\nupstream = \"127.0.0.1:{scp_port}\"\nrules = [{:?}]\n",
            work.path().join("audit.jsonl").display().to_string(),
            root.join("tests/dicom/policy.toml").display().to_string(),
        ),
    )
    .unwrap();
    let wardgate = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wardgate binary");
    let wg_pid = wardgate.id();
    let _wardgate = Guard(wardgate);
    wait_listening(([127, 0, 0, 1], wg_port).into());
    let fwd_port = forwarder(scp_port);

    let rounds = if quick { 1 } else { 5 };
    let mut results = Vec::new();
    let hwm_before = vm_hwm_kib(wg_pid);
    for (name, port) in [
        ("direct (storescu -> storescp)", scp_port),
        ("plain TCP forwarder", fwd_port),
        ("wardgate (inspecting)", wg_port),
    ] {
        store(port, &files); // warm up
        let secs = median((0..rounds).map(|_| store(port, &files)).collect());
        results.push((name, secs));
    }
    let hwm_after = vm_hwm_kib(wg_pid);
    println!(
        "C-STORE of a {} MB CT study ({} instances), DCMTK storescu -> storescp on loopback, median of {rounds}",
        bytes / 1_000_000,
        files.len()
    );
    let forwarder_secs = results[1].1;
    for (name, secs) in &results {
        println!(
            "  {name:<32} {:>8.1} MB/s   {:>7.3} s   {:.2}x the forwarder",
            bytes as f64 / 1e6 / secs,
            secs,
            forwarder_secs / secs
        );
    }
    let ratio = forwarder_secs / results[2].1;
    println!(
        "  target: wardgate >= 0.8x the forwarder: {} ({ratio:.2}x)",
        if ratio >= 0.8 { "met" } else { "MISSED" }
    );
    println!(
        "  wardgate peak RSS (VmHWM): {} KiB before the stores, {} KiB after",
        hwm_before, hwm_after
    );
}
