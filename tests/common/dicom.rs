//! A DICOM test bed on loopback: the proxy on a `dicom` route (plaintext or TLS towards the
//! SCU), real peers we did not write (DCMTK's storescu/storescp/echoscu/dcmqrscp, pynetdicom)
//! spawned with timeouts and killed on drop, a recording upstream for refusals, and hand-encoded
//! PDUs (PS3.8 §9.3) for malformed input.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wardgate_proxy::audit::SharedBuffer;
use wardgate_proxy::config::Config;
use wardgate_proxy::pki::DevCa;

use super::{root, start_proxy};

/// DCMTK's tools by absolute path: pynetdicom installs console scripts of the same names
/// (echoscu, storescu, storescp, findscu, movescu) that come first on a pyenv PATH.
pub const DCMTK: &str = "/usr/bin";
/// Every external process gets at most this long.
pub const PROC_TIMEOUT: Duration = Duration::from_secs(60);
/// The client certificate CN the test policy believes TLSMODALITY from.
pub const MODALITY_CN: &str = "modality.test.example";

pub fn dcmtk(tool: &str) -> PathBuf {
    Path::new(DCMTK).join(tool)
}

pub fn test_rules() -> Vec<PathBuf> {
    vec![root().join("tests/dicom/policy.toml")]
}

pub fn script(name: &str) -> PathBuf {
    root().join("tests/dicom").join(name)
}

/// A port that was free a moment ago (external tools cannot be handed a bound socket).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Wait until something accepts connections on `addr`.
pub async fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {addr}");
}

/// A spawned process, killed when dropped. Output goes to files so no pipe can fill up.
pub struct Proc {
    pub name: String,
    child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    _dir: tempfile::TempDir,
}

