//! What the routes of one proxy instance share beyond the audit log: the learned device
//! inventory and the micro-segmentation policy. Attached to every route before the proxy runs.

use std::sync::Arc;

use wardgate_rules::RuleSet;

use crate::inventory::LearnedInventory;

/// The instance-wide observers and policies.
#[derive(Debug, Default, Clone)]
pub struct Site {
    /// The learned inventory every driver reports what it sees to.
    pub inventory: Option<Arc<LearnedInventory>>,
    /// The compiled segmentation policy (`[[flow]]` and the approved inventory it includes),
    /// checked for every accepted connection.
    pub segmentation: Option<Arc<RuleSet>>,
}
