//! A pump-route test bed on loopback: development PKI, a simulated infusion pump (plaintext
//! upstream), the proxy with mutual TLS towards the controller, and an in-memory audit log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use wardgate_proxy::audit::SharedBuffer;
use wardgate_proxy::config::Config;
use wardgate_proxy::pki::DevCa;
use wardgate_proxy::route::Route;
use wardgate_proxy::sim::{PumpBehaviour, PumpClient, PumpDevice, client_tls};
use wardgate_pump::sim::PumpSim;
use wardgate_pump::{Command, DeviceId, Frame, Nak, NakReason};

use super::{audit_where, root, start_proxy, stop_proxy};

pub const GATEWAY_CN: &str = "pump-gw.egh.example";
pub const BIOMED_CN: &str = "biomed-console.egh.example";
pub const SERIAL: &str = "PUMP-0042";

/// The test-only policy: the gateway may send anything, nobody else anything.
pub fn test_rules() -> Vec<PathBuf> {
    vec![root().join("tests/pump/policy.toml")]
}

/// The shipped pump policy (drug library and stateful clinical checks).
pub fn shipped_pump_rules() -> Vec<PathBuf> {
    vec![root().join("rules/pump/policy.toml")]
}

pub fn device() -> DeviceId {
    DeviceId::new(SERIAL).unwrap()
}

pub struct PumpOptions {
    pub rules: Vec<PathBuf>,
    /// The simulated pump's behaviour; None = nothing listens upstream.
    pub pump: Option<PumpBehaviour>,
    /// Extra TOML inside [[route]].
    pub route_extra: String,
    /// Extra TOML after the route (e.g. `[route.limits]`).
    pub tables: String,
}

impl Default for PumpOptions {
    fn default() -> Self {
        PumpOptions {
            rules: test_rules(),
            pump: Some(PumpBehaviour::Answer),
            route_extra: String::new(),
            tables: String::new(),
        }
    }
}

pub struct PumpBed {
    pub ca: DevCa,
    pub dir: tempfile::TempDir,
    pub proxy: SocketAddr,
    pub pump: Option<PumpDevice>,
    pub route: Arc<Route>,
    pub audit: SharedBuffer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl PumpBed {
    pub async fn start(opts: PumpOptions) -> PumpBed {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = DevCa::new("test CA").expect("CA");
        let server = ca.server(&["localhost", "127.0.0.1"]).expect("server cert");
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let (ca_pem, cert, key) = (
            file("ca.pem", &ca.cert_pem()),
            file("server.pem", &server.cert),
            file("server-key.pem", &server.key),
        );
        let pump = match opts.pump {
            Some(b) => Some(
                PumpDevice::start(
                    "127.0.0.1:0".parse().unwrap(),
                    None,
                    PumpSim::new(device(), "WP-Sim-2", 2),
                    b,
                )
                .await
                .expect("pump listens"),
            ),
            None => None,
        };
        let upstream = match &pump {
            Some(p) => p.addr(),
            // A port that was free a moment ago: nothing listens there.
            None => std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap(),
        };
        let rules = opts
            .rules
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "[[route]]\nname = \"pumps\"\nprotocol = \"pump\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nrules = [{rules}]\n{}\n{}\n[route.tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca_pem:?}\nclient_auth = \"required\"\n",
            opts.route_extra, opts.tables
        );
        let config = Config::parse(&text, "test config", None).expect("config parses");
        let mut started = start_proxy(&config).await;
        PumpBed {
            ca,
            dir,
            proxy: started.addr,
            pump,
            route: started.routes.remove(0),
            audit: started.audit,
            stop: started.stop,
            running: started.running,
        }
    }

    /// A controller connected with mutual TLS, presenting a certificate with this CN.
    pub async fn controller(&self, cn: &str) -> PumpClient {
        let pem = self.ca.client(cn).expect("client cert");
        let cfg = client_tls(&self.ca.cert_pem(), Some(&pem)).expect("client TLS config");
        PumpClient::connect(self.proxy, Some((cfg, "localhost")))
            .await
            .expect("controller connects")
    }

    /// The pump gateway's connection.
    pub async fn gateway(&self) -> PumpClient {
        self.controller(GATEWAY_CN).await
    }

    /// Frames the pump received, exactly as they arrived.
    pub fn pump_saw(&self) -> Vec<Vec<u8>> {
        self.pump.as_ref().map(|p| p.received()).unwrap_or_default()
    }

    /// Audit records, waiting briefly for `n` of them.
    pub async fn audit_records(&self, n: usize) -> Vec<serde_json::Value> {
        audit_where(&self.audit, n, |_| true).await
    }

    /// Stop the proxy and wait until every connection has finished.
    pub async fn shutdown(&mut self) {
        stop_proxy(&mut self.stop, &mut self.running).await;
    }
}

/// Assert `reply` is the pump's ACK of `sequence`.
pub fn expect_ack(reply: &[u8], sequence: u32) {
    let f = Frame::parse(reply).expect("reply parses");
    assert_eq!(f.command, Command::Ack, "{f:?}");
    assert_eq!(f.header.sequence, sequence);
    assert!(f.header.flags.response);
}

/// Assert `reply` is a NAK of `sequence` with `reason`; returns its text.
pub fn expect_nak(reply: &[u8], sequence: u32, reason: NakReason) -> String {
    let f = Frame::parse(reply).expect("reply parses");
    assert_eq!(f.header.sequence, sequence, "{f:?}");
    assert!(f.header.flags.response);
    match f.command {
        Command::Nak(Nak { reason: r, text }) => {
            assert_eq!(r, reason, "NAK text: {text:?}");
            text.unwrap_or_default().to_owned()
        }
        other => panic!("expected NAK {reason}, got {other:?}"),
    }
}
