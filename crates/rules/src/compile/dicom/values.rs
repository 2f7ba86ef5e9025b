//! The DICOM values a rule file names: AE titles, UIDs by keyword or number, DIMSE services
//! and priorities, each checked with a hint.

use std::ops::Range;

use toml::de::DeValue;
use wardgate_dicom::uid::{self, UidKind};
use wardgate_dicom::{CommandField, Priority, ae_title};

use crate::compile::compile_condition;
use crate::condition::TextCondition;
use crate::diag::{Reporter, suggest};
use crate::toml_read::*;

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

/// A valid AE title (PS3.5 VR AE: 1-16 characters, no control characters or backslash).
pub(super) fn ae(
    rep: &mut Reporter<'_>,
    text: &str,
    s: Range<usize>,
    what: &str,
) -> Option<String> {
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

pub(super) fn command_by_name(
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

pub(super) fn priority_by_name(
    rep: &mut Reporter<'_>,
    name: &str,
    s: Range<usize>,
) -> Option<Priority> {
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
pub(super) fn ae_condition(
    rep: &mut Reporter<'_>,
    v: &Val<'_>,
    what: &str,
) -> Option<TextCondition> {
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
