//! Compiling the DICOM parts of a rule file: the `[dicom]` AE registry, `protocol = "dicom"`
//! rules (`refuse`, `status`, `reason`, `[rule.dicom]`) and DICOM rule tests, every problem
//! reported with its position and a hint.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use wardgate_dicom::uid::{self, UidKind};
use wardgate_dicom::{CommandField, Priority, Status, ae_title};

use crate::compile::{SenderConds, compile_condition, read_sender};
use crate::condition::TextCondition;
use crate::diag::{Reporter, suggest};
use crate::dicom::{CallingAe, DicomConds, DicomPolicy, Refuse, UidList};
use crate::testcase::{DicomExpect, DicomTest, DicomTestCommand};
use crate::toml_read::*;
use crate::verdict::Action;

const DICOM_KEYS: &[&str] = &["called_ae", "calling_ae"];
const CALLING_AE_KEYS: &[&str] = &["title", "description", "address", "cert_cn", "cert_san"];
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
const TEST_DICOM_KEYS: &[&str] = &[
    "calling_ae",
    "called_ae",
    "contexts",
    "user_identity",
    "command",
    "sop_class",
    "move_destination",
    "priority",
];

/// The DIMSE services a rule can name (C-CANCEL is always forwarded).
pub(crate) const COMMANDS: &[(&str, CommandField)] = &[
    ("C-ECHO", CommandField::C_ECHO_RQ),
    ("C-STORE", CommandField::C_STORE_RQ),
    ("C-FIND", CommandField::C_FIND_RQ),
    ("C-MOVE", CommandField::C_MOVE_RQ),
    ("C-GET", CommandField::C_GET_RQ),
    ("N-EVENT-REPORT", CommandField::N_EVENT_REPORT_RQ),
    ("N-GET", CommandField::N_GET_RQ),
    ("N-SET", CommandField::N_SET_RQ),
    ("N-ACTION", CommandField::N_ACTION_RQ),
    ("N-CREATE", CommandField::N_CREATE_RQ),
    ("N-DELETE", CommandField::N_DELETE_RQ),
];

/// A-ASSOCIATE-RJ reasons a rule may give (source 1; PS3.8 §9.3.4).
const REJECT_REASONS: &[u8] = &[1, 2, 3, 7];

/// `[dicom]`: called AE titles and the calling-AE registry. Several files add to one registry.
pub(crate) fn compile_dicom_policy(rep: &mut Reporter<'_>, t: &DeTable<'_>, out: &mut DicomPolicy) {
    check_keys(rep, t, DICOM_KEYS, "[dicom]");
    if let Some(v) = get(t, "called_ae") {
        for (title, s) in string_list(rep, v, "`dicom.called_ae`").unwrap_or_default() {
            if let Some(title) = ae(rep, title, s, "`dicom.called_ae`") {
                out.called_ae.push(title);
            }
        }
    }
    if let Some(v) = get(t, "calling_ae") {
        for (et, esp) in tables(rep, v, "[[dicom.calling_ae]]") {
            if let Some(entry) = compile_calling_ae(rep, et, &esp) {
                out.calling_ae.push(entry);
            }
        }
    }
}

