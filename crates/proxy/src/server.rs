//! Listeners: accept, enforce the connection limit, terminate TLS, learn the peer's identity and
//! hand the connection to its protocol driver; graceful shutdown drains in-flight messages.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wardgate_rules::Sender;

use crate::audit::{AuditLog, AuditRecord};
use crate::config::RouteProtocol;
use crate::dicom_conn;
use crate::hl7_conn::{self, Peer};
use crate::identity::identity_of;
use crate::io::BoxedIo;
use crate::pump_conn;
use crate::route::{Route, RouteSpec};
use crate::telemetry;
use crate::tls::TlsError;

/// Why the proxy could not start. The operator's configuration or the host is at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS material could not be loaded.
    #[error("route `{route}`: {source}")]
    Tls {
        /// The route.
        route: String,
        /// The TLS error.
        source: TlsError,
    },
    /// The listen address could not be bound.
    #[error("route `{route}`: cannot listen on {addr}: {source}")]
    Bind {
        /// The route.
        route: String,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A bound proxy, ready to run.
pub struct Proxy {
    routes: Vec<(Arc<Route>, TcpListener)>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("routes", &self.local_addrs())
            .finish()
    }
}

static CONNECTION_IDS: AtomicU64 = AtomicU64::new(1);

impl Proxy {
    /// Load TLS and bind every route's listener (port 0 picks a free port; see [`Proxy::local_addrs`]).
    pub async fn bind(specs: Vec<RouteSpec>, audit: Arc<AuditLog>) -> Result<Proxy, StartError> {
        let mut routes = Vec::new();
        for spec in specs {
            let name = spec.config.name.clone();
            let addr = spec.config.listen;
            let mode = spec.config.mode;
            let route = Route::new(spec, audit.clone()).map_err(|source| StartError::Tls {
                route: name.clone(),
                source,
            })?;
            let listener = crate::transparent::listen(mode, addr)
                .await
                .map_err(|source| StartError::Bind {
                    route: name,
                    addr,
                    source,
                })?;
            routes.push((Arc::new(route), listener));
        }
        Ok(Proxy { routes })
    }

    /// Route names and the addresses they listen on.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.routes
            .iter()
            .filter_map(|(r, l)| l.local_addr().ok().map(|a| (r.name().to_owned(), a)))
            .collect()
    }

    /// The bound routes, e.g. to look at a pump route's state while the proxy runs.
    pub fn routes(&self) -> Vec<Arc<Route>> {
        self.routes.iter().map(|(r, _)| r.clone()).collect()
    }

    /// Serve until `shutdown` completes; then stop accepting, let every connection finish the
    /// messages it has in flight, and return.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let mut accept_loops = JoinSet::new();
        for (route, listener) in self.routes {
            tracing::info!(route = %route.name(), listen = ?listener.local_addr().ok(), upstream = %route.config.upstream, mode = ?route.config.mode, tls = route.acceptor.is_some(), "route listening");
            accept_loops.spawn(accept_loop(route, listener, rx.clone()));
        }
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight messages");
        let _ = tx.send(true);
        while accept_loops.join_next().await.is_some() {}
        tracing::info!("all connections closed");
    }
}

async fn accept_loop(
    route: Arc<Route>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(route.config.limits.max_connections));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly instead of spinning.
                        tracing::warn!(route = %route.name(), error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    telemetry::connection_refused(route.name(), "limit");
                    route.audit(AuditRecord {
                        peer: addr.to_string(),
                        direction: "inbound",
                        verdict: "closed",
                        reason: Some(format!("connection limit of {} reached", route.config.limits.max_connections)),
                        ..AuditRecord::default()
                    });
                    drop(stream);
                    continue;
                };
                let route = route.clone();
                let rx = shutdown.clone();
                conns.spawn(async move {
                    telemetry::connection(route.name(), 1.0);
                    handle(route.clone(), stream, addr, rx).await;
                    telemetry::connection(route.name(), -1.0);
                    drop(permit);
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn handle(
    route: Arc<Route>,
    stream: TcpStream,
    addr: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let id = CONNECTION_IDS.fetch_add(1, Ordering::Relaxed);
    // Where the connection was going and where it goes, before any byte is read: a connection
    // wardgate cannot place (or that would loop back into it) is closed here, and so is one the
    // micro-segmentation policy does not allow.
    let target = match crate::transparent::intercept(&route.config, &stream, addr) {
        Ok(t) => t,
        Err(e) => {
            telemetry::connection_refused(route.name(), e.label());
            tracing::debug!(route = %route.name(), conn = id, %addr, error = %e, "connection refused");
            route.audit(AuditRecord {
                connection: id,
                peer: addr.to_string(),
                direction: "inbound",
                verdict: "closed",
                reason: Some(e.to_string()),
                ..AuditRecord::default()
            });
            return;
        }
    };
    if !crate::segmentation::admit(&route, &target) {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut sender = Sender::from_address(addr.ip());
    let io: BoxedIo = match &route.acceptor {
        None => Box::new(stream),
        Some(acceptor) => {
            // Boxed: the handshake's state is needed once, not for the connection's life.
            let handshake = Box::pin(tokio::time::timeout(
                route.config.limits.frame_timeout,
                acceptor.accept(stream),
            ))
            .await;
            match handshake {
                Ok(Ok(tls)) => {
                    sender.certificate = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|der| identity_of(der));
                    Box::new(tls)
                }
                Ok(Err(e)) => {
                    let reason = tls_reason(&e);
                    telemetry::tls_failure(route.name(), reason.clone());
                    route.audit(AuditRecord {
                        connection: id,
                        peer: addr.to_string(),
                        original_dst: target.original_dst.map(|a| a.to_string()),
                        direction: "inbound",
                        verdict: "closed",
                        reason: Some(format!("TLS handshake failed: {e}")),
                        ..AuditRecord::default()
                    });
                    return;
                }
                Err(_) => {
                    telemetry::tls_failure(route.name(), "timeout".into());
                    return;
                }
            }
        }
    };
    let peer = Peer {
        id,
        addr,
        sender,
        target,
    };
    if let Some(inventory) = route.learned() {
        inventory.connection(&route, &peer);
    }
    tracing::debug!(route = %route.name(), conn = id, %addr, original_dst = ?target.original_dst, upstream = %target.upstream, "connection accepted");
    match route.config.protocol {
        RouteProtocol::Hl7 => hl7_conn::serve(route, peer, io, shutdown).await,
        RouteProtocol::Pump => pump_conn::serve(route, peer, io, shutdown).await,
        // Boxed: a DICOM connection's state is larger, and HL7 and pump connections (the many
        // small ones) should not be sized for it.
        RouteProtocol::Dicom => Box::pin(dicom_conn::serve(route, peer, io, shutdown)).await,
    }
}

/// A short, bounded label for a handshake failure (metrics labels must not be free text).
fn tls_reason(e: &std::io::Error) -> String {
    use rustls::Error as E;
    let rustls = e.get_ref().and_then(|inner| inner.downcast_ref::<E>());
    let label = match rustls {
        Some(E::NoCertificatesPresented) => "no-client-certificate",
        Some(E::InvalidCertificate(_)) => "bad-certificate",
        Some(E::AlertReceived(_)) => "alert-received",
        Some(E::PeerIncompatible(_)) => "incompatible",
        Some(E::InvalidMessage(_)) | Some(E::PeerMisbehaved(_)) => "bad-handshake",
        Some(_) => "other",
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => "eof",
        None => "io",
    };
    label.to_owned()
}
