//! Hot reload of the instance-wide policies, the approved inventory (`[inventory] approved`) and
//! the segmentation policy (`[segmentation] policy`), driven by the rules' reload loop (SIGHUP or
//! a changed file, included files counted). The same guarantees as for route rules: the new file
//! is compiled first; with any error the one in force stays and the error is logged with
//! file:line:column and counted (`wardgate_reloads_total{policy,result="error"}`); otherwise it is
//! swapped in whole and audited with both digests. What was learned is kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use wardgate_proxy::audit::AuditLog;
use wardgate_proxy::config::Config;
use wardgate_proxy::site::{Site, record_reload};
use wardgate_rules::{Inventory, RuleSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The approved inventory the learned one is judged against.
    Inventory,
    /// The `[[flow]]`s checked at accept.
    Segmentation,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Inventory => "inventory",
            Kind::Segmentation => "segmentation",
        }
    }
}

/// One watched policy file.
#[derive(Debug)]
struct Item {
    kind: Kind,
    path: PathBuf,
    /// Newest modification time of the file and what it includes, when last looked at.
    seen: Option<SystemTime>,
    /// Digest of the set in force (`None` if it could not be computed at start).
    digest: Option<String>,
}

/// The instance-wide policy files of one running instance and what is known of them.
#[derive(Debug)]
pub struct Watch {
    items: Vec<Item>,
    site: Arc<Site>,
    audit: Arc<AuditLog>,
}

fn compile_approved(path: &std::path::Path) -> Result<(Inventory, String)> {
    let sources = wardgate_rules::load_rule_files(&[path.to_path_buf()])
        .with_context(|| format!("[inventory] approved = {}", path.display()))?;
    let set: RuleSet = wardgate_rules::compile(&sources)
        .map_err(|d| anyhow::anyhow!("{d}"))
        .with_context(|| format!("[inventory] approved = {}", path.display()))?;
    Ok((Arc::unwrap_or_clone(set.inventory), set.digest))
}

impl Watch {
    /// Watch the policy files `config` names (those in force in `site` were compiled from them).
    pub fn new(config: &Config, site: Arc<Site>, audit: Arc<AuditLog>) -> Watch {
        let mut items = Vec::new();
        if let Some(path) = &config.inventory.approved {
            items.push(Item {
                kind: Kind::Inventory,
                seen: crate::commands::rules_mtime(std::slice::from_ref(path)),
                digest: compile_approved(path).ok().map(|(_, d)| d),
                path: path.clone(),
            });
        }
        if let Some(s) = &config.segmentation {
            items.push(Item {
                kind: Kind::Segmentation,
                seen: crate::commands::rules_mtime(std::slice::from_ref(&s.policy)),
                digest: site.segmentation().map(|p| p.digest.clone()),
                path: s.policy.clone(),
            });
        }
        Watch { items, site, audit }
    }

    /// Reload each file that changed since the last look (each one if `forced`, on SIGHUP).
    pub fn check(&mut self, forced: bool) {
        for item in &mut self.items {
            let now = crate::commands::rules_mtime(std::slice::from_ref(&item.path));
            if !forced && now == item.seen {
                continue;
            }
            item.seen = now;
            if let Err(e) = reload(item, &self.site, &self.audit) {
                wardgate_proxy::telemetry::policy_reload(item.kind.name(), "error");
                tracing::error!(
                    policy = item.kind.name(),
                    "{} not reloaded, the previous one stays in force:\n{e:#}",
                    item.path.display()
                );
            }
        }
    }
}

/// Compile `item`'s file and, if it differs from the one in force, swap it in.
fn reload(item: &mut Item, site: &Site, audit: &AuditLog) -> Result<()> {
    let old = item
        .digest
        .clone()
        .unwrap_or_else(|| "(unknown)".to_owned());
    match item.kind {
        Kind::Inventory => {
            let (inventory, digest) = compile_approved(&item.path)?;
            if item.digest.as_ref() == Some(&digest) {
                return Ok(());
            }
            let Some(learned) = &site.inventory else {
                return Ok(());
            };
            learned.replace_approved(inventory);
            record_reload(
                audit,
                "inventory",
                format!("approved inventory {digest} replaced {old}"),
            );
            tracing::info!(%digest, "approved inventory reloaded");
            item.digest = Some(digest);
        }
        Kind::Segmentation => {
            let policy = crate::inventory_cmd::compile_segmentation(&item.path)?;
            if item.digest.as_ref() == Some(&policy.digest) {
                return Ok(());
            }
            let digest = policy.digest.clone();
            if site.replace_segmentation(policy, audit) {
                item.digest = Some(digest);
            }
        }
    }
    Ok(())
}
