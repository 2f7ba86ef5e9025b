//! Transparent interception (Linux): where an accepted connection was going, and where wardgate
//! takes it.
//!
//! A route's `mode` says how connections reach its listener:
//!
//! - `listen` (default): clients connect to wardgate's address; there is no original destination.
//! - `redirect`: nftables `redirect` (or `dnat`) rewrote the destination to wardgate's listener;
//!   the kernel's connection tracking still knows the original one, read with `SO_ORIGINAL_DST`.
//! - `tproxy`: nftables `tproxy` delivered the connection, unchanged, to a listener with
//!   `IP_TRANSPARENT`; the accepted socket's local address *is* the original destination.
//!
//! With `upstream = "original-destination"` the original destination is the upstream, so the
//! device is reached at its own address; with `upstream_source = "client"` (tproxy only) the
//! upstream connection even leaves from the client's address (`IP_TRANSPARENT` on the outgoing
//! socket), for devices that allow-list their controller. `deploy/nftables-redirect.nft` and
//! `deploy/nftables-tproxy.nft` show the matching host configuration.
//!
//! `redirect` reads `SO_ORIGINAL_DST` of the listener's own family: listen on an IPv4 address
//! for IPv4 traffic (a dual-stack `[::]` listener cannot read it for IPv4 connections).
//!
//! The accept path calls [`intercept`] once per connection, before TLS and before any byte is
//! read, and carries the result ([`Intercepted`]) in the connection's
//! [`Peer`](crate::hl7_conn::Peer) to the protocol driver, the upstream connection and the audit
//! records (`original_dst`).

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::config::{InterceptMode, RouteConfig, UpstreamAddr, UpstreamSource};

/// An accepted connection's addresses: who connected, where it was going, and where wardgate
/// will take it.
///
/// Built by [`intercept`] at accept time, before anything else is done with the connection, and
/// available as `peer.target` in every protocol driver. An accept-time policy check (e.g.
/// micro-segmentation: may this client reach this destination?) should consume this struct:
/// `client` and `original_dst` are what the client asked for, `upstream` is what wardgate would
/// connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intercepted {
    /// The client's address (the TCP peer).
    pub client: SocketAddr,
    /// Where the client was connecting to, in `redirect` and `tproxy` mode; `None` in `listen`
    /// mode (the client addressed wardgate itself).
    pub original_dst: Option<SocketAddr>,
    /// The upstream wardgate connects to for this connection.
    pub upstream: SocketAddr,
    /// The source address of the upstream connection: `Some(client ip)` with
    /// `upstream_source = "client"`, `None` for wardgate's own address.
    pub upstream_source: Option<IpAddr>,
}

/// Why an accepted connection is refused before anything is read from it. Either the host's
/// interception set-up (nftables) or the client (connecting to wardgate's port directly) is at
/// fault; the message says which.
#[derive(Debug, thiserror::Error)]
pub enum InterceptError {
    /// `SO_ORIGINAL_DST` could not be read: the connection was not seen by connection tracking.
    #[error(
        "cannot read the original destination ({0}): is the connection redirected by nftables \
         `redirect`/`dnat` on this host?"
    )]
    NoOriginalDestination(io::Error),
    /// The socket's own address could not be read.
    #[error("cannot read the connection's local address: {0}")]
    LocalAddr(io::Error),
    /// The original destination is wardgate's own listener: taking it as the upstream would make
    /// wardgate connect to itself, over and over.
    #[error(
        "original destination {0} is this route's own listener: a direct connection to a \
         {1} listener is refused (it would loop back into wardgate)"
    )]
    Loop(SocketAddr, &'static str),
    /// `upstream = "original-destination"` on a connection that has none (rejected at load; kept
    /// so the accept path never guesses).
    #[error("the route's upstream is the original destination, but the connection has none")]
    NoUpstream,
}

impl InterceptError {
    /// A short, bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            InterceptError::NoOriginalDestination(_) => "no-original-destination",
            InterceptError::LocalAddr(_) => "local-address",
            InterceptError::Loop(..) => "loop",
            InterceptError::NoUpstream => "no-upstream",
        }
    }
}

/// Check a route's interception settings (called by [`Config::parse`](crate::Config::parse)).
/// Every combination that could be misread is rejected, with the fix in the message.
pub(crate) fn validate(r: &RouteConfig) -> Result<(), String> {
    let transparent = r.mode != InterceptMode::Listen;
    if r.upstream == UpstreamAddr::OriginalDestination && !transparent {
        return Err(format!(
            "upstream = \"{}\" needs mode = \"redirect\" or \"tproxy\": in listen mode clients \
             connect to wardgate itself and there is no original destination",
            crate::config::ORIGINAL_DESTINATION
        ));
    }
    if r.upstream_source == UpstreamSource::Client && r.mode != InterceptMode::Tproxy {
        return Err(
            "upstream_source = \"client\" needs mode = \"tproxy\": only a transparent proxy can \
             connect from the client's address (and route the replies back to itself)"
                .into(),
        );
    }
    if r.upstream == UpstreamAddr::Fixed(r.listen) {
        return Err(format!(
            "upstream {} is the route's own listen address: wardgate would connect to itself",
            r.listen
        ));
    }
    if transparent && r.listen.port() == 0 {
        return Err(
            "a redirect or tproxy route needs a fixed listen port: the nftables rules point at it"
                .into(),
        );
    }
    Ok(())
}

