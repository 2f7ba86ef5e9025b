//! What the routes of one proxy instance share beyond the audit log: the learned device
//! inventory and the micro-segmentation policy. Attached to every route before the proxy runs.

use std::sync::Arc;

use arc_swap::ArcSwap;
use wardgate_rules::RuleSet;

use crate::audit::{AuditLog, AuditRecord};
use crate::inventory::LearnedInventory;

/// The instance-wide observers and policies.
#[derive(Debug, Default)]
pub struct Site {
    /// The learned inventory every driver reports what it sees to.
    pub inventory: Option<Arc<LearnedInventory>>,
    /// The compiled segmentation policy (`[[flow]]` and the approved inventory it includes),
    /// checked for every accepted connection; swapped whole on reload.
    segmentation: Option<ArcSwap<RuleSet>>,
}

/// The `route` of audit records about instance-wide policies (no one route's).
pub const INSTANCE_ROUTE: &str = "*";

impl Site {
    /// A site with this learned inventory and (compiled) segmentation policy.
    pub fn new(inventory: Option<Arc<LearnedInventory>>, segmentation: Option<RuleSet>) -> Self {
        Site {
            inventory,
            segmentation: segmentation.map(ArcSwap::from_pointee),
        }
    }

    /// The segmentation policy in force: a connection is judged by one complete policy, even
    /// across a reload.
    pub fn segmentation(&self) -> Option<Arc<RuleSet>> {
        self.segmentation.as_ref().map(ArcSwap::load_full)
    }

    /// Put a new, already compiled segmentation policy in force for connections accepted from
    /// now on (open connections were admitted already and stay open), and audit it with both
    /// digests. Returns `false`, changing nothing, where no policy was configured at start.
    pub fn replace_segmentation(&self, policy: RuleSet, audit: &AuditLog) -> bool {
        let Some(slot) = &self.segmentation else {
            return false;
        };
        let digest = policy.digest.clone();
        let old = slot.swap(Arc::new(policy));
        record_reload(
            audit,
            "segmentation",
            format!("segmentation policy {digest} replaced {}", old.digest),
        );
        tracing::info!(%digest, "segmentation policy reloaded");
        true
    }
}

/// Count and audit a successful reload of an instance-wide policy (`segmentation`,
/// `inventory`).
pub fn record_reload(audit: &AuditLog, policy: &'static str, reason: String) {
    crate::telemetry::policy_reload(policy, "ok");
    let rec = AuditRecord {
        route: INSTANCE_ROUTE.to_owned(),
        direction: "config",
        verdict: "reload",
        rule: Some(policy.to_owned()),
        reason: Some(reason),
        ..AuditRecord::default()
    };
    if let Err(e) = audit.record(rec) {
        crate::telemetry::audit_failure(INSTANCE_ROUTE);
        tracing::error!(error = %e, "audit log write failed");
    }
}
