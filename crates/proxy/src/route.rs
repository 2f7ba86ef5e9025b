//! A route at run time: its configuration, compiled rules, TLS and audit sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_rustls::TlsAcceptor;
use wardgate_hl7::ParseLimits;
use wardgate_rules::RuleSet;

use crate::audit::{AuditLog, AuditRecord};
use crate::config::RouteConfig;
use crate::telemetry;
use crate::tls::{self, TlsError, UpstreamTlsConfig};

/// What the proxy needs to start a route: its configuration and its compiled rules.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The route's configuration.
    pub config: RouteConfig,
    /// The route's compiled policy.
    pub rules: RuleSet,
}

/// A running route, shared by its connections.
pub struct Route {
    /// Configuration.
    pub config: RouteConfig,
    /// Compiled rules.
    pub rules: Arc<RuleSet>,
    /// TLS towards senders, if configured.
    pub acceptor: Option<TlsAcceptor>,
    /// TLS towards the upstream, if configured.
    pub upstream_tls: Option<UpstreamTlsConfig>,
    /// HL7 parse limits derived from the configuration.
    pub parse_limits: ParseLimits,
    audit: Arc<AuditLog>,
    nack_seq: AtomicU64,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// Build a route, loading its TLS material.
    pub fn new(spec: RouteSpec, audit: Arc<AuditLog>) -> Result<Self, TlsError> {
        let acceptor = match &spec.config.tls {
            Some(t) => Some(TlsAcceptor::from(tls::server_config(t)?)),
            None => None,
        };
        let upstream_tls = match &spec.config.upstream_tls {
            Some(t) => Some(tls::upstream_config(t)?),
            None => None,
        };
        let parse_limits = ParseLimits {
            allow_lf_terminators: spec.config.allow_lf_terminators,
            ..ParseLimits::default()
        };
        Ok(Route {
            config: spec.config,
            rules: Arc::new(spec.rules),
            acceptor,
            upstream_tls,
            parse_limits,
            audit,
            nack_seq: AtomicU64::new(1),
        })
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// A fresh control id for a reply wardgate writes itself.
    pub fn next_control_id(&self) -> String {
        format!("WG{}", self.nack_seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Record an audit line; a failed write is counted and logged, never silently dropped.
    pub fn audit(&self, mut rec: AuditRecord) {
        rec.route.clone_from(&self.config.name);
        if let Err(e) = self.audit.record(rec) {
            telemetry::audit_failure(&self.config.name);
            tracing::error!(route = %self.config.name, error = %e, "audit log write failed");
        }
    }
}
