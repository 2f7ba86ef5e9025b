//! Micro-segmentation at accept time: a connection that no `[[flow]]` allows is closed before
//! a byte is read or forwarded, and reported (audit `segmentation`, a warning and
//! `wardgate_segmentation_refusals_total{route,reason}`). The judging is the rules crate's.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use wardgate_rules::{Connection, Protocol};

use crate::audit::AuditRecord;
use crate::config::RouteProtocol;
use crate::route::Route;
use crate::transparent::Intercepted;

/// `[segmentation]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationConfig {
    /// The segmentation policy: a rule file with `[[flow]]`s that includes the approved inventory.
    pub policy: PathBuf,
}

/// Where an accepted connection is going: with transparent interception, where the client was
/// connecting to (`SO_ORIGINAL_DST` in REDIRECT mode, the listener-side local address in TPROXY
/// mode) — what a device reaches for is what the policy judges, whatever upstream wardgate then
/// uses; otherwise the route's upstream.
pub fn destination_of(target: &Intercepted) -> SocketAddr {
    target.original_dst.unwrap_or(target.upstream)
}

fn protocol_of(p: RouteProtocol) -> Protocol {
    match p {
        RouteProtocol::Hl7 => Protocol::Hl7,
        RouteProtocol::Pump => Protocol::Pump,
        RouteProtocol::Dicom => Protocol::Dicom,
    }
}

/// Whether the connection from `client` may proceed. A refusal is reported; in audit mode the
/// connection proceeds anyway (and the report says so).
pub fn admit(route: &Route, target: &Intercepted) -> bool {
    let client = target.client;
    let Some(policy) = route.site().and_then(|s| s.segmentation()) else {
        return true;
    };
    let connection = Connection {
        client: client.ip(),
        destination: destination_of(target),
        protocol: protocol_of(route.config.protocol),
    };
    let Err(denial) = policy.judge_connection(&connection) else {
        return true;
    };
    metrics::counter!(
        "wardgate_segmentation_refusals_total",
        "route" => route.name().to_owned(),
        "reason" => denial.kind,
    )
    .increment(1);
    let enforced = denial.enforced;
    tracing::warn!(route = %route.name(), %client, destination = %connection.destination, enforced, reason = %denial.reason, "segmentation: connection not allowed");
    route.audit(AuditRecord {
        peer: client.to_string(),
        original_dst: target.original_dst.map(|a| a.to_string()),
        direction: "inbound",
        verdict: if enforced {
            "segmentation"
        } else {
            "audit-segmentation"
        },
        rule: Some(denial.kind.to_owned()),
        reason: Some(denial.reason),
        forwarded: !enforced,
        ..AuditRecord::default()
    });
    !enforced
}
