//! A test bed on loopback: development PKI, simulated pump gateway, the proxy with the shipped
//! rules (or others), and an in-memory audit log to assert on.
#![allow(dead_code)]

pub mod dicom;
pub mod pump;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wardgate_hl7::{Message, ParseLimits};
use wardgate_proxy::audit::{AuditLog, SharedBuffer};
use wardgate_proxy::config::Config;
use wardgate_proxy::pki::{DevCa, Pem};
use wardgate_proxy::sim::{Behaviour, MllpClient, PumpGateway, client_tls};
use wardgate_proxy::{Proxy, RouteSpec};
use wardgate_rules::{compile, load_rule_files};

pub const EHR_CN: &str = "ehr-bcma.egh.example";
pub const REPLY: Duration = Duration::from_secs(10);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("fixtures/hl7").join(name)).expect("fixture exists")
}

pub fn shipped_rules() -> Vec<PathBuf> {
    vec![
        root().join("rules/pcd03/policy.toml"),
        root().join("rules/pcd03/drug-library.toml"),
    ]
}

/// A running proxy with its gateway and the material to connect to it.
pub struct Bed {
    pub ca: DevCa,
    pub dir: tempfile::TempDir,
    pub proxy: SocketAddr,
    pub gateway: Option<PumpGateway>,
    pub audit: SharedBuffer,
    /// The running routes (to reload their rules).
    pub routes: Vec<Arc<wardgate_proxy::Route>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub running: Option<tokio::task::JoinHandle<()>>,
}

/// How to build the bed.
pub struct Options {
    /// Extra TOML lines inside [[route]] (before sub-tables).
    pub route_extra: String,
    /// Extra TOML after the route (e.g. `[route.limits]`).
    pub tables: String,
    /// TLS on the client side (mutual TLS required) or plaintext.
    pub tls: bool,
    /// Rule files.
    pub rules: Vec<PathBuf>,
    /// Gateway behaviour; None = no gateway (upstream address unreachable).
    pub gateway: Option<Behaviour>,
    /// Upstream address when there is no simulated gateway (a test's own upstream).
    pub upstream: Option<SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            route_extra: String::new(),
            tables: String::new(),
            tls: true,
            rules: shipped_rules(),
            gateway: Some(Behaviour::Acknowledge),
            upstream: None,
        }
    }
}

fn toml_path(p: &Path) -> String {
    p.display().to_string()
}

impl Bed {
    pub async fn start(opts: Options) -> Bed {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = DevCa::new("test CA").expect("CA");
        let server = ca.server(&["localhost", "127.0.0.1"]).expect("server cert");
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), &server.cert).unwrap();
        std::fs::write(dir.path().join("server-key.pem"), &server.key).unwrap();
        let gateway = match opts.gateway {
            Some(b) => Some(
                PumpGateway::start("127.0.0.1:0".parse().unwrap(), None, b)
                    .await
                    .expect("gateway"),
            ),
            None => None,
        };
        let upstream = match (&gateway, opts.upstream) {
            (Some(g), _) => g.addr(),
            (None, Some(addr)) => addr,
            (None, None) => {
                // A port that was free a moment ago: nothing listens there.
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap()
            }
        };
        let rules = opts
            .rules
            .iter()
            .map(|p| format!("{:?}", toml_path(p)))
            .collect::<Vec<_>>()
            .join(", ");
        let tls = if opts.tls {
            format!(
                "[route.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\nclient_auth = \"required\"\n",
                toml_path(&dir.path().join("server.pem")),
                toml_path(&dir.path().join("server-key.pem")),
                toml_path(&dir.path().join("ca.pem")),
            )
        } else {
            String::new()
        };
        let text = format!(
            "[[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nrules = [{rules}]\n{}\n{}\n{tls}",
            opts.route_extra, opts.tables
        );
        let config = Config::parse(&text, "test config", None).expect("config parses");
        let started = start_proxy(&config).await;
        Bed {
            ca,
            dir,
            proxy: started.addr,
            routes: started.routes,
            gateway,
            audit: started.audit,
            stop: started.stop,
            running: started.running,
        }
    }

    pub fn client_cert(&self, cn: &str) -> Pem {
        self.ca.client(cn).expect("client cert")
    }

    /// A TLS client presenting a certificate with this CN (or none).
    pub async fn tls_client(&self, cn: Option<&str>) -> std::io::Result<MllpClient> {
        let pem = cn.map(|cn| self.client_cert(cn));
        let cfg = client_tls(&self.ca.cert_pem(), pem.as_ref()).expect("client TLS config");
        MllpClient::connect(self.proxy, Some((cfg, "localhost"))).await
    }

    pub async fn ehr(&self) -> MllpClient {
        self.tls_client(Some(EHR_CN)).await.expect("EHR connects")
    }

    pub async fn plain_client(&self) -> MllpClient {
        MllpClient::connect(self.proxy, None)
            .await
            .expect("connects")
    }

    /// Frames the gateway received.
    pub fn upstream_saw(&self) -> Vec<Vec<u8>> {
        self.gateway
            .as_ref()
            .map(|g| g.received())
            .unwrap_or_default()
    }

    /// Audit records, waiting briefly for `n` of them to be written.
    pub async fn audit_records(&self, n: usize) -> Vec<serde_json::Value> {
        audit_where(&self.audit, n, |_| true).await
    }

    /// Stop the proxy and wait until every connection has finished.
    pub async fn shutdown(&mut self) {
        stop_proxy(&mut self.stop, &mut self.running).await;
    }
}

