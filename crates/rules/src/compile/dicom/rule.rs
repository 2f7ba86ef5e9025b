//! `protocol = "dicom"` rules: `refuse`, `status`, `reason` and `[rule.dicom]`.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use wardgate_dicom::uid::UidKind;
use wardgate_dicom::{CommandField, Status};

use super::values::{ae_condition, command_by_name, priority_by_name, resolve_uid};
use crate::diag::Reporter;
use crate::dicom::{DicomConds, Refuse, UidList};
use crate::toml_read::*;
use crate::verdict::Action;

const RULE_DICOM_KEYS: &[&str] = &[
    "calling_ae",
    "called_ae",
    "sop_classes",
    "transfer_syntaxes",
    "commands",
    "move_destinations",
    "priority",
    "user_identity",
];
/// A-ASSOCIATE-RJ reasons a rule may give (source 1; PS3.8 §9.3.4).
const REJECT_REASONS: &[u8] = &[1, 2, 3, 7];

/// `refuse`, `status`, `reason` and `[rule.dicom]` of one `[[rule]]`. `Some(None)`: not a DICOM
/// rule and nothing DICOM in it; `None`: errors were reported.
pub(crate) fn compile_rule_dicom(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
    is_dicom: bool,
    action: Option<Action>,
) -> Option<Option<Box<DicomConds>>> {
    if !is_dicom {
        let mut ok = true;
        for key in ["refuse", "status", "reason", "dicom"] {
            if let Some(v) = get(t, key) {
                let shown = if key == "dicom" {
                    "[rule.dicom]".to_owned()
                } else {
                    format!("`{key}`")
                };
                rep.error_hint(
                    span(v),
                    format!("{shown} applies to DICOM rules"),
                    "add `protocol = \"dicom\"`",
                );
                ok = false;
            }
        }
        return ok.then_some(None);
    }
    let mut ok = true;
    let mut d = DicomConds::default();
    match (action, get(t, "refuse")) {
        (Some(Action::Deny), None) => {
            rep.error_hint(
                sp.clone(),
                "a DICOM deny rule needs `refuse`: what it refuses",
                "`refuse = \"association\"` (A-ASSOCIATE-RJ), \"command\" (a DIMSE failure response; the association lives on) or \"abort\" (A-ABORT)",
            );
            ok = false;
        }
        (Some(Action::Allow), Some(v)) => {
            rep.error_hint(
                span(v),
                "an allow rule does not refuse",
                "remove `refuse`, or make the rule `action = \"deny\"`",
            );
            ok = false;
        }
        (_, Some(v)) => match as_str(rep, v, "`refuse`") {
            Some("association") => d.refuse = Some(Refuse::Association),
            Some("command") => d.refuse = Some(Refuse::Command),
            Some("abort") => d.refuse = Some(Refuse::Abort),
            Some(other) => {
                rep.error_hint(
                    span(v),
                    format!("`refuse` cannot be `{other}`"),
                    "use \"association\", \"command\" or \"abort\"",
                );
                ok = false;
            }
            None => ok = false,
        },
        (_, None) => {}
    }
    if let Some(v) = get(t, "status") {
        if d.refuse != Some(Refuse::Command) {
            rep.error_hint(
                span(v),
                "`status` applies to rules with `refuse = \"command\"`",
                "an association is refused with `reason`, an abort carries no status",
            );
            ok = false;
        } else {
            match as_u16(rep, v, "`status`") {
                Some(s) if Status(s).is_failure() => d.status = Some(s),
                Some(s) => {
                    rep.error_hint(
                        span(v),
                        format!("`status = {s:#06x}` is not a DIMSE failure status"),
                        "use a refusal or failure code, e.g. 0x0122 (SOP class not supported), 0x0124 (not authorized), 0xA801 (move destination unknown), 0xC000 (cannot understand)",
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
    }
    if let Some(v) = get(t, "reason") {
        if d.refuse != Some(Refuse::Association) {
            rep.error_hint(
                span(v),
                "`reason` applies to rules with `refuse = \"association\"`",
                "it is the A-ASSOCIATE-RJ reason; a command refusal takes `status`",
            );
            ok = false;
        } else {
            match v.get_ref() {
                DeValue::String(_) => {
                    rep.error_hint(
                        span(v),
                        "`reason` is the A-ASSOCIATE-RJ reason number, not text",
                        "1 (no reason given), 2 (application context not supported), 3 (calling AE title not recognized) or 7 (called AE title not recognized); the rule's words go in `description`",
                    );
                    ok = false;
                }
                _ => match as_u16(rep, v, "`reason`") {
                    Some(r) if r < 256 && REJECT_REASONS.contains(&(r as u8)) => {
                        d.reason = Some(r as u8)
                    }
                    Some(r) => {
                        rep.error_hint(
                            span(v),
                            format!("`reason = {r}` is not an A-ASSOCIATE-RJ reason a service user gives"),
                            "use 1 (no reason given), 2 (application context not supported), 3 (calling AE title not recognized) or 7 (called AE title not recognized)",
                        );
                        ok = false;
                    }
                    None => ok = false,
                },
            }
        }
    }
    let dt = match get(t, "dicom") {
        Some(v) => match as_table(rep, v, "[rule.dicom]") {
            Some(dt) => Some((dt, span(v))),
            None => return None,
        },
        None => None,
    };
    if let Some((dt, _)) = dt {
        check_keys(rep, dt, RULE_DICOM_KEYS, "[rule.dicom]");
        if let Some(k) = get(dt, "abstract_syntaxes") {
            rep.error_hint(
                span(k),
                "write `sop_classes`",
                "a presentation context's abstract syntax is its SOP class: `sop_classes = [\"CTImageStorage\"]`",
            );
            ok = false;
        }
        ok &= read_rule_dicom(rep, dt, &mut d);
    }
    if action == Some(Action::Allow) && d.sop_classes.is_none() {
        let at = dt.as_ref().map_or(sp.clone(), |(_, s)| s.clone());
        rep.error_hint(
            at,
            "a DICOM allow rule must list the SOP classes it allows",
            "add `sop_classes = [\"CTImageStorage\", \"Verification\"]` to [rule.dicom] (or [\"*\"] for any); an association is accepted only when every proposed SOP class is allowed",
        );
        ok = false;
    }
    if d.refuse == Some(Refuse::Association) {
        if let Some((dt, _)) = dt {
            for key in [
                "commands",
                "move_destinations",
                "priority",
                "transfer_syntaxes",
            ] {
                if let Some(v) = get(dt, key) {
                    let hint = if key == "transfer_syntaxes" {
                        "list the allowed transfer syntaxes on allow rules: the acceptor's choice is checked against them"
                    } else {
                        "commands are judged by rules with `refuse = \"command\"` or \"abort\""
                    };
                    rep.error_hint(
                        span(v),
                        format!("`{key}` cannot be judged when the association is requested"),
                        hint,
                    );
                    ok = false;
                }
            }
        }
    }
    ok.then(|| Some(Box::new(d)))
}

fn read_rule_dicom(rep: &mut Reporter<'_>, dt: &DeTable<'_>, d: &mut DicomConds) -> bool {
    let mut ok = true;
    for (key, slot) in [
        ("calling_ae", &mut d.calling_ae),
        ("called_ae", &mut d.called_ae),
        ("move_destinations", &mut d.move_destinations),
    ] {
        if let Some(v) = get(dt, key) {
            *slot = ae_condition(rep, v, &format!("`dicom.{key}`"));
            ok &= slot.is_some();
        }
    }
    if let Some(v) = get(dt, "sop_classes") {
        let list = string_list(rep, v, "`dicom.sop_classes`").unwrap_or_default();
        if list.iter().any(|(s, _)| *s == "*") {
            if list.len() > 1 {
                rep.error_hint(
                    span(v),
                    "`\"*\"` (any SOP class) cannot be combined with other SOP classes",
                    "write `sop_classes = [\"*\"]` alone, or list the SOP classes",
                );
                ok = false;
            }
            d.sop_classes = Some(UidList::Any);
        } else if !list.is_empty() {
            let mut uids = Vec::new();
            for (text, s) in list {
                match resolve_uid(rep, text, s, UidKind::SopClass, "`dicom.sop_classes`") {
                    Some(u) => uids.push(u),
                    None => ok = false,
                }
            }
            d.sop_classes = Some(UidList::Only(uids));
        } else {
            ok = false;
        }
    }
    if let Some(v) = get(dt, "transfer_syntaxes") {
        let mut uids = Vec::new();
        for (text, s) in string_list(rep, v, "`dicom.transfer_syntaxes`").unwrap_or_default() {
            match resolve_uid(
                rep,
                text,
                s,
                UidKind::TransferSyntax,
                "`dicom.transfer_syntaxes`",
            ) {
                Some(u) => uids.push(u),
                None => ok = false,
            }
        }
        ok &= !uids.is_empty();
        d.transfer_syntaxes = Some(uids);
    }
    if let Some(v) = get(dt, "commands") {
        let list = string_list(rep, v, "`dicom.commands`");
        ok &= list.is_some();
        for (name, s) in list.unwrap_or_default() {
            match command_by_name(rep, name, s, "`dicom.commands`") {
                Some(c) => d.commands.push(c),
                None => ok = false,
            }
        }
    }
    if let (Some(v), false) = (get(dt, "move_destinations"), d.commands.is_empty()) {
        if !d.commands.contains(&CommandField::C_MOVE_RQ) {
            rep.error_hint(
                span(v),
                "`move_destinations` only applies to C-MOVE, which `commands` does not include",
                "add \"C-MOVE\" to `commands`, or remove `move_destinations`",
            );
            ok = false;
        }
    }
    if let Some(v) = get(dt, "priority") {
        let mut list = Vec::new();
        for (name, s) in string_list(rep, v, "`dicom.priority`").unwrap_or_default() {
            match priority_by_name(rep, name, s) {
                Some(p) => list.push(p),
                None => ok = false,
            }
        }
        ok &= !list.is_empty();
        d.priority = Some(list);
    }
    if let Some(v) = get(dt, "user_identity") {
        d.user_identity = as_bool(rep, v, "`dicom.user_identity`");
        ok &= d.user_identity.is_some();
    }
    ok
}