/// Bind a route's listener: with `IP_TRANSPARENT` in `tproxy` mode (needs `CAP_NET_ADMIN`), a
/// plain listener otherwise.
pub async fn listen(mode: InterceptMode, addr: SocketAddr) -> io::Result<TcpListener> {
    if mode != InterceptMode::Tproxy {
        return TcpListener::bind(addr).await;
    }
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    set_transparent(&SockRef::from(&socket), addr)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// `IP_TRANSPARENT` (or `IPV6_TRANSPARENT`), with a message naming the capability it needs.
fn set_transparent(socket: &SockRef<'_>, family_of: SocketAddr) -> io::Result<()> {
    let set = if family_of.is_ipv4() {
        socket.set_ip_transparent_v4(true)
    } else {
        socket.set_ip_transparent_v6(true)
    };
    set.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("setting IP_TRANSPARENT (tproxy mode needs CAP_NET_ADMIN): {e}"),
        )
    })
}

/// Work out an accepted connection's [`Intercepted`] addresses, or why it must be refused.
pub fn intercept(
    route: &RouteConfig,
    stream: &TcpStream,
    client: SocketAddr,
) -> Result<Intercepted, InterceptError> {
    let original_dst = match route.mode {
        InterceptMode::Listen => None,
        InterceptMode::Redirect => {
            let local = stream.local_addr().map_err(InterceptError::LocalAddr)?;
            let sock = SockRef::from(stream);
            let orig = if local.is_ipv4() {
                sock.original_dst_v4()
            } else {
                sock.original_dst_v6()
            }
            .map_err(InterceptError::NoOriginalDestination)?;
            let orig = orig.as_socket().ok_or_else(|| {
                InterceptError::NoOriginalDestination(io::Error::other("not an IP address"))
            })?;
            // Not rewritten by nftables: the client connected to the listener itself.
            if orig == local {
                return Err(InterceptError::Loop(orig, "redirect"));
            }
            check_not_own_listener(route, orig, "redirect")?;
            Some(orig)
        }
        InterceptMode::Tproxy => {
            let orig = stream.local_addr().map_err(InterceptError::LocalAddr)?;
            check_not_own_listener(route, orig, "tproxy")?;
            Some(orig)
        }
    };
    let upstream = match route.upstream {
        UpstreamAddr::Fixed(a) => a,
        UpstreamAddr::OriginalDestination => original_dst.ok_or(InterceptError::NoUpstream)?,
    };
    let upstream_source = (route.upstream_source == UpstreamSource::Client).then_some(client.ip());
    Ok(Intercepted {
        client,
        original_dst,
        upstream,
        upstream_source,
    })
}

/// Refuse an original destination that is this route's listener: its configured address, or the
/// listen port on any address of this host (a listener on `0.0.0.0` answers on all of them).
fn check_not_own_listener(
    route: &RouteConfig,
    orig: SocketAddr,
    mode: &'static str,
) -> Result<(), InterceptError> {
    let own = orig == route.listen
        || (orig.port() == route.listen.port()
            && (route.listen.ip().is_unspecified() || orig.ip() == route.listen.ip())
            && is_host_address(orig.ip()));
    if own {
        return Err(InterceptError::Loop(orig, mode));
    }
    Ok(())
}

/// Whether `ip` is an address of this host: binding a plain (not transparent) socket to it
/// succeeds only then (with `net.ipv4.ip_nonlocal_bind = 1` it always does, so every address
/// counts as ours). Any doubt counts as "ours", so a possible loop is refused.
fn is_host_address(ip: IpAddr) -> bool {
    let probe = SocketAddr::new(ip, 0);
    let Ok(socket) = Socket::new(Domain::for_address(probe), Type::STREAM, None) else {
        return true;
    };
    match socket.bind(&probe.into()) {
        Ok(()) => true,
        Err(e) => e.kind() != io::ErrorKind::AddrNotAvailable,
    }
}

