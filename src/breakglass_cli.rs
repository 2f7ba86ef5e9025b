//! `wardgate break-glass`: the operator's client for the admin endpoint's `/break-glass`, and the
//! wiring that enables it in `wardgate run`.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wardgate_proxy::Proxy;
use wardgate_proxy::breakglass::BreakGlass;
use wardgate_proxy::clock::SystemClock;
use wardgate_proxy::config::{AdminConfig, Config};

/// Longest answer read from the admin endpoint.
const MAX_RESPONSE: u64 = 1 << 20;
/// Time the admin endpoint has to connect and answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `wardgate break-glass`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The running instance's configuration file (for the admin address and token file).
    #[arg(long)]
    config: PathBuf,
    /// Route to put into audit mode.
    #[arg(long, required_unless_present_any = ["list", "end"], conflicts_with_all = ["list", "end"])]
    route: Option<String>,
    /// Only this rule of the route (by id); without it, the whole route.
    #[arg(long, requires = "route")]
    rule: Option<String>,
    /// How long, e.g. `30m` (at most `[admin] break_glass_max`).
    #[arg(long = "for", value_name = "DURATION", requires = "route")]
    duration: Option<String>,
    /// Why: written into the audit log with every message judged under the grant.
    #[arg(long, requires = "route")]
    reason: Option<String>,
    /// Who is asking (recorded with the grant); defaults to $USER.
    #[arg(long)]
    operator: Option<String>,
    /// List the grants in force.
    #[arg(long, conflicts_with = "end")]
    list: bool,
    /// End grant ID before its time.
    #[arg(long, value_name = "ID")]
    end: Option<u64>,
}

/// Break-glass for `wardgate run`, when `[admin] break_glass_max` is configured (config
/// validation already required a token for it).
pub fn enable(admin: &AdminConfig, proxy: &Proxy) -> Option<Arc<BreakGlass>> {
    let max = admin.break_glass_max?;
    let glass = BreakGlass::new(proxy.routes(), max, Arc::new(SystemClock));
    glass.spawn_sweeper();
    tracing::info!(max = ?max, "break-glass enabled on the admin endpoint");
    Some(glass)
}

/// `wardgate break-glass ...`
pub fn run(args: &Args) -> Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let Some(admin) = &config.admin else {
        bail!("{} has no [admin] section", args.config.display());
    };
    if admin.break_glass_max.is_none() {
        bail!(
            "break-glass is not enabled in {}: set [admin] break_glass_max (and token_file)",
            args.config.display()
        );
    }
    let token_file = admin
        .token_file
        .as_ref()
        .context("[admin] token_file is required for break-glass")?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading the admin token {}", token_file.display()))?;
    let operator = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unnamed operator".into());
    let (method, path, body) = if args.list {
        ("GET", "/break-glass".to_owned(), String::new())
    } else if let Some(id) = args.end {
        let body = serde_json::json!({ "operator": operator }).to_string();
        ("DELETE", format!("/break-glass/{id}"), body)
    } else {
        let (Some(duration), Some(reason)) = (&args.duration, &args.reason) else {
            bail!("a grant needs --for DURATION and --reason TEXT");
        };
        let body = serde_json::json!({
            "route": args.route,
            "rule": args.rule,
            "for": duration,
            "reason": reason,
            "operator": operator,
        })
        .to_string();
        ("POST", "/break-glass".to_owned(), body)
    };
    let (status, answer) = request(reachable(admin.listen), method, &path, token.trim(), &body)?;
    println!("{}", answer.trim_end());
    Ok(if (200..300).contains(&status) {
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

/// One HTTP/1.1 request; the status code and the body of the answer.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to the admin endpoint {addr}"))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
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
