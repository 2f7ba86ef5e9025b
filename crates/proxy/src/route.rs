//! A route at run time: its configuration, compiled rules, TLS and audit sink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use std::time::Instant;

use tokio_rustls::TlsAcceptor;
use wardgate_hl7::ParseLimits;
use wardgate_rules::{PumpState, RuleSet};

use crate::audit::{AuditLog, AuditRecord};
use crate::config::{RouteConfig, RouteProtocol};
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
    /// Compiled rules, swapped whole on reload (each message is judged by one complete set).
    rules: ArcSwap<RuleSet>,
    /// TLS towards senders, if configured.
    pub acceptor: Option<TlsAcceptor>,
    /// TLS towards the upstream, if configured.
    pub upstream_tls: Option<UpstreamTlsConfig>,
    /// HL7 parse limits derived from the configuration.
    pub parse_limits: ParseLimits,
    audit: Arc<AuditLog>,
    nack_seq: AtomicU64,
    /// Pump routes: what the stateful rules remember, shared by every connection of the route.
    pump_state: Option<Mutex<PumpState>>,
    /// Origin of the monotonic clock the pump rules are given (`now_ms`).
    epoch: Instant,
    /// Break-glass grants in force on this route.
    glass: crate::breakglass::RouteGlass,
    /// The learned inventory and segmentation policy, attached once before the proxy runs.
    site: std::sync::OnceLock<Arc<crate::site::Site>>,
    metrics: crate::telemetry::RouteMetrics,
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
        let pump_state = (spec.config.protocol == RouteProtocol::Pump)
            .then(|| Mutex::new(PumpState::new(spec.config.limits.max_tracked_channels)));
        Ok(Route {
            metrics: crate::telemetry::RouteMetrics::new(&spec.config.name, spec.config.protocol),
            pump_state,
            epoch: Instant::now(),
            config: spec.config,
            rules: ArcSwap::from_pointee(spec.rules),
            acceptor,
            upstream_tls,
            parse_limits,
            audit,
            nack_seq: AtomicU64::new(1),
            glass: crate::breakglass::RouteGlass::default(),
            site: std::sync::OnceLock::new(),
        })
    }

    /// The handles of the route's per-message metrics.
    pub fn metrics(&self) -> &crate::telemetry::RouteMetrics {
        &self.metrics
    }

    /// The route's break-glass grants (see [`crate::breakglass::in_force`]).
    pub fn break_glass(&self) -> &crate::breakglass::RouteGlass {
        &self.glass
    }

    /// The rule set in force: a message keeps the set it started with, even across a reload.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.load_full()
    }

    /// Put a new, already compiled rule set in force (state kept in the route, such as the pump
    /// state, is not touched), and audit it with both digests.
    pub fn replace_rules(&self, rules: RuleSet) {
        let digest = rules.digest.clone();
        let old = self.rules.swap(Arc::new(rules));
        telemetry::reload(self.name(), "ok");
        self.audit(AuditRecord {
            direction: "config",
            verdict: "reload",
            reason: Some(format!("rule set {} replaced {}", digest, old.digest)),
            ..AuditRecord::default()
        });
        tracing::info!(route = %self.name(), digest = %digest, "rules reloaded");
    }

    /// Attach the instance's learned inventory and segmentation policy (once; later calls are
    /// ignored).
    pub fn attach_site(&self, site: Arc<crate::site::Site>) {
        let _ = self.site.set(site);
    }

    /// The attached inventory and segmentation policy, if any.
    pub fn site(&self) -> Option<&crate::site::Site> {
        self.site.get().map(|s| &**s)
    }

    /// The learned inventory drivers report what they see to, if one is attached.
    pub fn learned(&self) -> Option<&crate::inventory::LearnedInventory> {
        self.site().and_then(|s| s.inventory.as_deref())
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// A fresh control id for a reply wardgate writes itself.
    pub fn next_control_id(&self) -> String {
        format!("WG{}", self.nack_seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Milliseconds since the route started, from a monotonic clock (the pump rules' `now_ms`).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Run `f` on the route's pump state; `None` on routes of other protocols.
    ///
    /// The lock is held only for the duration of `f` (an evaluation or an observation), never
    /// across an await. A poisoned lock (a panic mid-evaluation) still yields the state.
    pub fn with_pump_state<R>(&self, f: impl FnOnce(&mut PumpState) -> R) -> Option<R> {
        let state = self.pump_state.as_ref()?;
        let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut guard))
    }

    /// How many (pump, channel) pairs the route's pump state tracks; `None` on non-pump routes.
    pub fn pump_tracked(&self) -> Option<usize> {
        self.with_pump_state(|s| s.tracked())
    }

    /// Record an audit line; a failed write is counted and logged, never silently dropped.
    pub fn audit(&self, rec: AuditRecord) {
        let _ = self.try_audit(rec);
    }

    /// [`Route::audit`], returning the failure so a fail-closed route can refuse the message it
    /// could not record (see `crate::audit_gate`).
    pub fn try_audit(&self, mut rec: AuditRecord) -> std::io::Result<()> {
        self.try_audit_mut(&mut rec)
    }

    /// [`Route::try_audit`] without giving the record up (see `crate::audit_gate`).
    pub(crate) fn try_audit_mut(&self, rec: &mut AuditRecord) -> std::io::Result<()> {
        rec.route.clone_from(&self.config.name);
        let result = self.audit.record_mut(rec);
        if let Err(e) = &result {
            telemetry::audit_failure(&self.config.name);
            tracing::error!(route = %self.config.name, error = %e, "audit log write failed");
        }
        result
    }
}
