//! The route's failure policy applied to the audit log: a fail-closed route writes a message's
//! verdict line *before* the bytes go upstream and refuses the message when the line cannot be
//! written (disk full, I/O error); a fail-open route forwards first and counts a failed write.

use crate::audit::AuditRecord;
use crate::config::FailurePolicy;
use crate::route::Route;

/// What the driver does with a permitted message's audit record before forwarding it.
#[derive(Debug)]
pub(crate) enum Ahead {
    /// Written already (fail-closed): do not write it again after forwarding.
    Written,
    /// Write it after forwarding (fail-open; a failure is counted and logged).
    Later,
    /// It could not be written on a fail-closed route: refuse the message with this reason.
    Refuse(String),
}

/// Apply the audit failure policy to `rec`, a permitted message about to be forwarded (the
/// upstream connection already established, so a written line is very likely followed by the
/// delivery it records; when it is not, an `upstream-unavailable` line follows it).
pub(crate) fn before_forwarding(route: &Route, rec: &mut AuditRecord) -> Ahead {
    if route.config.failure_policy == FailurePolicy::Open {
        return Ahead::Later;
    }
    // Written as forwarded; the record itself is left as it was (not forwarded, no time), since
    // it becomes the refusal's line if the write or the delivery fails. No copy of it is made:
    // this runs for every permitted message.
    rec.forwarded = true;
    let written = route.try_audit_mut(rec);
    rec.forwarded = false;
    rec.time.clear();
    match written {
        Ok(()) => Ahead::Written,
        Err(e) => Ahead::Refuse(format!(
            "the audit log cannot be written ({e}); failure_policy = \"closed\" refuses what it cannot record"
        )),
    }
}

/// The verdict audited (and counted) for a message refused because it could not be recorded.
pub(crate) const AUDIT_UNAVAILABLE: &str = "audit-unavailable";
