//! The admin endpoint: Prometheus metrics at `/metrics`, liveness at `/healthz`, readiness at
//! `/readyz`. A deliberately tiny HTTP/1.1 responder: one bounded request per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::audit::AuditLog;
use crate::breakglass::BreakGlass;

/// Longest request head accepted.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client has to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often histogram upkeep runs.
const UPKEEP: Duration = Duration::from_secs(5);

/// Whether the proxy is ready to take traffic (`/readyz`): set once listeners are bound, cleared
/// when shutdown begins; not ready either while a watched audit log cannot be written.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>, Arc<std::sync::Mutex<Vec<Arc<AuditLog>>>>);

impl Readiness {
    /// Mark ready or not ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether ready (set, and no watched audit log failing).
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst) && !self.audit_failing()
    }

    /// Report not ready while `log`'s last write failed (a full disk).
    pub fn watch_audit(&self, log: Arc<AuditLog>) {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).push(log);
    }

    /// Whether a watched audit log still cannot be written (each failing one is tried again).
    fn audit_failing(&self) -> bool {
        let logs = self.1.lock().unwrap_or_else(|p| p.into_inner());
        logs.iter().any(|l| !l.recover())
    }
}

static RECORDER: std::sync::OnceLock<Result<PrometheusHandle, String>> = std::sync::OnceLock::new();

/// The process-wide metrics recorder, installed on first use.
fn recorder() -> Result<PrometheusHandle, String> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                    5.0,
                ])
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Serve the admin endpoint on `addr` (installing the process-wide metrics recorder on first
/// use). With a `token`, every request must carry `Authorization: Bearer <token>`. Must run
/// inside the tokio runtime.
pub async fn start(
    addr: SocketAddr,
    readiness: Readiness,
    token: Option<String>,
) -> Result<SocketAddr, String> {
    start_with(addr, readiness, token, Services::default()).await
}

/// What the admin endpoint serves besides metrics and health.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// Break-glass (`/break-glass`, see `crate::admin_breakglass`); refused unless a token
    /// protects the endpoint.
    pub break_glass: Option<Arc<BreakGlass>>,
    /// The learned device inventory, as JSON at `/inventory`.
    pub inventory: Option<Arc<crate::inventory::LearnedInventory>>,
}

/// [`start`], also serving `services`.
pub async fn start_with(
    addr: SocketAddr,
    readiness: Readiness,
    token: Option<String>,
    services: Services,
) -> Result<SocketAddr, String> {
    let handle = recorder()?;
    let token: Option<Arc<str>> = token.map(Arc::from);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("admin endpoint {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let handle = handle.clone();
            let readiness = readiness.clone();
            let token = token.clone();
            let services = services.clone();
            tokio::spawn(async move {
                let answered = answer(stream, &handle, &readiness, token.as_deref(), services);
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, answered).await;
            });
        }
    });
    Ok(local)
}

/// Read one request head (bounded) and answer it.
async fn answer(
    mut stream: TcpStream,
    handle: &PrometheusHandle,
    readiness: &Readiness,
    token: Option<&str>,
    services: Services,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    // Resume the terminator search where the last read ended (a slow drip stays linear).
    let mut scanned = 0usize;
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let from = scanned.saturating_sub(3);
        if head
            .get(from..)
            .is_some_and(|w| w.windows(4).any(|w| w == b"\r\n\r\n"))
        {
            break;
        }
        scanned = head.len();
        if head.len() > MAX_REQUEST_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
            )
            .await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if let Some(token) = token {
        if !authorized(&head, token) {
            return respond(
                &mut stream,
                "401 Unauthorized",
                "text/plain",
                b"bearer token required\n",
            )
            .await;
        }
    }
    if path == b"/break-glass" || path.starts_with(b"/break-glass/") {
        let (status, body) = crate::admin_breakglass::answer(
            &mut stream,
            method,
            path,
            &head,
            services.break_glass.as_deref().filter(|_| token.is_some()),
        )
        .await;
        return respond(&mut stream, status, "application/json", body.as_bytes()).await;
    }
    if method != b"GET" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
        )
        .await;
    }
    match path {
        b"/metrics" => {
            let body = handle.render();
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4",
                body.as_bytes(),
            )
            .await
        }
        b"/healthz" => respond(&mut stream, "200 OK", "text/plain", b"ok\n").await,
        b"/inventory" if services.inventory.is_some() => {
            let body = services
                .inventory
                .as_deref()
                .map(|i| serde_json::to_vec_pretty(&i.snapshot()))
                .transpose()
                .map_err(std::io::Error::other)?
                .unwrap_or_default();
            respond(&mut stream, "200 OK", "application/json", &body).await
        }
        b"/readyz" if readiness.get() => {
            respond(&mut stream, "200 OK", "text/plain", b"ready\n").await
        }
        b"/readyz" if readiness.audit_failing() => {
            respond(
                &mut stream,
                "503 Service Unavailable",
                "text/plain",
                b"not ready: the audit log cannot be written\n",
            )
            .await
        }
        b"/readyz" => {
            respond(
                &mut stream,
                "503 Service Unavailable",
                "text/plain",
                b"not ready\n",
            )
            .await
        }
        _ => {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"/metrics, /healthz, /readyz\n",
            )
            .await
        }
    }
}

/// Whether the request head carries `Authorization: Bearer <token>` (compared in constant time).
fn authorized(head: &[u8], token: &str) -> bool {
    head.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        name.eq_ignore_ascii_case(b"authorization")
            && value.len() == 7 + token.len()
            && value
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "))
            && value
                .get(7..)
                .unwrap_or_default()
                .iter()
                .zip(token.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
