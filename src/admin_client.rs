//! A minimal client for the admin endpoint, for `wardgate break-glass` and `wardgate probe`.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use wardgate_proxy::config::{AdminConfig, Config};

/// Longest answer read from the admin endpoint.
const MAX_RESPONSE: u64 = 1 << 20;
/// Time the admin endpoint has to connect and answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `wardgate probe --config FILE --path /readyz`: exit 0 when the running instance answers 200
/// (for container health checks and Kubernetes exec probes, which cannot present the admin token
/// themselves), 1 otherwise.
pub fn probe(config: &Path, path: &str) -> Result<ExitCode> {
    let config = Config::load(config)?;
    let admin = config
        .admin
        .as_ref()
        .context("the configuration has no [admin] section to probe")?;
    let token = match &admin.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the admin token {}", p.display()))?,
        ),
        None => None,
    };
    let (status, body) = request(admin, "GET", path, token.as_deref().map(str::trim), "")?;
    println!("{status} {}", body.trim_end());
    Ok(if status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A wildcard listen address is reached on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// One HTTP/1.1 request to the admin endpoint of `admin`; the status code and the body of the
/// answer.
pub fn request(
    admin: &AdminConfig,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, String)> {
    let addr = reachable(admin.listen);
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to the admin endpoint {addr}"))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut answer = String::new();
    s.take(MAX_RESPONSE)
        .read_to_string(&mut answer)
        .context("reading the admin endpoint's answer")?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .context("the admin endpoint's answer is not HTTP")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