fn compile_calling_ae(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<CallingAe> {
    check_keys(rep, t, CALLING_AE_KEYS, "[[dicom.calling_ae]]");
    if let Some(v) = get(t, "description") {
        as_str(rep, v, "`description`");
    }
    let title = required_str(rep, t, sp, "title", "[[dicom.calling_ae]]")
        .and_then(|(title, s)| ae(rep, title, s, "`title`"));
    let mut conds = SenderConds::default();
    let ok = read_sender(rep, t, &mut conds, "dicom.calling_ae");
    if conds.address.is_none() && conds.cert_cn.is_none() && conds.cert_san.is_none() {
        rep.error_hint(
            sp.clone(),
            "[[dicom.calling_ae]] names no host or certificate: an AE title is only believed from where it is registered",
            "add `address = [\"10.30.1.0/24\"]`, `cert_cn = [\"ct01.example\"]` or `cert_san`; \
             another [[dicom.calling_ae]] with the same title adds an alternative",
        );
        return None;
    }
    match (ok, title) {
        (true, Some(title)) => Some(CallingAe {
            title,
            address: conds.address,
            cert_cn: conds.cert_cn,
            cert_san: conds.cert_san,
        }),
        _ => None,
    }
}

/// A valid AE title (PS3.5 VR AE: 1-16 characters, no control characters or backslash).
fn ae(rep: &mut Reporter<'_>, text: &str, s: Range<usize>, what: &str) -> Option<String> {
    match ae_title(text.as_bytes()) {
        Ok(t) if t == text => Some(t.to_owned()),
        Ok(_) => {
            rep.error_hint(
                s,
                format!("{what} {text:?} has leading or trailing spaces"),
                "AE titles are compared without their padding; remove the spaces",
            );
            None
        }
        Err(e) => {
            rep.error_hint(
                s,
                format!("{what} {text:?} is not an AE title: it {e}"),
                "1 to 16 characters, no backslash or control characters, e.g. \"CT01\"",
            );
            None
        }
    }
}

/// Whether `text` is a dotted UID (PS3.5 §9.1): digits and dots, no empty component, no
/// leading zero, at most 64 characters.
fn valid_uid(text: &str) -> bool {
    text.len() <= 64
        && text.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

fn kind_name(kind: UidKind) -> &'static str {
    match kind {
        UidKind::SopClass => "a SOP class",
        UidKind::TransferSyntax => "a transfer syntax",
        UidKind::ApplicationContext => "an application context",
    }
}

/// A SOP class or transfer syntax, by keyword (PS3.6 Annex A) or dotted UID.
pub(crate) fn resolve_uid(
    rep: &mut Reporter<'_>,
    text: &str,
    s: Range<usize>,
    kind: UidKind,
    what: &str,
) -> Option<String> {
    let example = match kind {
        UidKind::TransferSyntax => "\"ExplicitVRLittleEndian\" or \"1.2.840.10008.1.2.1\"",
        _ => "\"CTImageStorage\" or \"1.2.840.10008.5.1.4.1.1.2\"",
    };
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        if !valid_uid(text) {
            rep.error_hint(
                s,
                format!("{what}: `{text}` is not a UID"),
                "a UID is digits and dots, without empty components or leading zeros, at most 64 characters",
            );
            return None;
        }
        if let Some(e) = uid::by_uid(text).filter(|e| e.kind != kind) {
            rep.error(
                s,
                format!(
                    "{what}: `{text}` is {} ({}), not {}",
                    e.keyword,
                    kind_name(e.kind),
                    kind_name(kind)
                ),
            );
            return None;
        }
        return Some(text.to_owned());
    }
    if let Some(e) = uid::by_keyword(text) {
        if e.kind == kind {
            return Some(e.uid.to_owned());
        }
        rep.error(
            s,
            format!(
                "{what}: `{text}` is {}, not {}",
                kind_name(e.kind),
                kind_name(kind)
            ),
        );
        return None;
    }
    let keywords: Vec<&str> = uid::ENTRIES
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.keyword)
        .collect();
    let near = keywords
        .iter()
        .find(|k| k.eq_ignore_ascii_case(text))
        .copied()
        .or_else(|| suggest(text, &keywords));
    let hint = match near {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!(
            "write a PS3.6 keyword wardgate knows, e.g. {example}, or any dotted UID ({} known keywords: {})",
            keywords.len(),
            keywords.join(", ")
        ),
    };
    rep.error_hint(
        s,
        format!(
            "{what}: `{text}` is not {} keyword wardgate knows",
            kind_name(kind)
        ),
        hint,
    );
    None
}

fn command_by_name(
    rep: &mut Reporter<'_>,
    name: &str,
    s: Range<usize>,
    what: &str,
) -> Option<CommandField> {
    if let Some((_, c)) = COMMANDS.iter().find(|(n, _)| *n == name) {
        return Some(*c);
    }
    let names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
    if name.eq_ignore_ascii_case("C-CANCEL") {
        rep.error_hint(
            s,
            format!("{what}: C-CANCEL cannot be named"),
            "C-CANCEL is always forwarded: it only stops an operation already allowed",
        );
        return None;
    }
    let trimmed = name.trim_end_matches("-RQ").trim_end_matches("-rq");
    let near = names
        .iter()
        .find(|n| {
            n.eq_ignore_ascii_case(trimmed) || n.replace('-', "").eq_ignore_ascii_case(trimmed)
        })
        .copied()
        .or_else(|| suggest(name, &names));
    let hint = match near {
        Some(n) => format!("did you mean `{n}`?"),
        None => format!("DIMSE services: {}", names.join(", ")),
    };
    rep.error_hint(s, format!("{what}: `{name}` is not a DIMSE service"), hint);
    None
}

