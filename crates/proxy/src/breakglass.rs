//! Break-glass: an authenticated operator puts a route, or one rule of it, into audit mode for a
//! bounded time with a stated reason. Messages are then forwarded where the covered rules would
//! have refused them, and audited as `audit-deny` with a `break_glass` marker; rules the policy
//! marks `never_override` stay enforced. Grants end early on request or by themselves when their
//! time is up, and every start, end and expiry is audited and visible in metrics.
//!
//! The grants live in each [`Route`] ([`RouteGlass`]); [`BreakGlass`] is the operator's handle to
//! all of them, served on the admin endpoint (`crate::admin_breakglass`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use wardgate_rules::{OverrideRefused, Overrides};

use crate::audit::AuditRecord;
use crate::clock::{self, Clock, SystemClock};
use crate::route::Route;
use crate::telemetry;

/// Longest reason accepted (it is written into every audit line judged under the grant).
pub const MAX_REASON_CHARS: usize = 500;
/// Most grants in force at once on the whole proxy.
pub const MAX_GRANTS: usize = 64;
/// How often overdue grants are ended when no message asks for them.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Metrics label of a grant that covers the whole route.
pub const WHOLE_ROUTE: &str = "*";

/// One break-glass grant in force.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    /// Number of the grant on this instance (to end it early).
    pub id: u64,
    /// The route.
    pub route: String,
    /// The rule it covers; absent when it covers the whole route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why, in the operator's words.
    pub reason: String,
    /// Who asked: the operator's name as given, and the admin client's address (the admin token
    /// authenticated the request; a single token does not tell operators apart).
    pub operator: String,
    /// Address of the admin client that asked.
    pub peer: String,
    /// RFC 3339 start time.
    pub started: String,
    /// RFC 3339 time at which it ends by itself.
    pub until: String,
    #[serde(skip)]
    until_at: SystemTime,
}

impl Grant {
    fn label(&self) -> &str {
        self.rule.as_deref().unwrap_or(WHOLE_ROUTE)
    }

    fn mark(&self) -> Mark {
        Mark {
            id: self.id,
            rule: self.rule.clone(),
            reason: self.reason.clone(),
            until: self.until.clone(),
        }
    }
}

/// What an audit line judged under break-glass carries (field `break_glass`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Mark {
    /// The grant.
    pub id: u64,
    /// The rule it covers; absent for the whole route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The operator's reason.
    pub reason: String,
    /// When it ends.
    pub until: String,
}

/// What break-glass means for one message: the rules it covers and the marks to audit.
#[derive(Debug, Clone, Default)]
pub struct InForce {
    /// Passed to the rule evaluation.
    pub overrides: Overrides,
    /// Copied into the message's audit record.
    pub marks: Vec<Mark>,
}

/// A route's grants. Cheap to consult when none is in force (one atomic load).
#[derive(Debug)]
pub struct RouteGlass {
    any: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    clock: Arc<dyn Clock>,
    grants: Vec<Grant>,
}

impl Default for RouteGlass {
    fn default() -> Self {
        RouteGlass {
            any: AtomicBool::new(false),
            state: Mutex::new(State {
                clock: Arc::new(SystemClock),
                grants: Vec::new(),
            }),
        }
    }
}

impl RouteGlass {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Ended,
    Expired,
}

/// The grants of `route` in force now; overdue ones are ended (audited, gauges lowered) first.
/// This is the drivers' one call per judged message.
pub fn in_force(route: &Route) -> InForce {
    let glass = route.break_glass();
    if !glass.any.load(Ordering::Acquire) {
        return InForce::default();
    }
    let expired = {
        let mut state = glass.lock();
        let now = state.clock.now();
        let (gone, kept): (Vec<Grant>, Vec<Grant>) =
            state.grants.drain(..).partition(|g| g.until_at <= now);
        state.grants = kept;
        glass.any.store(!state.grants.is_empty(), Ordering::Release);
        gone
    };
    for g in &expired {
        close(route, g, Ending::Expired, None);
    }
    let state = glass.lock();
    let mut out = InForce::default();
    for g in &state.grants {
        match &g.rule {
            None => out.overrides.whole_route = true,
            Some(r) => out.overrides.rules.push(r.clone()),
        }
        out.marks.push(g.mark());
    }
    if !out.marks.is_empty() {
        telemetry::break_glass_message(route.name());
    }
    out
}

/// Audit and count the end of a grant.
fn close(route: &Route, g: &Grant, how: Ending, by: Option<(&str, &str)>) {
    telemetry::break_glass_active(route.name(), g.label(), -1.0);
    let (verdict, what) = match how {
        Ending::Ended => ("break-glass-end", "ended early"),
        Ending::Expired => ("break-glass-expired", "expired"),
    };
    let mut rec = AuditRecord {
        direction: "operator",
        verdict,
        rule: g.rule.clone(),
        reason: Some(format!("break-glass grant {} {what}", g.id)),
        break_glass: vec![g.mark()],
        ..AuditRecord::default()
    };
    if let Some((operator, peer)) = by {
        rec.peer = peer.to_owned();
        rec.reason = Some(format!("break-glass grant {} {what} by {operator}", g.id));
    }
    route.audit(rec);
    tracing::warn!(route = %route.name(), grant = g.id, "break-glass {what}");
}

