//! Break-glass on the admin endpoint (JSON in and out):
//!
//! - `GET /break-glass`: the grants in force.
//! - `POST /break-glass` with `{"route", "rule"?, "for": "30m", "reason", "operator"?}`: grant one.
//! - `DELETE /break-glass/<id>` with an optional `{"operator"}`: end one early.
//!
//! Operator actions: served only when the admin endpoint has a bearer token (checked, in constant
//! time, before this module sees the request) and `[admin] break_glass_max` is configured.

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::breakglass::{BreakGlass, BreakGlassError, Request};

/// Largest request body accepted.
pub const MAX_BODY: usize = 4096;

/// `POST /break-glass`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    route: String,
    #[serde(default)]
    rule: Option<String>,
    #[serde(rename = "for")]
    duration: String,
    reason: String,
    #[serde(default)]
    operator: Option<String>,
}

/// `DELETE /break-glass/<id>`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EndBody {
    #[serde(default)]
    operator: Option<String>,
}

fn error(status: &'static str, message: impl std::fmt::Display) -> (&'static str, String) {
    (
        status,
        serde_json::json!({ "error": message.to_string() }).to_string() + "\n",
    )
}

fn json(status: &'static str, value: impl serde::Serialize) -> (&'static str, String) {
    match serde_json::to_string(&value) {
        Ok(s) => (status, s + "\n"),
        Err(e) => error("500 Internal Server Error", e),
    }
}

/// The request body: what followed the head in `buf`, plus the rest up to `Content-Length`.
async fn body(stream: &mut TcpStream, buf: &[u8]) -> Result<Vec<u8>, (&'static str, String)> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(Vec::new());
    };
    let head = buf.get(..end).unwrap_or_default();
    let length = head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            name.eq_ignore_ascii_case(b"content-length").then(|| {
                std::str::from_utf8(value.get(1..).unwrap_or_default())
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
            })
        })
        .next();
    let length = match length {
        None => 0,
        Some(Some(n)) if n <= MAX_BODY => n,
        Some(Some(_)) => return Err(error("413 Content Too Large", "request body too large")),
        Some(None) => return Err(error("400 Bad Request", "bad Content-Length")),
    };
    let mut out: Vec<u8> = buf.get(end + 4..).unwrap_or_default().to_vec();
    out.truncate(length);
    let mut chunk = [0u8; 1024];
    while out.len() < length {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| error("400 Bad Request", e))?;
        if n == 0 {
            return Err(error("400 Bad Request", "request body cut short"));
        }
        let take = n.min(length - out.len());
        out.extend_from_slice(chunk.get(..take).unwrap_or_default());
    }
    Ok(out)
}

fn status_of(e: &BreakGlassError) -> &'static str {
    match e {
        BreakGlassError::UnknownRoute(_) | BreakGlassError::UnknownGrant(_) => "404 Not Found",
        BreakGlassError::Rule { .. } | BreakGlassError::TooMany => "409 Conflict",
        _ => "400 Bad Request",
    }
}

/// Answer one break-glass request. `glass` is `None` when break-glass is not enabled (no token or
/// no `break_glass_max`). Returns the status line and the JSON body.
pub(crate) async fn answer(
    stream: &mut TcpStream,
    method: &[u8],
    path: &[u8],
    buf: &[u8],
    glass: Option<&BreakGlass>,
) -> (&'static str, String) {
    let Some(glass) = glass else {
        return error(
            "403 Forbidden",
            "break-glass is disabled: it needs [admin] token_file and [admin] break_glass_max",
        );
    };
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    let body = match body(stream, buf).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    match (method, path.strip_prefix(b"/break-glass")) {
        (b"GET", Some(b"")) => json("200 OK", glass.list()),
        (b"POST", Some(b"")) => {
            let req: GrantBody = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => return error("400 Bad Request", e),
            };
            let Some(duration) = crate::config::parse_duration(&req.duration) else {
                return error(
                    "400 Bad Request",
                    format!(
                        "`for` = {:?} is not a duration; write e.g. \"30m\"",
                        req.duration
                    ),
                );
            };
            let request = Request {
                route: req.route,
                rule: req.rule,
                duration,
                reason: req.reason,
                operator: req.operator.unwrap_or_else(|| "unnamed operator".into()),
            };
            match glass.activate(request, &peer) {
                Ok(grant) => json("201 Created", grant),
                Err(e) => error(status_of(&e), e),
            }
        }
        (b"DELETE", Some(rest)) => {
            let id = rest
                .strip_prefix(b"/")
                .and_then(|id| std::str::from_utf8(id).ok())
                .and_then(|id| id.parse::<u64>().ok());
            let Some(id) = id else {
                return error("404 Not Found", "DELETE /break-glass/<grant id>");
            };
            let req: EndBody = if body.is_empty() {
                EndBody::default()
            } else {
                match serde_json::from_slice(&body) {
                    Ok(r) => r,
                    Err(e) => return error("400 Bad Request", e),
                }
            };
            let operator = req.operator.unwrap_or_else(|| "unnamed operator".into());
            match glass.end(id, &operator, &peer) {
                Ok(grant) => json("200 OK", grant),
                Err(e) => error(status_of(&e), e),
            }
        }
        _ => error(
            "405 Method Not Allowed",
            "GET or POST /break-glass, DELETE /break-glass/<id>",
        ),
    }
}
