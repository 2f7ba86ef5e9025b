//! Metrics (Prometheus names) and the admin endpoint that exports them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram, SharedString, counter, gauge, histogram};

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
    protocol_label(route.config.protocol)
}

fn protocol_label(protocol: RouteProtocol) -> &'static str {
    match protocol {
        RouteProtocol::Hl7 => "hl7",
        RouteProtocol::Pump => "pump",
        RouteProtocol::Dicom => "dicom",
    }
}

/// A message judged on a route.
pub fn message(route: &Route, direction: &'static str, verdict: &'static str, bytes: usize) {
    let (messages, bytes_total) = route.metrics().message_counters(direction, verdict);
    messages.increment(1);
    bytes_total.increment(bytes as u64);
}

/// Bytes passed on a route outside a judged message (DICOM data-set fragments streamed through).
pub fn bytes(route: &Route, direction: &'static str, bytes: usize) {
    counter!("wardgate_bytes_total", "route" => route.name().to_owned(), "protocol" => protocol(route), "direction" => direction)
        .increment(bytes as u64);
}

/// A verdict attributed to a rule.
pub fn rule_verdict(route: &Route, rule: &str, verdict: &'static str) {
    route.metrics().rule_verdict(rule, verdict).increment(1);
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

/// A message judged by the route's rules: the time its inspection took, and the verdict of the
/// deciding rule, if a rule decided.
pub fn judged(route: &Route, started: std::time::Instant, verdict: &wardgate_rules::Verdict) {
    inspection_time(route, started.elapsed());
    if let Some(rule) = verdict.rule() {
        rule_verdict(route, rule, verdict.label());
    }
}

/// Time spent framing, parsing and evaluating one message.
pub fn inspection_time(route: &Route, d: Duration) {
    let m = route.metrics();
    m.inspection
        .get_or_init(|| histogram!("wardgate_inspection_seconds", "route" => m.route.clone()))
        .record(d.as_secs_f64());
}

/// Time from forwarding a message to its upstream acknowledgement.
pub fn upstream_round_trip(route: &Route, d: Duration) {
    let m = route.metrics();
    m.round_trip
        .get_or_init(
            || histogram!("wardgate_upstream_round_trip_seconds", "route" => m.route.clone()),
        )
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

/// Most rule-verdict counters a route keeps registered; past this (rule ids renamed over many
/// reloads) they are looked up in the recorder each time, as every other metric is.
const MAX_CACHED_RULE_VERDICTS: usize = 1024;

/// The handles of a route's per-message metrics, registered with the recorder on first use and
/// kept: looking a metric up by its labels costs an allocation and a hashed registry lookup,
/// several times per message otherwise. The recorder must be installed before the route carries
/// traffic (`wardgate run` starts the admin endpoint before it serves).
pub struct RouteMetrics {
    route: SharedString,
    protocol: &'static str,
    /// `(direction, verdict)` to the messages and bytes counters.
    messages: Mutex<Vec<(&'static str, &'static str, Counter, Counter)>>,
    /// `(rule, verdict)` to the rule-verdicts counter.
    rule_verdicts: Mutex<Vec<(Box<str>, &'static str, Counter)>>,
    inspection: OnceLock<Histogram>,
    round_trip: OnceLock<Histogram>,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl RouteMetrics {
    /// The metrics of the route `name` carrying `protocol`.
    pub fn new(name: &str, protocol: RouteProtocol) -> Self {
        RouteMetrics {
            route: SharedString::from(Arc::<str>::from(name)),
            protocol: protocol_label(protocol),
            messages: Mutex::new(Vec::new()),
            rule_verdicts: Mutex::new(Vec::new()),
            inspection: OnceLock::new(),
            round_trip: OnceLock::new(),
        }
    }

    fn message_counters(
        &self,
        direction: &'static str,
        verdict: &'static str,
    ) -> (Counter, Counter) {
        let mut cache = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, m, b)) = cache
            .iter()
            .find(|(d, v, _, _)| *d == direction && *v == verdict)
        {
            return (m.clone(), b.clone());
        }
        let route = self.route.clone();
        let protocol = self.protocol;
        let m = counter!("wardgate_messages_total", "route" => route.clone(), "protocol" => protocol, "direction" => direction, "verdict" => verdict);
        let b = counter!("wardgate_bytes_total", "route" => route, "protocol" => protocol, "direction" => direction);
        // Verdicts and directions are a short fixed list, so this stays small.
        cache.push((direction, verdict, m.clone(), b.clone()));
        (m, b)
    }

    fn rule_verdict(&self, rule: &str, verdict: &'static str) -> Counter {
        let mut cache = self.rule_verdicts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, c)) = cache.iter().find(|(r, v, _)| &**r == rule && *v == verdict) {
            return c.clone();
        }
        let c = counter!("wardgate_rule_verdicts_total", "route" => self.route.clone(), "rule" => rule.to_owned(), "verdict" => verdict);
        if cache.len() < MAX_CACHED_RULE_VERDICTS {
            cache.push((rule.into(), verdict, c.clone()));
        }
        c
    }
}