/// Open a TCP connection to `to`: from `source` (with `IP_TRANSPARENT`, so it may be the
/// client's address; needs `CAP_NET_ADMIN`) when given, from wardgate's own address otherwise.
pub async fn connect(to: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(to).await;
    };
    if source.is_ipv4() != to.is_ipv4() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot connect from client address {source} to {to}: address families differ"),
        ));
    }
    let socket = if to.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    set_transparent(&SockRef::from(&socket), to)?;
    // Port 0: the kernel picks a free port on the client's address.
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(to).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn route(extra: &str, upstream: &str) -> String {
        format!(
            "[[route]]\nname = \"t\"\nprotocol = \"hl7\"\nlisten = \"0.0.0.0:15575\"\n\
             upstream = \"{upstream}\"\nrules = [\"r.toml\"]\n{extra}\n"
        )
    }

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml", None).unwrap_err().to_string()
    }

    #[test]
    fn listen_mode_is_the_default_and_has_no_original_destination() {
        let c = Config::parse(&route("", "192.0.2.10:2575"), "t.toml", None).unwrap();
        assert_eq!(c.routes[0].mode, InterceptMode::Listen);
        assert_eq!(c.routes[0].upstream_source, UpstreamSource::Wardgate);
        let e = err(&route("", "original-destination"));
        assert!(e.contains("needs mode = \"redirect\" or \"tproxy\""), "{e}");
    }

    #[test]
    fn transparent_modes_take_the_original_destination_or_a_fixed_upstream() {
        for mode in ["redirect", "tproxy"] {
            let text = route(&format!("mode = \"{mode}\""), "original-destination");
            let c = Config::parse(&text, "t.toml", None).unwrap();
            assert_eq!(c.routes[0].upstream, UpstreamAddr::OriginalDestination);
            let text = route(&format!("mode = \"{mode}\""), "192.0.2.10:2575");
            let c = Config::parse(&text, "t.toml", None).unwrap();
            assert_eq!(
                c.routes[0].upstream,
                UpstreamAddr::Fixed("192.0.2.10:2575".parse().unwrap())
            );
        }
    }

    #[test]
    fn a_misspelled_upstream_or_mode_is_rejected_not_guessed() {
        let e = err(&route("mode = \"redirect\"", "original_destination"));
        assert!(e.contains("neither an address"), "{e}");
        assert!(e.contains("original-destination"), "{e}");
        let e = err(&route("mode = \"transparent\"", "192.0.2.10:2575"));
        assert!(e.contains("transparent"), "{e}");
        assert!(e.contains("tproxy"), "{e}");
    }

    #[test]
    fn client_source_needs_tproxy() {
        let ok = route(
            "mode = \"tproxy\"\nupstream_source = \"client\"",
            "original-destination",
        );
        let c = Config::parse(&ok, "t.toml", None).unwrap();
        assert_eq!(c.routes[0].upstream_source, UpstreamSource::Client);
        for mode in ["listen", "redirect"] {
            let text = route(
                &format!("mode = \"{mode}\"\nupstream_source = \"client\""),
                "192.0.2.10:2575",
            );
            let e = err(&text);
            assert!(
                e.contains("upstream_source = \"client\" needs mode = \"tproxy\""),
                "{e}"
            );
        }
    }

    #[test]
    fn an_upstream_equal_to_the_listen_address_is_a_loop() {
        let e = err(&route("", "0.0.0.0:15575"));
        assert!(e.contains("own listen address"), "{e}");
        let text = route("mode = \"redirect\"", "original-destination")
            .replace("0.0.0.0:15575", "0.0.0.0:0");
        let e = err(&text);
        assert!(e.contains("fixed listen port"), "{e}");
    }

    /// A connection straight to a redirect listener (not rewritten by nftables) has itself as its
    /// original destination, or no conntrack entry at all: either way it is refused.
    #[tokio::test]
    async fn a_direct_connection_to_a_redirect_listener_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let text = route("mode = \"redirect\"", "original-destination")
            .replace("0.0.0.0:15575", &addr.to_string());
        let cfg = Config::parse(&text, "t.toml", None).unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        let refused = intercept(&cfg.routes[0], &accepted, peer).unwrap_err();
        assert!(
            matches!(
                refused,
                InterceptError::Loop(..) | InterceptError::NoOriginalDestination(_)
            ),
            "{refused}"
        );
        drop(client);
    }

    #[test]
    fn the_listen_port_on_a_host_address_is_own_but_elsewhere_it_is_not() {
        let text = route("mode = \"tproxy\"", "original-destination");
        let cfg = Config::parse(&text, "t.toml", None).unwrap();
        let r = &cfg.routes[0];
        let own: SocketAddr = "127.0.0.1:15575".parse().unwrap();
        assert!(matches!(
            check_not_own_listener(r, own, "tproxy"),
            Err(InterceptError::Loop(..))
        ));
        // A documentation address is not on this host; another port is another service.
        assert!(check_not_own_listener(r, "192.0.2.10:15575".parse().unwrap(), "tproxy").is_ok());
        assert!(check_not_own_listener(r, "127.0.0.1:2575".parse().unwrap(), "tproxy").is_ok());
    }
}