/// The decoded value at an HL7 path of a reply ("" when absent).
pub fn reply_field(reply: &[u8], path: &str) -> String {
    let msg = Message::parse(reply, &ParseLimits::default()).expect("reply parses");
    msg.get_str_path(path)
        .expect("path")
        .map(|v| v.to_text())
        .unwrap_or_default()
}

/// MSA-1, ERR-8 and ERR-5 of a reply.
pub fn ack_fields(reply: &[u8]) -> (String, String, String) {
    let get = |p| reply_field(reply, p);
    (get("MSA-1"), get("ERR-8"), get("ERR-5"))
}

/// MSA-2 and MSH-9 of a reply.
pub fn ack_ids(reply: &[u8]) -> (String, String) {
    (reply_field(reply, "MSA-2"), reply_field(reply, "MSH-9"))
}

/// A proxy started in the test's runtime on every route of a config: its first listener, its
/// routes, the in-memory audit log, and how to stop it.
pub struct Started {
    pub addr: SocketAddr,
    pub routes: Vec<Arc<wardgate_proxy::Route>>,
    pub audit: SharedBuffer,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub running: Option<tokio::task::JoinHandle<()>>,
}

/// Compile each route's rule files (`include`s followed) and run the proxy on them.
pub async fn start_proxy(config: &Config) -> Started {
    let specs = config
        .routes
        .iter()
        .map(|r| RouteSpec {
            config: r.clone(),
            rules: compile(&load_rule_files(&r.rules).expect("rule files")).expect("rules compile"),
        })
        .collect();
    let audit = SharedBuffer::default();
    let proxy = Proxy::bind(
        specs,
        Arc::new(AuditLog::to_writer(Box::new(audit.clone()))),
    )
    .await
    .expect("proxy binds");
    let addr = proxy.local_addrs()[0].1;
    let routes = proxy.routes();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(proxy.run(async {
        let _ = rx.await;
    }));
    Started {
        addr,
        routes,
        audit,
        stop: Some(tx),
        running: Some(running),
    }
}

/// Audit records matching `pred`, waiting briefly for at least `n` (they are written before
/// the verdict takes effect, but a test may observe the socket first).
pub async fn audit_where(
    audit: &SharedBuffer,
    n: usize,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let matching =
        || -> Vec<serde_json::Value> { audit.records().into_iter().filter(|r| pred(r)).collect() };
    for _ in 0..100 {
        let got = matching();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    matching()
}

/// Stop a proxy started by [`start_proxy`] and wait until every connection has finished.
pub async fn stop_proxy(
    stop: &mut Option<tokio::sync::oneshot::Sender<()>>,
    running: &mut Option<tokio::task::JoinHandle<()>>,
) {
    if let Some(tx) = stop.take() {
        let _ = tx.send(());
    }
    if let Some(r) = running.take() {
        tokio::time::timeout(Duration::from_secs(20), r)
            .await
            .expect("proxy stops within the drain bound")
            .expect("proxy task ends cleanly");
    }
}