fn priority_by_name(rep: &mut Reporter<'_>, name: &str, s: Range<usize>) -> Option<Priority> {
    match name {
        "low" => Some(Priority::LOW),
        "medium" => Some(Priority::MEDIUM),
        "high" => Some(Priority::HIGH),
        other => {
            rep.error_hint(
                s,
                format!("`{other}` is not a DIMSE priority"),
                "use \"low\", \"medium\" or \"high\"",
            );
            None
        }
    }
}

/// A list of AE titles (any of) or a condition table, for `calling_ae`, `called_ae`,
/// `move_destinations`.
fn ae_condition(rep: &mut Reporter<'_>, v: &Val<'_>, what: &str) -> Option<TextCondition> {
    match v.get_ref() {
        DeValue::Table(ct) => compile_condition(rep, ct, &span(v), false, what),
        _ => {
            let list = string_list(rep, v, what)?;
            let mut out = Vec::new();
            let mut ok = true;
            for (title, s) in list {
                match ae(rep, title, s, what) {
                    Some(t) => out.push(t.into_bytes()),
                    None => ok = false,
                }
            }
            ok.then(|| TextCondition::one_of(out, false))
        }
    }
}

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

/// The `expect` of a DICOM test.
pub(crate) fn dicom_expect(rep: &mut Reporter<'_>, v: &Val<'_>) -> Option<DicomExpect> {
    match as_str(rep, v, "`expect`")? {
        "allow" => Some(DicomExpect::Allow),
        "reject" => Some(DicomExpect::Reject),
        "refuse" => Some(DicomExpect::Refuse),
        "abort" => Some(DicomExpect::Abort),
        other => {
            rep.error_hint(
                span(v),
                format!("a DICOM test cannot expect `{other}`"),
                "use \"allow\", \"reject\" (A-ASSOCIATE-RJ), \"refuse\" (DIMSE failure response) or \"abort\" (A-ABORT)",
            );
            None
        }
    }
}

