//! Simulated peers for tests, benchmarks and `wardgate demo`: a pump gateway that acknowledges
//! what it receives, and an MLLP client (the EHR side), both over plaintext or TLS; for pump
//! routes, a simulated infusion pump ([`PumpDevice`]) and a pump controller ([`PumpClient`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wardgate_hl7::{FrameKind, Header, MllpFramer, wrap};

use crate::inbox::{Framer, Inbox};
use crate::io::BoxedIo;
use crate::pki::Pem;
use crate::tls::provider;

pub use crate::pump_sim::{PumpBehaviour, PumpClient, PumpDevice};

/// How the simulated gateway answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Acknowledge every message with AA (original mode) or CA (enhanced mode).
    Acknowledge,
    /// Read one message, then close the connection without answering (a crash mid-exchange).
    CloseWithoutAck,
}

/// A simulated infusion pump gateway (the IHE PCD-03 Infusion Order Consumer).
pub struct PumpGateway {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PumpGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpGateway")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for PumpGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Build the positive acknowledgement a gateway sends: `ACK^<event>^ACK`, MSA AA or CA.
pub fn positive_ack(message: &[u8]) -> Option<Vec<u8>> {
    // Only the header is needed, so the simulated gateway acknowledges whatever it can address.
    let h = Header::parse(message).ok()?;
    let text = |v: Option<wardgate_hl7::Value<'_>>| v.map(|v| v.raw().to_vec()).unwrap_or_default();
    let code = match h.ack_mode() {
        wardgate_hl7::AckMode::Original => "AA",
        wardgate_hl7::AckMode::Enhanced => "CA",
    };
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"MSH|^~\\&|");
    out.extend_from_slice(&text(h.component(5, 1)));
    out.push(b'|');
    out.extend_from_slice(&text(h.component(6, 1)));
    out.push(b'|');
    out.extend_from_slice(&text(h.component(3, 1)));
    out.push(b'|');
    out.extend_from_slice(&text(h.component(4, 1)));
    out.extend_from_slice(b"|20261129120000||ACK^");
    out.extend_from_slice(&text(h.trigger_event()));
    out.extend_from_slice(b"^ACK|GW-");
    out.extend_from_slice(&text(h.control_id()));
    out.extend_from_slice(b"|P|");
    out.extend_from_slice(&text(h.version()));
    out.extend_from_slice(b"\rMSA|");
    out.extend_from_slice(code.as_bytes());
    out.push(b'|');
    out.extend_from_slice(&text(h.control_id()));
    out.push(b'\r');
    Some(out)
}

impl PumpGateway {
    /// Listen on `addr` (port 0 for any), optionally with TLS.
    pub async fn start(
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
        behaviour: Behaviour,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(peer);
                let store = store.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let io: BoxedIo = match tls {
                        None => Box::new(stream),
                        Some(cfg) => match TlsAcceptor::from(cfg).accept(stream).await {
                            Ok(s) => Box::new(s),
                            Err(_) => return,
                        },
                    };
                    let _ = gateway_conn(io, store, behaviour).await;
                });
            }
        });
        Ok(PumpGateway {
            addr,
            received,
            peers,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer address of every connection accepted so far (who the gateway saw connecting).
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every MLLP frame received so far, exactly as it arrived (envelope included).
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn gateway_conn(
    mut io: BoxedIo,
    store: Arc<Mutex<Vec<Vec<u8>>>>,
    behaviour: Behaviour,
) -> std::io::Result<()> {
    let mut framer = MllpFramer::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        while let Ok(Some(info)) = framer.next_frame(&buf) {
            let frame: Vec<u8> = buf.drain(..info.consumed).collect();
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(frame.clone());
            if behaviour == Behaviour::CloseWithoutAck {
                return io.shutdown().await;
            }
            if info.kind == FrameKind::Message {
                let payload = frame.get(info.payload.clone()).unwrap_or_default();
                if let Some(ack) = positive_ack(payload) {
                    io.write_all(&wrap(&ack)).await?;
                    io.flush().await?;
                }
            }
        }
    }
}

/// A TLS server configuration for a simulated peer.
pub fn server_tls(pem: &Pem) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).map_err(|e| e.to_string())?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(cfg))
}

/// A TLS client configuration trusting `ca_pem`, presenting `client` if given.
pub fn client_tls(ca_pem: &str, client: Option<&Pem>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let cfg = match client {
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let key =
                PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).map_err(|e| e.to_string())?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// Connect a client to `addr`, with TLS when `tls` is given (`server_name` is what the server's
/// certificate names; the configuration carries the client certificate, if any).
pub async fn connect_stream(
    addr: SocketAddr,
    tls: Option<(Arc<ClientConfig>, &str)>,
) -> std::io::Result<BoxedIo> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let io: BoxedIo = match tls {
        None => Box::new(tcp),
        Some((cfg, name)) => {
            let name = ServerName::try_from(name.to_owned())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Box::new(TlsConnector::from(cfg).connect(name, tcp).await?)
        }
    };
    Ok(io)
}

/// A client connection of one protocol: sends bytes, receives whole frames.
pub struct FramedClient<F> {
    io: BoxedIo,
    inbox: Inbox<F>,
}

impl<F> std::fmt::Debug for FramedClient<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramedClient").finish_non_exhaustive()
    }
}

impl<F> FramedClient<F>
where
    F: Framer,
    F::Error: std::error::Error + Send + Sync + 'static,
{
    /// Connect, with TLS when `tls` is given (`server_name` is what the server's certificate
    /// names); the client configuration carries the client certificate, if any.
    pub(crate) async fn open(
        addr: SocketAddr,
        tls: Option<(Arc<ClientConfig>, &str)>,
        framer: F,
    ) -> std::io::Result<Self> {
        let io = connect_stream(addr, tls).await?;
        Ok(FramedClient {
            io,
            inbox: Inbox::new(framer),
        })
    }

    /// Send bytes as they are (framed already, several frames, or deliberately broken ones).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        // TLS may hold a record back until flushed.
        self.io.flush().await
    }

    /// The next whole frame; `None` when the peer closed the connection. Errors with `TimedOut`
    /// if nothing complete arrives within `timeout`, `InvalidData` if the peer breaks the framing.
    pub(crate) async fn recv_frame(
        &mut self,
        timeout: Duration,
    ) -> std::io::Result<Option<F::Frame>> {
        let fut = async {
            loop {
                match self.inbox.take() {
                    Ok(Some(frame)) => return Ok(Some(frame)),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                    }
                }
                if self.inbox.read_from(&mut self.io).await? == 0 {
                    return Ok(None);
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time"))?
    }
}

/// An MLLP client: the EHR's side of a connection.
pub type MllpClient = FramedClient<MllpFramer>;

impl FramedClient<MllpFramer> {
    /// Connect, with TLS when `tls` is given (`server_name` is what the server's certificate names).
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<(Arc<ClientConfig>, &str)>,
    ) -> std::io::Result<Self> {
        Self::open(addr, tls, MllpFramer::default()).await
    }

    /// Send one message in an MLLP envelope.
    pub async fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.send_raw(&wrap(payload)).await
    }

    /// The payload of the next frame; `None` when the peer closed the connection.
    /// Errors with `TimedOut` if nothing complete arrives within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self
            .recv_frame(timeout)
            .await?
            .map(|frame| frame.payload().to_vec()))
    }

    /// Send a message and wait for the reply.
    pub async fn request(
        &mut self,
        payload: &[u8],
        timeout: Duration,
    ) -> std::io::Result<Option<Vec<u8>>> {
        self.send(payload).await?;
        self.recv(timeout).await
    }
}
