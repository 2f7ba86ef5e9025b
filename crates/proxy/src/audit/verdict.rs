//! How a permit is written in the audit log, the same for every protocol.

use wardgate_rules::{Denial, Permit};

use super::AuditRecord;

/// The audit verdict of a permit: `allow`, or `audit-deny` when an audit-mode rule would refuse.
pub fn permit_verdict(audit: &[Denial]) -> &'static str {
    if audit.is_empty() {
        "allow"
    } else {
        "audit-deny"
    }
}

/// `rule: reason` lines of audit-mode refusals.
pub fn audit_lines(audit: &[Denial]) -> Vec<String> {
    audit
        .iter()
        .map(|d| format!("{}: {}", d.rule, d.reason))
        .collect()
}

/// The deciding rule of a permit, for the audit line.
pub fn permit_rule(p: &Permit) -> Option<String> {
    p.rule.as_deref().map(str::to_owned)
}

impl AuditRecord {
    /// Record a permit: its verdict, deciding rule, soft-limit alerts and audit-mode refusals.
    pub fn permitted(&mut self, p: Permit) {
        self.verdict = permit_verdict(&p.audit);
        self.rule = permit_rule(&p);
        self.audit = audit_lines(&p.audit);
        self.alerts = p.alerts;
    }
}
