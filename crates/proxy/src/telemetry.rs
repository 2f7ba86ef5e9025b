//! Metrics (Prometheus names) and the admin endpoint that exports them.

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::config::RouteProtocol;
use crate::route::Route;

/// Start the admin endpoint (`/metrics`, `/healthz`, `/readyz`, the latter always ready) on
/// `addr` and install the process-wide recorder. Must run inside the tokio runtime. Fails if a
/// recorder is already installed.
pub async fn install_prometheus(addr: SocketAddr) -> Result<SocketAddr, String> {
    let ready = crate::admin::Readiness::default();
    ready.set(true);
    crate::admin::start(addr, ready, None).await
}

/// The `protocol` label of a route's traffic.
fn protocol(route: &Route) -> &'static str {
    match route.config.protocol {
        RouteProtocol::Hl7 => "hl7",
        RouteProtocol::Pump => "pump",
        RouteProtocol::Dicom => "dicom",
    }
}

/// A message judged on a route.
pub fn message(route: &Route, direction: &'static str, verdict: &'static str, bytes: usize) {
    let protocol = protocol(route);
    counter!("wardgate_messages_total", "route" => route.name().to_owned(), "protocol" => protocol, "direction" => direction, "verdict" => verdict)
        .increment(1);
    counter!("wardgate_bytes_total", "route" => route.name().to_owned(), "protocol" => protocol, "direction" => direction)
        .increment(bytes as u64);
}

/// Bytes passed on a route outside a judged message (DICOM data-set fragments streamed through).
pub fn bytes(route: &Route, direction: &'static str, bytes: usize) {
    counter!("wardgate_bytes_total", "route" => route.name().to_owned(), "protocol" => protocol(route), "direction" => direction)
        .increment(bytes as u64);
}

/// A verdict attributed to a rule.
pub fn rule_verdict(route: &str, rule: &str, verdict: &'static str) {
    counter!("wardgate_rule_verdicts_total", "route" => route.to_owned(), "rule" => rule.to_owned(), "verdict" => verdict)
        .increment(1);
}

/// A refusal sent with an application code (PIV 90xx) or HL7 error code.
pub fn refusal(route: &str, reason: String) {
    counter!("wardgate_refusals_total", "route" => route.to_owned(), "reason" => reason)
        .increment(1);
}

/// Input that could not be framed or parsed.
pub fn parse_error(route: &str, kind: &'static str) {
    counter!("wardgate_parse_errors_total", "route" => route.to_owned(), "kind" => kind)
        .increment(1);
}

/// Time spent framing, parsing and evaluating one message.
pub fn inspection_time(route: &str, d: Duration) {
    histogram!("wardgate_inspection_seconds", "route" => route.to_owned()).record(d.as_secs_f64());
}

/// Time from forwarding a message to its upstream acknowledgement.
pub fn upstream_round_trip(route: &str, d: Duration) {
    histogram!("wardgate_upstream_round_trip_seconds", "route" => route.to_owned())
        .record(d.as_secs_f64());
}

/// A connection opened (+1) or closed (-1).
pub fn connection(route: &str, delta: f64) {
    gauge!("wardgate_open_connections", "route" => route.to_owned()).increment(delta);
    if delta > 0.0 {
        counter!("wardgate_connections_total", "route" => route.to_owned()).increment(1);
    }
}

/// A connection refused at accept (connection limit).
pub fn connection_refused(route: &str, reason: &'static str) {
    counter!("wardgate_connections_refused_total", "route" => route.to_owned(), "reason" => reason)
        .increment(1);
}

/// A failed TLS handshake.
pub fn tls_failure(route: &str, reason: String) {
    counter!("wardgate_tls_handshake_failures_total", "route" => route.to_owned(), "reason" => reason)
        .increment(1);
}

/// An upstream acknowledgement that matched no forwarded message.
pub fn unmatched_ack(route: &str) {
    counter!("wardgate_unmatched_acks_total", "route" => route.to_owned()).increment(1);
}

/// An upstream that could not be reached or was lost.
pub fn upstream_failure(route: &str, kind: &'static str) {
    counter!("wardgate_upstream_failures_total", "route" => route.to_owned(), "kind" => kind)
        .increment(1);
}

/// Audit lines that could not be written.
pub fn audit_failure(route: &str) {
    counter!("wardgate_audit_write_failures_total", "route" => route.to_owned()).increment(1);
}

/// A rule reload: `ok`, or `error` (the old set stays in force).
pub fn reload(route: &str, result: &'static str) {
    counter!("wardgate_reloads_total", "route" => route.to_owned(), "result" => result)
        .increment(1);
}

/// A reload of an instance-wide policy (`segmentation`, `inventory`): `ok`, or `error` (the
/// old one stays in force).
pub fn policy_reload(policy: &'static str, result: &'static str) {
    counter!("wardgate_reloads_total", "policy" => policy, "result" => result).increment(1);
}

/// Break-glass grants in force per route and rule (`*` = the whole route): +1 on a grant, -1 when
/// it ends or expires.
pub fn break_glass_active(route: &str, rule: &str, delta: f64) {
    gauge!("wardgate_break_glass_active", "route" => route.to_owned(), "rule" => rule.to_owned())
        .increment(delta);
}

/// A break-glass grant given.
pub fn break_glass_activation(route: &str, rule: &str) {
    counter!("wardgate_break_glass_activations_total", "route" => route.to_owned(), "rule" => rule.to_owned())
        .increment(1);
}

/// A message judged while break-glass was in force on its route.
pub fn break_glass_message(route: &str) {
    counter!("wardgate_break_glass_messages_total", "route" => route.to_owned()).increment(1);
}