/// An operator's request for a grant.
#[derive(Debug, Clone)]
pub struct Request {
    /// Route name.
    pub route: String,
    /// One rule, or the whole route.
    pub rule: Option<String>,
    /// How long.
    pub duration: Duration,
    /// Why.
    pub reason: String,
    /// Who.
    pub operator: String,
}

/// Why a break-glass request was refused. The operator is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakGlassError {
    /// No route by that name.
    #[error("no route `{0}`")]
    UnknownRoute(String),
    /// Longer than the configured maximum, or zero.
    #[error(
        "duration {asked:?} is not allowed: it must be more than zero and at most {max:?} ([admin] break_glass_max)"
    )]
    Duration {
        /// Asked for.
        asked: Duration,
        /// Configured maximum.
        max: Duration,
    },
    /// No reason, or too long a reason.
    #[error("a reason (1 to {MAX_REASON_CHARS} characters) is required")]
    Reason,
    /// The rule cannot be set aside.
    #[error("route `{route}`: {source}")]
    Rule {
        /// The route.
        route: String,
        /// Why.
        source: OverrideRefused,
    },
    /// Too many grants in force.
    #[error("{MAX_GRANTS} break-glass grants are already in force")]
    TooMany,
    /// No grant by that number is in force.
    #[error("no break-glass grant {0} is in force")]
    UnknownGrant(u64),
}

/// The operator's handle on the grants of every route.
#[derive(Debug)]
pub struct BreakGlass {
    routes: Vec<Arc<Route>>,
    max: Duration,
    clock: Arc<dyn Clock>,
    next_id: AtomicU64,
}

impl BreakGlass {
    /// Break-glass over `routes`, at most `max` per grant, timed by `clock`.
    pub fn new(routes: Vec<Arc<Route>>, max: Duration, clock: Arc<dyn Clock>) -> Arc<Self> {
        for r in &routes {
            r.break_glass().lock().clock = clock.clone();
        }
        Arc::new(BreakGlass {
            routes,
            max,
            clock,
            next_id: AtomicU64::new(1),
        })
    }

    /// End overdue grants every [`SWEEP_INTERVAL`], so they revert (and their gauges drop) even
    /// when no message arrives. Must run inside the tokio runtime.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                me.sweep();
            }
        })
    }

    /// End every overdue grant now.
    pub fn sweep(&self) {
        for r in &self.routes {
            in_force(r);
        }
    }

    fn route(&self, name: &str) -> Result<&Arc<Route>, BreakGlassError> {
        self.routes
            .iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| BreakGlassError::UnknownRoute(name.to_owned()))
    }

    /// Grant break-glass as asked by `req` from the admin client at `peer`.
    pub fn activate(&self, req: Request, peer: &str) -> Result<Grant, BreakGlassError> {
        let route = self.route(&req.route)?;
        if req.duration.is_zero() || req.duration > self.max {
            return Err(BreakGlassError::Duration {
                asked: req.duration,
                max: self.max,
            });
        }
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(BreakGlassError::Reason);
        }
        if let Some(rule) = &req.rule {
            route
                .rules()
                .check_override(rule)
                .map_err(|source| BreakGlassError::Rule {
                    route: req.route.clone(),
                    source,
                })?;
        }
        if self.list().len() >= MAX_GRANTS {
            return Err(BreakGlassError::TooMany);
        }
        let now = self.clock.now();
        let until_at = now + req.duration;
        let grant = Grant {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            route: req.route.clone(),
            rule: req.rule,
            reason: reason.to_owned(),
            operator: req.operator.chars().take(100).collect(),
            peer: peer.to_owned(),
            started: clock::rfc3339(now),
            until: clock::rfc3339(until_at),
            until_at,
        };
        {
            let glass = route.break_glass();
            let mut state = glass.lock();
            state.grants.push(grant.clone());
            glass.any.store(true, Ordering::Release);
        }
        telemetry::break_glass_active(route.name(), grant.label(), 1.0);
        telemetry::break_glass_activation(route.name(), grant.label());
        route.audit(AuditRecord {
            direction: "operator",
            verdict: "break-glass-start",
            peer: peer.to_owned(),
            rule: grant.rule.clone(),
            reason: Some(format!(
                "break-glass grant {} by {} for {:?}: {}",
                grant.id, grant.operator, req.duration, grant.reason
            )),
            break_glass: vec![grant.mark()],
            ..AuditRecord::default()
        });
        tracing::warn!(route = %route.name(), grant = grant.id, rule = ?grant.rule, until = %grant.until, reason = %grant.reason, "break-glass granted");
        Ok(grant)
    }

    /// The grants in force (overdue ones are ended first).
    pub fn list(&self) -> Vec<Grant> {
        self.sweep();
        self.routes
            .iter()
            .flat_map(|r| r.break_glass().lock().grants.clone())
            .collect()
    }

    /// End grant `id` before its time.
    pub fn end(&self, id: u64, operator: &str, peer: &str) -> Result<Grant, BreakGlassError> {
        self.sweep();
        for r in &self.routes {
            let glass = r.break_glass();
            let removed = {
                let mut state = glass.lock();
                let pos = state.grants.iter().position(|g| g.id == id);
                let g = pos.map(|i| state.grants.remove(i));
                glass.any.store(!state.grants.is_empty(), Ordering::Release);
                g
            };
            if let Some(g) = removed {
                close(r, &g, Ending::Ended, Some((operator, peer)));
                return Ok(g);
            }
        }
        Err(BreakGlassError::UnknownGrant(id))
    }
}