/// What a finished process left.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Proc {
    pub fn spawn(program: &Path, args: &[&str]) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc {
            name: program.display().to_string(),
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit within `limit`; panics (after killing it) if it does not.
    pub async fn finish(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Output {
                    status,
                    stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
                    stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
                };
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not finish within {limit:?}: {}",
                    self.name,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a tool to completion.
pub async fn run(program: &Path, args: &[&str]) -> Output {
    Proc::spawn(program, args).finish(PROC_TIMEOUT).await
}

/// Run one of the Python helpers and parse the JSON it prints.
pub async fn python(script_name: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let path = script(script_name);
    let mut all = vec![path.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(Path::new("python3"), &all).await;
    let json = out
        .stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    (out, json)
}

/// Generate `count` synthetic CT instances (pydicom) under `dir`; returns their paths.
pub async fn gen_ct(dir: &Path, count: usize, pixels_mb: usize) -> Vec<PathBuf> {
    let n = count.to_string();
    let mb = pixels_mb.to_string();
    let (out, _) = python(
        "gen_ct.py",
        &[dir.to_str().unwrap(), &n, "--pixels-mb", &mb],
    )
    .await;
    assert!(out.status.success(), "gen_ct.py failed: {}", out.text());
    let mut paths: Vec<PathBuf> = out.stdout.lines().map(PathBuf::from).collect();
    paths.sort();
    assert_eq!(paths.len(), count);
    paths
}

/// The data set of a DICOM Part 10 file: everything after the preamble, `DICM` and the file
/// meta group, whose length (0002,0000) is the first element (PS3.10 §7.1).
pub fn dataset_of(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[128..132],
        b"DICM",
        "{} is not Part 10",
        path.display()
    );
    assert_eq!(&bytes[132..136], &[2, 0, 0, 0], "group length first");
    let len = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    bytes[144 + len..].to_vec()
}

/// Files in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

/// DCMTK storescp on a free port, storing bit-preserved into its own directory.
pub struct StoreScp {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub out: tempfile::TempDir,
}

impl StoreScp {
    pub async fn start(extra: &[&str]) -> StoreScp {
        let out = tempfile::tempdir().unwrap();
        let port = free_port().to_string();
        let mut args = vec![
            "-v",
            "--aetitle",
            "STORESCP",
            "--output-directory",
            out.path().to_str().unwrap(),
            "--bit-preserving",
        ];
        args.extend_from_slice(extra);
        args.push(&port);
        let proc = Proc::spawn(&dcmtk("storescp"), &args);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_listening(addr).await;
        StoreScp { proc, addr, out }
    }

    pub fn received(&self) -> Vec<PathBuf> {
        files_in(self.out.path())
    }

    /// Wait until `n` files were stored (storescp writes them as they arrive).
    pub async fn wait_for(&self, n: usize) -> Vec<PathBuf> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.received()
    }
}

/// An upstream that records every connection and byte, to prove what was never forwarded.
pub struct Recorder {
    pub addr: SocketAddr,
    pub connections: Arc<Mutex<usize>>,
    pub bytes: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(0));
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (c, b) = (connections.clone(), bytes.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                *c.lock().unwrap() += 1;
                let b = b.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        b.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Recorder {
            addr,
            connections,
            bytes,
            task,
        }
    }

    pub fn saw_nothing(&self) -> bool {
        *self.connections.lock().unwrap() == 0 && self.bytes.lock().unwrap().is_empty()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The proxy on one `dicom` route, its audit log and the PKI its TLS side uses.
pub struct DicomBed {
    pub ca: DevCa,
    pub dir: tempfile::TempDir,
    pub proxy: SocketAddr,
    pub audit: SharedBuffer,
    /// The running route (e.g. for break-glass grants).
    pub routes: Vec<Arc<wardgate_proxy::Route>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl DicomBed {
    /// Plaintext towards the SCU, or TLS requiring a client certificate when `tls`.
    pub async fn start(upstream: SocketAddr, tls: bool) -> DicomBed {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("test CA").unwrap();
        let server = ca.server(&["localhost", "127.0.0.1"]).unwrap();
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let tls_table = if tls {
            format!(
                "[route.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\nclient_auth = \"required\"\n",
                file("server.pem", &server.cert),
                file("server-key.pem", &server.key),
                file("ca.pem", &ca.cert_pem()),
            )
        } else {
            String::new()
        };
        let rules: Vec<String> = test_rules()
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        let text = format!(
            "[[route]]\nname = \"pacs\"\nprotocol = \"dicom\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nrules = [{}]\n[route.limits]\nframe_timeout = \"10s\"\nack_timeout = \"20s\"\n{tls_table}",
            rules.join(", ")
        );
        let config = Config::parse(&text, "test config", None).expect("config parses");
        let started = start_proxy(&config).await;
        DicomBed {
            ca,
            dir,
            proxy: started.addr,
            audit: started.audit,
            routes: started.routes,
            stop: started.stop,
            running: started.running,
        }
    }

    pub fn port(&self) -> String {
        self.proxy.port().to_string()
    }

    /// Write a client certificate and key for `cn`; returns (cert, key, ca) paths.
    pub fn client_files(&self, cn: &str) -> (String, String, String) {
        let pem = self.ca.client(cn).unwrap();
        let w = |name: &str, text: &str| {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        (
            w("client.pem", &pem.cert),
            w("client-key.pem", &pem.key),
            w("ca.pem", &self.ca.cert_pem()),
        )
    }

    /// Audit records matching `pred`, waiting briefly for at least `n`.
    pub async fn audit_where(
        &self,
        n: usize,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        super::audit_where(&self.audit, n, pred).await
    }

    pub async fn shutdown(&mut self) {
        super::stop_proxy(&mut self.stop, &mut self.running).await;
    }
}

/// Send raw bytes, then read what comes back until EOF (bounded); the proxy must answer and close.
pub async fn exchange_raw(proxy: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    // The proxy may abort before it has read everything: a failed write is part of the test.
    let _ = s.write_all(bytes).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the proxy neither answered nor closed");
    got
}

/// An A-ABORT from the service provider (source 2) with `reason` (PS3.8 §9.3.8).
pub fn abort_pdu(reason: u8) -> Vec<u8> {
    vec![0x07, 0, 0, 0, 0, 4, 0, 0, 2, reason]
}

fn item(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0];
    v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// An A-ASSOCIATE-RQ (PS3.8 §9.3.2) proposing `contexts` (id, abstract syntax, transfer syntax).
pub fn associate_rq(calling: &str, called: &str, contexts: &[(u8, &str, &str)]) -> Vec<u8> {
    let mut body = vec![0, 1, 0, 0];
    body.extend_from_slice(format!("{called:<16}").as_bytes());
    body.extend_from_slice(format!("{calling:<16}").as_bytes());
    body.extend_from_slice(&[0; 32]);
    body.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    for (id, abs, ts) in contexts {
        let mut pc = vec![*id, 0, 0, 0];
        pc.extend(item(0x30, abs.as_bytes()));
        pc.extend(item(0x40, ts.as_bytes()));
        body.extend(item(0x20, &pc));
    }
    body.extend(item(0x50, &item(0x51, &16384u32.to_be_bytes())));
    let mut pdu = vec![0x01, 0];
    pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pdu.extend(body);
    pdu
}

/// An A-ASSOCIATE-AC (PS3.8 §9.3.3) accepting each of `contexts` (id, transfer syntax), max
/// length 16384: what a scripted acceptor answers.
pub fn associate_ac(calling: &str, called: &str, contexts: &[(u8, &str)]) -> Vec<u8> {
    let mut body = vec![0, 1, 0, 0];
    body.extend_from_slice(format!("{called:<16}").as_bytes());
    body.extend_from_slice(format!("{calling:<16}").as_bytes());
    body.extend_from_slice(&[0; 32]);
    body.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    for (id, ts) in contexts {
        let mut answer = vec![*id, 0, 0, 0];
        answer.extend(item(0x40, ts.as_bytes()));
        body.extend(item(0x21, &answer));
    }
    body.extend(item(0x50, &item(0x51, &16384u32.to_be_bytes())));
    let mut pdu = vec![0x02, 0];
    pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pdu.extend(body);
    pdu
}

/// A P-DATA-TF with one PDV (PS3.8 §9.3.5).
pub fn p_data(context_id: u8, control: u8, fragment: &[u8]) -> Vec<u8> {
    let mut pdv = ((fragment.len() + 2) as u32).to_be_bytes().to_vec();
    pdv.extend_from_slice(&[context_id, control]);
    pdv.extend_from_slice(fragment);
    let mut pdu = vec![0x04, 0];
    pdu.extend_from_slice(&(pdv.len() as u32).to_be_bytes());
    pdu.extend(pdv);
    pdu
}