/// The `dicom = {...}` of a `[[test]]`, with its `expect`, `reason` and `status`.
pub(crate) fn compile_dicom_test(
    rep: &mut Reporter<'_>,
    test: &DeTable<'_>,
    v: &Val<'_>,
    expect: Option<DicomExpect>,
) -> Option<DicomTest> {
    let t = as_table(rep, v, "`dicom`")?;
    let sp = span(v);
    check_keys(rep, t, TEST_DICOM_KEYS, "a test's `dicom`");
    let mut ok = true;
    let mut title = |rep: &mut Reporter<'_>, key: &str| {
        let r = required_str(rep, t, &sp, key, "a test's `dicom`")
            .and_then(|(s, at)| ae(rep, s, at, &format!("`{key}`")));
        ok &= r.is_some();
        r
    };
    let calling_ae = title(rep, "calling_ae");
    let called_ae = title(rep, "called_ae");
    let mut contexts = Vec::new();
    match get(t, "contexts") {
        None => {
            rep.error_hint(
                sp.clone(),
                "a test's `dicom` has no `contexts`",
                "add `contexts = [[\"CTImageStorage\", \"ExplicitVRLittleEndian\"]]`: each is a SOP class, then the transfer syntaxes proposed for it",
            );
            ok = false;
        }
        Some(cv) => {
            let items = as_array(rep, cv, "`contexts`").map(|a| a.iter().collect::<Vec<_>>());
            ok &= items.is_some();
            for item in items.unwrap_or_default() {
                let list = string_list(rep, item, "a context");
                let Some(list) =
                    list.filter(|l| l.len() >= 2 && matches!(item.get_ref(), DeValue::Array(_)))
                else {
                    rep.error_hint(
                        span(item),
                        "a context is a SOP class followed by at least one transfer syntax",
                        "e.g. [\"CTImageStorage\", \"ExplicitVRLittleEndian\", \"ImplicitVRLittleEndian\"]",
                    );
                    ok = false;
                    continue;
                };
                let mut it = list.into_iter();
                let abs = it.next().and_then(|(s, at)| {
                    resolve_uid(rep, s, at, UidKind::SopClass, "a context's SOP class")
                });
                let ts: Vec<Option<String>> = it
                    .map(|(s, at)| {
                        resolve_uid(
                            rep,
                            s,
                            at,
                            UidKind::TransferSyntax,
                            "a context's transfer syntax",
                        )
                    })
                    .collect();
                match (abs, ts.iter().all(Option::is_some)) {
                    (Some(a), true) => contexts.push((a, ts.into_iter().flatten().collect())),
                    _ => ok = false,
                }
            }
            if contexts.len() > 127 {
                rep.error(span(cv), "at most 127 contexts (odd ids 1 to 253)");
                ok = false;
            }
        }
    }
    let user_identity = match get(t, "user_identity") {
        None => false,
        Some(v) => {
            let b = as_bool(rep, v, "`user_identity`");
            ok &= b.is_some();
            b.unwrap_or(false)
        }
    };
    let command = match get(t, "command") {
        None => None,
        Some(cv) => {
            let field = as_str(rep, cv, "`command`")
                .and_then(|name| command_by_name(rep, name, span(cv), "`command`"));
            let sop_class = get(t, "sop_class").and_then(|sv| {
                let r = as_str(rep, sv, "`sop_class`")
                    .and_then(|s| resolve_uid(rep, s, span(sv), UidKind::SopClass, "`sop_class`"));
                ok &= r.is_some();
                r
            });
            let move_destination = get(t, "move_destination").and_then(|mv| {
                let r = as_str(rep, mv, "`move_destination`")
                    .and_then(|s| ae(rep, s, span(mv), "`move_destination`"));
                ok &= r.is_some();
                r
            });
            let priority = get(t, "priority").and_then(|pv| {
                let r =
                    as_str(rep, pv, "`priority`").and_then(|s| priority_by_name(rep, s, span(pv)));
                ok &= r.is_some();
                r
            });
            ok &= field.is_some();
            field.map(|field| DicomTestCommand {
                field,
                sop_class,
                move_destination,
                priority,
            })
        }
    };
    if command.is_none() {
        for key in ["sop_class", "move_destination", "priority"] {
            if let Some(kv) = get(t, key) {
                rep.error_hint(
                    span(kv),
                    format!("`{key}` describes a command, and the test has no `command`"),
                    "add `command = \"C-MOVE\"` (or the service the test sends)",
                );
                ok = false;
            }
        }
    }
    if command.is_none() && expect == Some(DicomExpect::Refuse) {
        rep.error_hint(
            sp.clone(),
            "only a command can be refused, and the test has no `command`",
            "add `command = \"C-STORE\"`, or expect \"reject\" for the association",
        );
        ok = false;
    }
    let reason = match get(test, "reason") {
        None => None,
        Some(rv) => {
            let r = as_u16(rep, rv, "`reason`").and_then(|r| match u8::try_from(r) {
                Ok(r) => Some(r),
                Err(_) => {
                    rep.error(span(rv), "`reason` is an A-ASSOCIATE-RJ reason, 1 to 255");
                    None
                }
            });
            if expect != Some(DicomExpect::Reject) {
                rep.error_hint(
                    span(rv),
                    "`reason` is the A-ASSOCIATE-RJ reason",
                    "use it with `expect = \"reject\"`",
                );
                ok = false;
            }
            ok &= r.is_some();
            r
        }
    };
    let status = match get(test, "status") {
        None => None,
        Some(sv) => {
            let s = as_u16(rep, sv, "`status`");
            if expect != Some(DicomExpect::Refuse) {
                rep.error_hint(
                    span(sv),
                    "`status` is the DIMSE failure status of a refused command",
                    "use it with `expect = \"refuse\"`",
                );
                ok = false;
            }
            ok &= s.is_some();
            s
        }
    };
    match (ok, calling_ae, called_ae, expect) {
        (true, Some(calling_ae), Some(called_ae), Some(expect)) => Some(DicomTest {
            calling_ae,
            called_ae,
            contexts,
            user_identity,
            command,
            expect,
            reason,
            status,
        }),
        _ => None,
    }
}
