//! Simulated WPP peers for tests and demos: an infusion pump on a socket (the sans-IO
//! [`PumpSim`] driven by tokio) and a pump controller client, over plaintext or TLS.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use wardgate_pump::FrameDecoder;
use wardgate_pump::sim::PumpSim;

use crate::io::BoxedIo;
use crate::sim::FramedClient;

/// How the simulated pump answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpBehaviour {
    /// Answer like a pump: [`PumpSim`] decides (ACK, NAK, IDENTIFY, STATUS-REPORT).
    Answer,
    /// Read one frame, then close the connection without answering (a crash mid-exchange).
    CloseWithoutReply,
}

/// A simulated infusion pump listening on a socket. All its connections drive one [`PumpSim`].
pub struct PumpDevice {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    sim: Arc<Mutex<PumpSim>>,
    events: Arc<Notify>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for PumpDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpDevice")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for PumpDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What each connection of a [`PumpDevice`] shares.
#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    sim: Arc<Mutex<PumpSim>>,
    events: Arc<Notify>,
    behaviour: PumpBehaviour,
}

impl PumpDevice {
    /// Listen on `addr` (port 0 for any), optionally with TLS, driving `sim`.
    pub async fn start(
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
        sim: PumpSim,
        behaviour: PumpBehaviour,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            received: Arc::new(Mutex::new(Vec::new())),
            sim: Arc::new(Mutex::new(sim)),
            events: Arc::new(Notify::new()),
            behaviour,
        };
        let device = (
            shared.received.clone(),
            shared.sim.clone(),
            shared.events.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let io: BoxedIo = match tls {
                        None => Box::new(stream),
                        Some(cfg) => match TlsAcceptor::from(cfg).accept(stream).await {
                            Ok(s) => Box::new(s),
                            Err(_) => return,
                        },
                    };
                    let _ = pump_conn(io, shared).await;
                });
            }
        });
        Ok(PumpDevice {
            addr,
            received: device.0,
            sim: device.1,
            events: device.2,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every frame received so far, exactly as it arrived.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Act on the simulated pump (advance time, raise an alarm, read a channel). Unsolicited
    /// frames it queues (ALARM) are then sent on a connected controller connection.
    pub fn with_sim<R>(&self, f: impl FnOnce(&mut PumpSim) -> R) -> R {
        let out = f(&mut self.sim.lock().unwrap_or_else(|p| p.into_inner()));
        self.events.notify_one();
        out
    }
}

/// Serve one connection: frame, log, let the simulator answer, send replies and queued events.
async fn pump_conn(mut io: BoxedIo, shared: Shared) -> std::io::Result<()> {
    let decoder = FrameDecoder::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = io.read(&mut chunk) => r?,
            _ = shared.events.notified() => {
                let events = shared.sim.lock().unwrap_or_else(|p| p.into_inner()).take_events();
                for e in events {
                    io.write_all(&e).await?;
                }
                io.flush().await?;
                continue;
            }
        };
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        loop {
            let info = match decoder.next_frame(&buf) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                // A pump cannot resynchronise a broken stream either: it hangs up.
                Err(_) => return io.shutdown().await,
            };
            let frame: Vec<u8> = buf.drain(..info.consumed).collect();
            shared
                .received
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(frame.clone());
            if shared.behaviour == PumpBehaviour::CloseWithoutReply {
                return io.shutdown().await;
            }
            let (reply, events) = {
                let mut sim = shared.sim.lock().unwrap_or_else(|p| p.into_inner());
                (sim.handle_bytes(&frame), sim.take_events())
            };
            if !reply.is_empty() {
                io.write_all(&reply).await?;
            }
            for e in events {
                io.write_all(&e).await?;
            }
            io.flush().await?;
        }
    }
}

/// A pump controller (pump gateway) connection: sends frames, receives whole frames.
pub type PumpClient = FramedClient<FrameDecoder>;

impl FramedClient<FrameDecoder> {
    /// Connect, with TLS when `tls` is given (`server_name` is what the server's certificate
    /// names); the client configuration carries the client certificate, if any.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<(Arc<ClientConfig>, &str)>,
    ) -> std::io::Result<Self> {
        Self::open(addr, tls, FrameDecoder::default()).await
    }

    /// Send bytes as they are (one frame, several, or deliberately broken ones).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.send_raw(bytes).await
    }

    /// The next whole frame (header to CRC); `None` when the peer closed the connection.
    /// Errors with `TimedOut` if nothing complete arrives within `timeout`, `InvalidData` if the
    /// peer breaks the framing.
    pub async fn recv(&mut self, timeout: Duration) -> std::io::Result<Option<Vec<u8>>> {
        self.recv_frame(timeout).await
    }

    /// Send a frame and wait for the next frame back.
    pub async fn request(
        &mut self,
        frame: &[u8],
        timeout: Duration,
    ) -> std::io::Result<Option<Vec<u8>>> {
        self.send(frame).await?;
        self.recv(timeout).await
    }
}
