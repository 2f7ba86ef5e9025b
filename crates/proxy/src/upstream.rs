//! Connections to the upstream: plaintext for legacy devices, or TLS.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio_rustls::TlsConnector;

use crate::io::BoxedIo;
use crate::tls::UpstreamTlsConfig;

/// Why the upstream could not be reached. The upstream (or the network to it) is at fault.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Upstream address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connect or handshake took too long.
    #[error("connecting to {0} timed out")]
    Timeout(SocketAddr),
    /// The TLS handshake failed (certificate not trusted, wrong name, ...).
    #[error("TLS handshake with {addr}: {source}")]
    Tls {
        /// Upstream address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Connect to the upstream within `timeout`, with TLS when configured.
pub async fn connect(
    addr: SocketAddr,
    tls: Option<&UpstreamTlsConfig>,
    timeout: Duration,
) -> Result<BoxedIo, UpstreamError> {
    connect_from(addr, None, tls, timeout).await
}

/// [`connect`], from `source` when given (the client's address, `upstream_source = "client"`).
pub async fn connect_from(
    addr: SocketAddr,
    source: Option<IpAddr>,
    tls: Option<&UpstreamTlsConfig>,
    timeout: Duration,
) -> Result<BoxedIo, UpstreamError> {
    let fut = async {
        let tcp = crate::transparent::connect(addr, source)
            .await
            .map_err(|source| UpstreamError::Connect { addr, source })?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(Box::new(tcp) as BoxedIo),
            Some(t) => {
                let stream = TlsConnector::from(t.config.clone())
                    .connect(t.server_name.clone(), tcp)
                    .await
                    .map_err(|source| UpstreamError::Tls { addr, source })?;
                Ok(Box::new(stream) as BoxedIo)
            }
        }
    };
    // Boxed: a TLS connect is over a KiB of state, needed once per connection, and would
    // otherwise be part of every connection's future for its whole life.
    Box::pin(tokio::time::timeout(timeout, fut))
        .await
        .map_err(|_| UpstreamError::Timeout(addr))?
}
