//! Compile rule files into a [`RuleSet`], reporting every problem at once with file, line and column.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use regex::bytes::RegexBuilder;
use toml::de::{DeTable, DeValue};
use wardgate_hl7::Path;

use crate::condition::{AddressCondition, TextCondition};
use crate::diag::{Diagnostic, Diagnostics, Reporter, line_col};
use crate::druglib::{CareAreaLimits, Drug, Limit, hl7_error};
use crate::ruleset::{MessageType, Policy, Protocol, Rule, RuleSet};
use crate::sender::{CertIdentity, Sender};
use crate::testcase::{RuleTest, TestMessage, to_segment_terminators};
use crate::toml_read::*;
use crate::units::{self, Unit};
use crate::verdict::{Action, Mode};

/// One rule file's text and where it came from.
#[derive(Debug, Clone)]
pub struct RuleSource {
    /// The name used in diagnostics (usually the path as given).
    pub name: Arc<str>,
    /// The TOML text.
    pub text: String,
    /// The folder test message paths are relative to; `None` for embedded rules.
    pub dir: Option<PathBuf>,
}

impl RuleSource {
    /// Read a rule file from disk.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(RuleSource {
            name: Arc::from(path.display().to_string()),
            text,
            dir: path.parent().map(|p| p.to_path_buf()),
        })
    }
}

/// Most rule files one set may pull in through `include`.
pub const MAX_RULE_FILES: usize = 64;

/// Read rule files and, transitively, the files their top-level `include = [...]` names
/// (relative to the including file), each file once. A malformed file is still returned, so
/// that [`compile`] reports its problems with positions.
pub fn load_rule_files(paths: &[PathBuf]) -> std::io::Result<Vec<RuleSource>> {
    let mut out: Vec<RuleSource> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut queue: std::collections::VecDeque<PathBuf> = paths.iter().cloned().collect();
    while let Some(path) = queue.pop_front() {
        let canonical = std::fs::canonicalize(&path)?;
        if seen.contains(&canonical) {
            continue;
        }
        if seen.len() >= MAX_RULE_FILES {
            return Err(std::io::Error::other(format!(
                "more than {MAX_RULE_FILES} rule files (include loop?)"
            )));
        }
        seen.push(canonical);
        let source = RuleSource::from_file(&path)?;
        if let Ok(doc) = DeTable::parse(&source.text) {
            if let Some(DeValue::Array(items)) = get(doc.get_ref(), "include").map(|v| v.get_ref())
            {
                for item in items.iter() {
                    if let DeValue::String(p) = item.get_ref() {
                        let p = PathBuf::from(p.as_ref());
                        queue.push_back(match &source.dir {
                            Some(dir) if p.is_relative() => dir.join(p),
                            _ => p,
                        });
                    }
                }
            }
        }
        out.push(source);
    }
    Ok(out)
}

/// Largest number of rules, drugs or tests one rule set may hold.
pub const MAX_ITEMS: usize = 10_000;
/// Longest regular expression accepted in `matches` (bytes of compiled program).
pub const MAX_REGEX_SIZE: usize = 1 << 20;

const TOP_KEYS: &[&str] = &["policy", "rule", "drug", "test", "pump", "dicom", "include"];
const POLICY_KEYS: &[&str] = &[
    "name",
    "description",
    "default",
    "unknown_drug",
    "max_order_age",
    "local_time_offset",
];
const RULE_KEYS: &[&str] = &[
    "id",
    "description",
    "protocol",
    "action",
    "mode",
    "message",
    "sender",
    "field",
    "drug_library",
    "hl7_error",
    "application_code",
    "command",
    "pump",
    "dicom",
    "refuse",
    "status",
    "reason",
];
const RULE_PUMP_KEYS: &[&str] = &["devices", "channels"];
const PUMP_KEYS: &[&str] = &[
    "max_rate_factor",
    "max_rate_step",
    "rate_change",
    "max_changes",
    "change_window",
    "approved_drug_libraries",
    "approved_firmware",
    "config_keys",
];
const SENDER_KEYS: &[&str] = &[
    "cert_cn",
    "cert_san",
    "address",
    "sending_application",
    "sending_facility",
];
const CONDITION_KEYS: &[&str] = &[
    "equals",
    "not_equals",
    "one_of",
    "not_one_of",
    "matches",
    "exists",
    "min",
    "max",
];
const DRUG_KEYS: &[&str] = &["id", "description", "codes", "names", "limits"];
const LIMITS_KEYS: &[&str] = &["care_areas", "rate", "dose_rate", "vtbi", "bolus"];
const LIMIT_KEYS: &[&str] = &["unit", "hard_min", "soft_min", "soft_max", "hard_max"];
const TEST_KEYS: &[&str] = &[
    "name",
    "message",
    "message_text",
    "frames",
    "sender",
    "expect",
    "rule",
    "code",
    "alert",
    "now",
    "dicom",
    "reason",
    "status",
];
const TEST_SENDER_KEYS: &[&str] = &["address", "cert_cn", "cert_san"];

/// Compile a set of rule files that together form one policy (one route's rules).
pub fn compile(sources: &[RuleSource]) -> Result<RuleSet, Diagnostics> {
    let mut set = RuleSet::default();
    let mut all = Vec::new();
    let mut rule_ids: HashMap<String, (Arc<str>, usize)> = HashMap::new();
    let mut drug_ids: HashMap<String, (Arc<str>, usize)> = HashMap::new();
    let mut default_from: Option<(Action, Arc<str>)> = None;
    let mut uses_library = Vec::new();
    for source in sources {
        let mut rep = Reporter::new(source.name.clone(), &source.text);
        let doc = match DeTable::parse(&source.text) {
            Ok(doc) => doc,
            Err(e) => {
                let (line, column) = line_col(&source.text, e.span().map_or(0, |s| s.start));
                all.push(Diagnostic {
                    file: source.name.clone(),
                    line,
                    column,
                    message: format!("not valid TOML: {}", e.message().trim()),
                    hint: None,
                });
                continue;
            }
        };
        let doc = doc.get_ref();
        check_keys(&mut rep, doc, TOP_KEYS, "a rule file");
        if let Some(p) = get(doc, "policy") {
            if let Some(t) = as_table(&mut rep, p, "[policy]") {
                compile_policy(&mut rep, t, &mut set, &mut default_from);
            }
        }
        if let Some(v) = get(doc, "include") {
            // Read by `load_rule_files`; here only its shape is checked.
            string_list(&mut rep, v, "`include`");
        }
        if let Some(d) = get(doc, "dicom") {
            if let Some(t) = as_table(&mut rep, d, "[dicom]") {
                crate::compile_dicom::compile_dicom_policy(&mut rep, t, &mut set.dicom);
            }
        }
        if let Some(p) = get(doc, "pump") {
            if let Some(t) = as_table(&mut rep, p, "[pump]") {
                compile_pump_policy(&mut rep, t, &mut set.pump);
            }
        }
        if let Some(rules) = get(doc, "rule") {
            for (t, sp) in tables(&mut rep, rules, "[[rule]]") {
                // Duplicates are found from the raw id, so a rule with other errors still counts.
                if let Some(DeValue::String(id)) = get(t, "id").map(|v| v.get_ref()) {
                    let line = line_col(&source.text, sp.start).0;
                    if let Some((file, first)) = rule_ids.get(id.as_ref()) {
                        rep.error_hint(
                            sp.clone(),
                            format!("duplicate rule id `{id}`"),
                            format!("first defined at {file}:{first}; rule ids must be unique"),
                        );
                    } else {
                        rule_ids.insert(id.to_string(), (source.name.clone(), line));
                    }
                }
                if let Some(rule) = compile_rule(&mut rep, source, t, &sp) {
                    let line = rule.origin.1;
                    if rule.drug_library {
                        uses_library.push((source.name.clone(), line));
                    }
                    set.rules.push(rule);
                }
            }
        }
        if let Some(drugs) = get(doc, "drug") {
            for (t, sp) in tables(&mut rep, drugs, "[[drug]]") {
                if let Some(drug) = compile_drug(&mut rep, t, &sp) {
                    let line = line_col(&source.text, sp.start).0;
                    if let Some((file, first)) = drug_ids.get(&drug.id) {
                        rep.error_hint(
                            sp.clone(),
                            format!("duplicate drug id `{}`", drug.id),
                            format!("first defined at {file}:{first}"),
                        );
                    } else {
                        drug_ids.insert(drug.id.clone(), (source.name.clone(), line));
                    }
                    set.library.drugs.push(drug);
                }
            }
        }
        if let Some(tests) = get(doc, "test") {
            for (t, sp) in tables(&mut rep, tests, "[[test]]") {
                if let Some(test) = compile_test(&mut rep, source, t, &sp) {
                    set.tests.push(test);
                }
            }
        }
        all.append(&mut rep.out);
    }
    for (what, n) in [
        ("rules", set.rules.len()),
        ("drugs", set.library.drugs.len()),
        ("tests", set.tests.len()),
    ] {
        if n > MAX_ITEMS {
            all.push(Diagnostic {
                file: Arc::from("(rule set)"),
                line: 1,
                column: 1,
                message: format!("{n} {what} is more than the limit of {MAX_ITEMS}"),
                hint: None,
            });
        }
    }
    let registry_missing = set.dicom.calling_ae.is_empty() || set.dicom.called_ae.is_empty();
    if let (true, Some(rule)) = (
        registry_missing,
        set.rules.iter().find(|r| r.protocol == Protocol::Dicom),
    ) {
        all.push(Diagnostic {
            file: rule.origin.0.clone(),
            line: rule.origin.1,
            column: 1,
            message: "DICOM rules need the AE titles they protect: [dicom] with `called_ae` and at least one [[dicom.calling_ae]]".into(),
            hint: Some("add `[dicom]` `called_ae = [\"PACS\"]` and `[[dicom.calling_ae]]` `title = \"CT01\"` `address = [\"10.30.1.0/24\"]` to one of the rule files".into()),
        });
    }
    if set.library.drugs.is_empty() {
        for (file, line) in uses_library {
            all.push(Diagnostic {
                file,
                line,
                column: 1,
                message: "rule uses the drug library, but no [[drug]] is defined in this rule set"
                    .into(),
                hint: Some("add [[drug]] entries to one of the rule files".into()),
            });
        }
    }
    if all.is_empty() {
        Ok(set)
    } else {
        Err(Diagnostics(all))
    }
}

fn action(rep: &mut Reporter<'_>, v: &Val<'_>, what: &str) -> Option<Action> {
    match as_str(rep, v, what)? {
        "allow" => Some(Action::Allow),
        "deny" => Some(Action::Deny),
        other => {
            rep.error_hint(
                span(v),
                format!("{what} cannot be `{other}`"),
                "use \"allow\" or \"deny\"",
            );
            None
        }
    }
}

fn compile_policy(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    set: &mut RuleSet,
    default_from: &mut Option<(Action, Arc<str>)>,
) {
    check_keys(rep, t, POLICY_KEYS, "[policy]");
    if let Some(name) = get(t, "name").and_then(|v| as_str(rep, v, "`name`")) {
        set.policy.name = name.to_owned();
    }
    if let Some(v) = get(t, "description") {
        as_str(rep, v, "`description`");
    }
    if let Some(v) = get(t, "default") {
        if let Some(a) = action(rep, v, "`default`") {
            match default_from {
                Some((prev, file)) if *prev != a => rep.error_hint(
                    span(v),
                    format!(
                        "`default = \"{}\"` contradicts `default = \"{}\"` in {file}",
                        a.as_str(),
                        prev.as_str()
                    ),
                    "the files of one rule set must agree on the default verdict",
                ),
                _ => *default_from = Some((a, rep.file().clone())),
            }
            set.policy = Policy {
                default: a,
                ..std::mem::take(&mut set.policy)
            };
        }
    }
    if let Some(v) = get(t, "unknown_drug") {
        if let Some(a) = action(rep, v, "`unknown_drug`") {
            set.library.unknown_drug = Some(a);
        }
    }
    if let Some(v) = get(t, "max_order_age") {
        match as_str(rep, v, "`max_order_age`").map(|s| (s, parse_duration_ms(s))) {
            Some((_, Some(ms))) if ms > 0 => set.policy.max_order_age_ms = Some(ms),
            Some((s, _)) => rep.error_hint(
                span(v),
                format!("`{s}` is not a duration"),
                "write e.g. \"30m\"",
            ),
            None => {}
        }
    }
    if let Some(v) = get(t, "local_time_offset") {
        match as_str(rep, v, "`local_time_offset`").map(|s| (s, parse_offset(s))) {
            Some((_, Some(m))) => set.policy.local_offset_minutes = m,
            Some((s, None)) => rep.error_hint(
                span(v),
                format!("`{s}` is not a UTC offset"),
                "write e.g. \"-05:00\" or \"+01:00\"",
            ),
            None => {}
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

fn compile_rule(
    rep: &mut Reporter<'_>,
    source: &RuleSource,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<Rule> {
    check_keys(rep, t, RULE_KEYS, "[[rule]]");
    let mut ok = true;
    let id = required_str(rep, t, sp, "id", "[[rule]]");
    if let Some((id, id_span)) = &id {
        if !valid_id(id) {
            rep.error_hint(
                id_span.clone(),
                format!("rule id `{id}` is not a valid id"),
                "use letters, digits, '-', '_', '.', at most 64 characters",
            );
            ok = false;
        }
    }
    let description = required_str(rep, t, sp, "description", "[[rule]]");
    let action_v = match get(t, "action") {
        Some(v) => action(rep, v, "`action`"),
        None => {
            rep.error_hint(
                sp.clone(),
                "[[rule]] has no `action`",
                "add `action = \"allow\"` or `action = \"deny\"`",
            );
            None
        }
    };
    let protocol = match get(t, "protocol") {
        None => Some(Protocol::Hl7),
        Some(v) => match as_str(rep, v, "`protocol`") {
            Some("hl7") => Some(Protocol::Hl7),
            Some("pump") => Some(Protocol::Pump),
            Some("dicom") => Some(Protocol::Dicom),
            Some(other) => {
                rep.error_hint(
                    span(v),
                    format!("unknown protocol `{other}`"),
                    "supported: \"hl7\", \"pump\", \"dicom\"",
                );
                None
            }
            None => None,
        },
    };
    let mode = match get(t, "mode") {
        None => Some(Mode::Enforce),
        Some(v) => match as_str(rep, v, "`mode`") {
            Some("enforce") => Some(Mode::Enforce),
            Some("audit") => Some(Mode::Audit),
            Some(other) => {
                rep.error_hint(
                    span(v),
                    format!("unknown mode `{other}`"),
                    "use \"enforce\" or \"audit\"",
                );
                None
            }
            None => None,
        },
    };
    let mut messages = Vec::new();
    if let Some(v) = get(t, "message") {
        for (m, m_span) in string_list(rep, v, "`message`").unwrap_or_default() {
            match parse_message_type(m) {
                Some(mt) => messages.push(mt),
                None => {
                    rep.error_hint(
                        m_span,
                        format!("`{m}` is not a message type"),
                        "write MSH-9.1^MSH-9.2, e.g. \"RGV^O15\" or \"ADT^*\"",
                    );
                    ok = false;
                }
            }
        }
    }
    let mut rule_sender = SenderConds::default();
    if let Some(v) = get(t, "sender") {
        if let Some(st) = as_table(rep, v, "[rule.sender]") {
            ok &= compile_sender(rep, st, &mut rule_sender);
        }
    }
    let mut fields = Vec::new();
    if let Some(v) = get(t, "field") {
        for (ft, fsp) in tables(rep, v, "[[rule.field]]") {
            check_keys(
                rep,
                ft,
                &[CONDITION_KEYS, &["path"]].concat(),
                "[[rule.field]]",
            );
            let Some((path_text, path_span)) =
                required_str(rep, ft, &fsp, "path", "[[rule.field]]")
            else {
                ok = false;
                continue;
            };
            let path = match Path::parse(path_text) {
                Ok(p) => Some(p),
                Err(e) => {
                    rep.error_hint(
                        path_span,
                        format!("`{path_text}` is not a field path: {e}"),
                        "write SEG-field, e.g. \"MSH-9.1\", \"RXG-15\", \"OBX[2]-18.1\", \"PID-3(2).1\"",
                    );
                    None
                }
            };
            let cond = compile_condition(rep, ft, &fsp, false, "[[rule.field]]");
            match (path, cond) {
                (Some(p), Some(c)) => fields.push((p, c)),
                _ => ok = false,
            }
        }
    }
    let is_pump = protocol == Some(Protocol::Pump);
    let is_dicom = protocol == Some(Protocol::Dicom);
    for key in ["message", "field"] {
        if let (true, Some(v)) = (is_pump || is_dicom, get(t, key)) {
            rep.error_hint(
                span(v),
                format!("`{key}` applies to HL7 rules"),
                if is_pump {
                    "pump rules name `command`s"
                } else {
                    "DICOM rules put their conditions in [rule.dicom]"
                },
            );
            ok = false;
        }
    }
    if is_dicom {
        for key in [
            "command",
            "pump",
            "drug_library",
            "hl7_error",
            "application_code",
        ] {
            if let Some(v) = get(t, key) {
                let hint = if key == "command" {
                    "DICOM rules name DIMSE services in [rule.dicom] `commands`, e.g. commands = [\"C-STORE\"]"
                } else {
                    "DICOM rules refuse with `refuse` (and `status` or `reason`)"
                };
                rep.error_hint(
                    span(v),
                    format!("`{key}` does not apply to DICOM rules"),
                    hint,
                );
                ok = false;
            }
        }
    }
    let dicom = crate::compile_dicom::compile_rule_dicom(rep, t, sp, is_dicom, action_v);
    ok &= dicom.is_some();
    if let (true, Some(v)) = (is_pump || is_dicom, get(t, "sender")) {
        if let DeValue::Table(st) = v.get_ref() {
            for key in ["sending_application", "sending_facility"] {
                if let Some(k) = get(st, key) {
                    rep.error(
                        span(k),
                        format!(
                            "`sender.{key}` is an HL7 field; {} rules have none",
                            if is_pump { "pump" } else { "DICOM" }
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    let mut commands = Vec::new();
    if let (false, Some(v)) = (is_dicom, get(t, "command")) {
        if !is_pump {
            rep.error_hint(
                span(v),
                "`command` applies to pump rules",
                "add `protocol = \"pump\"`",
            );
            ok = false;
        }
        for (name, n_span) in string_list(rep, v, "`command`").unwrap_or_default() {
            match crate::pump::command_by_name(name) {
                Some(c) => commands.push(c),
                None => {
                    let names: Vec<&str> = crate::pump::ALL_COMMANDS
                        .iter()
                        .filter_map(|c| c.name())
                        .collect();
                    let hint = match crate::diag::suggest(name, &names) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("commands: {}", names.join(", ")),
                    };
                    rep.error_hint(n_span, format!("`{name}` is not a pump command"), hint);
                    ok = false;
                }
            }
        }
    }
    let (mut devices, mut channels) = (None, None);
    if let Some(v) = get(t, "pump") {
        if !is_pump {
            rep.error_hint(
                span(v),
                "[rule.pump] applies to pump rules",
                "add `protocol = \"pump\"`",
            );
            ok = false;
        }
        if let Some(pt) = as_table(rep, v, "[rule.pump]") {
            check_keys(rep, pt, RULE_PUMP_KEYS, "[rule.pump]");
            if let Some(d) = get(pt, "devices") {
                devices = match d.get_ref() {
                    DeValue::Table(ct) => {
                        compile_condition(rep, ct, &span(d), false, "`pump.devices`")
                    }
                    _ => string_list(rep, d, "`pump.devices`").map(|l| {
                        TextCondition::one_of(
                            l.into_iter().map(|(s, _)| s.as_bytes().to_vec()).collect(),
                            false,
                        )
                    }),
                };
                ok &= devices.is_some();
            }
            if let Some(c) = get(pt, "channels") {
                let mut list = Vec::new();
                for item in as_array(rep, c, "`pump.channels`")
                    .map(|a| a.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    match as_number(rep, item, "a channel") {
                        Some(n) if n.fract() == 0.0 && (0.0..=8.0).contains(&n) => {
                            list.push(n as u8)
                        }
                        Some(_) => {
                            rep.error(span(item), "channels are 0 (the device) to 8");
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                channels = Some(list);
            }
        }
    }
    let drug_library = match get(t, "drug_library") {
        None => false,
        Some(v) => as_bool(rep, v, "`drug_library`").unwrap_or(false),
    };
    let hl7_error = match get(t, "hl7_error") {
        None => Some(hl7_error::APPLICATION_ERROR),
        Some(v) => as_u16(rep, v, "`hl7_error`").and_then(|c| {
            if (100..=999).contains(&c) {
                Some(c)
            } else {
                rep.error_hint(
                    span(v),
                    format!("`hl7_error = {c}` is not an HL7 table 0357 code"),
                    "use 100-999, e.g. 207 (application internal error)",
                );
                None
            }
        }),
    };
    let application_code = match get(t, "application_code") {
        None => Some(None),
        Some(v) => as_u16(rep, v, "`application_code`").map(Some),
    };
    if drug_library && action_v == Some(Action::Deny) {
        rep.error_hint(
            sp.clone(),
            "`drug_library = true` on a deny rule has no effect",
            "the drug library refines allow rules; remove it or use action = \"allow\"",
        );
        ok = false;
    }
    let line = line_col(&source.text, sp.start).0;
    match (
        ok,
        id,
        description,
        action_v,
        protocol,
        mode,
        hl7_error,
        application_code,
    ) {
        (
            true,
            Some((id, _)),
            Some((description, _)),
            Some(action),
            Some(protocol),
            Some(mode),
            Some(hl7_error),
            Some(application_code),
        ) => Some(Rule {
            id: Arc::from(id),
            description: description.to_owned(),
            protocol,
            action,
            mode,
            origin: (source.name.clone(), line),
            messages,
            cert_cn: rule_sender.cert_cn,
            cert_san: rule_sender.cert_san,
            address: rule_sender.address,
            sending_application: rule_sender.sending_application,
            sending_facility: rule_sender.sending_facility,
            fields,
            commands,
            devices,
            channels,
            dicom: dicom.flatten(),
            drug_library,
            hl7_error,
            application_code,
        }),
        _ => None,
    }
}

/// `+HH:MM` / `-HH:MM` to minutes east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.trim().as_bytes().first()? {
        b'+' => (1, text.trim().get(1..)?),
        b'-' => (-1, text.trim().get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m <= 59).then_some(sign * (h * 60 + m))
}

fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
}

fn compile_pump_policy(rep: &mut Reporter<'_>, t: &DeTable<'_>, out: &mut crate::pump::PumpPolicy) {
    check_keys(rep, t, PUMP_KEYS, "[pump]");
    if let Some(v) = get(t, "max_rate_factor") {
        match as_number(rep, v, "`max_rate_factor`") {
            Some(f) if f > 1.0 => out.max_rate_factor = Some(f),
            Some(_) => rep.error_hint(
                span(v),
                "`max_rate_factor` must be greater than 1",
                "e.g. 2 refuses more than doubling the rate",
            ),
            None => {}
        }
    }
    if let Some(v) = get(t, "max_rate_step") {
        match as_number(rep, v, "`max_rate_step`") {
            Some(f) if f > 0.0 => out.max_rate_step = Some(f),
            Some(_) => rep.error(span(v), "`max_rate_step` (mL/h) must be positive"),
            None => {}
        }
    }
    if let Some(v) = get(t, "rate_change") {
        match as_str(rep, v, "`rate_change`") {
            Some("deny") => out.rate_change_action = Some(Action::Deny),
            Some("alert") => out.rate_change_action = Some(Action::Allow),
            Some(other) => rep.error_hint(
                span(v),
                format!("`rate_change` cannot be `{other}`"),
                "use \"deny\" or \"alert\"",
            ),
            None => {}
        }
    }
    if let Some(v) = get(t, "max_changes") {
        match as_number(rep, v, "`max_changes`") {
            Some(n)
                if n.fract() == 0.0
                    && (1.0..=crate::pump::MAX_CHANGE_HISTORY as f64).contains(&n) =>
            {
                out.max_changes = Some(n as usize)
            }
            Some(_) => rep.error(
                span(v),
                format!(
                    "`max_changes` must be a whole number from 1 to {}",
                    crate::pump::MAX_CHANGE_HISTORY
                ),
            ),
            None => {}
        }
    }
    out.change_window_ms = 60_000;
    if let Some(v) = get(t, "change_window") {
        match as_str(rep, v, "`change_window`").map(|s| (s, parse_duration_ms(s))) {
            Some((_, Some(ms))) if ms > 0 => out.change_window_ms = ms,
            Some((s, _)) => rep.error_hint(
                span(v),
                format!("`{s}` is not a duration"),
                "write e.g. \"1m\", \"30s\"",
            ),
            None => {}
        }
    }
    for (key, slot) in [
        ("approved_drug_libraries", &mut out.approved_drug_libraries),
        ("approved_firmware", &mut out.approved_firmware),
    ] {
        let Some(v) = get(t, key) else { continue };
        // An empty list is meaningful here: nothing is approved.
        if matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()) {
            continue;
        }
        for (text, s) in string_list(rep, v, &format!("`{key}`")).unwrap_or_default() {
            let mut digest = [0u8; 32];
            match hex::decode_to_slice(text.trim(), &mut digest) {
                Ok(()) => slot.push(digest),
                Err(_) => rep.error_hint(
                    s,
                    format!("`{text}` is not a SHA-256 digest"),
                    "64 hexadecimal digits",
                ),
            }
        }
    }
    if let Some(v) = get(t, "config_keys") {
        out.config_keys = string_list(rep, v, "`config_keys`")
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _)| s.to_owned())
            .collect();
    }
}

fn parse_message_type(m: &str) -> Option<MessageType> {
    let (code, trigger) = match m.split_once('^') {
        Some((c, t)) => (c, Some(t)),
        None => (m, None),
    };
    let token = |s: &str| {
        !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if !token(code) {
        return None;
    }
    let trigger = match trigger {
        None | Some("*") => None,
        Some(t) if token(t) => Some(t.to_owned()),
        Some(_) => return None,
    };
    Some(MessageType {
        code: code.to_owned(),
        trigger,
    })
}

/// Sender conditions as compiled from a table.
#[derive(Default)]
pub(crate) struct SenderConds {
    pub(crate) cert_cn: Option<TextCondition>,
    pub(crate) cert_san: Option<TextCondition>,
    pub(crate) address: Option<AddressCondition>,
    pub(crate) sending_application: Option<TextCondition>,
    pub(crate) sending_facility: Option<TextCondition>,
}

fn compile_sender(rep: &mut Reporter<'_>, t: &DeTable<'_>, out: &mut SenderConds) -> bool {
    check_keys(rep, t, SENDER_KEYS, "[rule.sender]");
    read_sender(rep, t, out, "sender")
}

/// The sender keys of a table (unknown keys are the caller's to check); `prefix` names the
/// table in messages (`sender.address`).
pub(crate) fn read_sender(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    out: &mut SenderConds,
    prefix: &str,
) -> bool {
    let mut ok = true;
    for (key, ignore_case) in [
        ("cert_cn", true),
        ("cert_san", true),
        ("sending_application", false),
        ("sending_facility", false),
    ] {
        let Some(v) = get(t, key) else { continue };
        let what = format!("`{prefix}.{key}`");
        let cond = match v.get_ref() {
            DeValue::Table(ct) => compile_condition(rep, ct, &span(v), ignore_case, &what),
            _ => string_list(rep, v, &what).map(|list| {
                TextCondition::one_of(
                    list.into_iter()
                        .map(|(s, _)| s.as_bytes().to_vec())
                        .collect(),
                    ignore_case,
                )
            }),
        };
        let Some(cond) = cond else {
            ok = false;
            continue;
        };
        let slot = match key {
            "cert_cn" => &mut out.cert_cn,
            "cert_san" => &mut out.cert_san,
            "sending_application" => &mut out.sending_application,
            _ => &mut out.sending_facility,
        };
        *slot = Some(cond);
    }
    if let Some(v) = get(t, "address") {
        let mut cond = AddressCondition::default();
        let (pos, neg) = match v.get_ref() {
            DeValue::Table(at) => {
                check_keys(
                    rep,
                    at,
                    &["one_of", "not_one_of"],
                    &format!("`{prefix}.address`"),
                );
                (get(at, "one_of"), get(at, "not_one_of"))
            }
            _ => (Some(v), None),
        };
        for (src, slot) in [(pos, &mut cond.one_of), (neg, &mut cond.not_one_of)] {
            let Some(src) = src else { continue };
            let mut nets = Vec::new();
            for (text, s) in
                string_list(rep, src, &format!("`{prefix}.address`")).unwrap_or_default()
            {
                match parse_net(text) {
                    Some(n) => nets.push(n),
                    None => {
                        rep.error_hint(
                            s,
                            format!("`{text}` is not an IP address or CIDR network"),
                            "write e.g. \"10.20.0.0/16\" or \"10.20.1.5\"",
                        );
                        ok = false;
                    }
                }
            }
            *slot = Some(nets);
        }
        if cond.one_of.is_none() && cond.not_one_of.is_none() {
            rep.error(
                span(v),
                format!("`{prefix}.address` needs `one_of` or `not_one_of`"),
            );
            ok = false;
        }
        out.address = Some(cond);
    }
    ok
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

pub(crate) fn compile_condition(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
    ignore_case: bool,
    what: &str,
) -> Option<TextCondition> {
    if what != "[[rule.field]]" {
        check_keys(rep, t, CONDITION_KEYS, what);
    }
    let mut ok = true;
    let mut c = TextCondition {
        ignore_case,
        ..TextCondition::default()
    };
    let mut any = false;
    if let Some(v) = get(t, "equals") {
        any = true;
        c.equals = as_str(rep, v, "`equals`").map(|s| s.as_bytes().to_vec());
        ok &= c.equals.is_some();
    }
    if let Some(v) = get(t, "not_equals") {
        any = true;
        c.not_equals = as_str(rep, v, "`not_equals`").map(|s| s.as_bytes().to_vec());
        ok &= c.not_equals.is_some();
    }
    for (key, slot) in [("one_of", &mut c.one_of), ("not_one_of", &mut c.not_one_of)] {
        if let Some(v) = get(t, key) {
            any = true;
            *slot = string_list(rep, v, &format!("`{key}`"))
                .map(|l| l.into_iter().map(|(s, _)| s.as_bytes().to_vec()).collect());
            ok &= slot.is_some();
        }
    }
    if let Some(v) = get(t, "matches") {
        any = true;
        if let Some(re) = as_str(rep, v, "`matches`") {
            // Anchored on both ends so `matches = "EGH"` cannot be misread as "contains EGH".
            match RegexBuilder::new(&format!("^(?:{re})$"))
                .size_limit(MAX_REGEX_SIZE)
                .build()
            {
                Ok(r) => c.matches = Some(r),
                Err(e) => {
                    rep.error(
                        span(v),
                        format!("`matches` is not a valid regular expression: {e}"),
                    );
                    ok = false;
                }
            }
        } else {
            ok = false;
        }
    }
    if let Some(v) = get(t, "exists") {
        any = true;
        c.exists = as_bool(rep, v, "`exists`");
        ok &= c.exists.is_some();
    }
    for (key, slot) in [("min", &mut c.min), ("max", &mut c.max)] {
        if let Some(v) = get(t, key) {
            any = true;
            *slot = as_number(rep, v, &format!("`{key}`"));
            ok &= slot.is_some();
        }
    }
    if let (Some(min), Some(max)) = (c.min, c.max) {
        if min > max {
            rep.error_hint(
                sp.clone(),
                format!("min {min} is greater than max {max}: nothing can match"),
                "swap them",
            );
            ok = false;
        }
    }
    if !any {
        rep.error_hint(
            sp.clone(),
            format!("{what} has no condition"),
            format!("add one of: {}", CONDITION_KEYS.join(", ")),
        );
        ok = false;
    }
    ok.then_some(c)
}

fn compile_drug(rep: &mut Reporter<'_>, t: &DeTable<'_>, sp: &Range<usize>) -> Option<Drug> {
    check_keys(rep, t, DRUG_KEYS, "[[drug]]");
    let mut ok = true;
    let id = required_str(rep, t, sp, "id", "[[drug]]");
    if let Some(v) = get(t, "description") {
        as_str(rep, v, "`description`");
    }
    let list = |rep: &mut Reporter<'_>, key: &str| -> Option<Vec<String>> {
        get(t, key).map(|v| {
            string_list(rep, v, &format!("`{key}`"))
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s.to_owned())
                .collect()
        })
    };
    let codes = list(rep, "codes").unwrap_or_default();
    let names = list(rep, "names").unwrap_or_default();
    if codes.is_empty() && names.is_empty() {
        rep.error_hint(
            sp.clone(),
            "[[drug]] has neither `codes` nor `names`: no order could ever match it",
            "add `codes = [\"...\"]` (RXG-4 identifiers) and/or `names = [\"...\"]`",
        );
        ok = false;
    }
    let mut limits = Vec::new();
    match get(t, "limits") {
        None => {
            rep.error_hint(
                sp.clone(),
                "[[drug]] has no [[drug.limits]]",
                "add [[drug.limits]] with care_areas and at least one of rate, dose_rate, vtbi, bolus",
            );
            ok = false;
        }
        Some(v) => {
            for (lt, lsp) in tables(rep, v, "[[drug.limits]]") {
                match compile_limits(rep, lt, &lsp) {
                    Some(l) => limits.push(l),
                    None => ok = false,
                }
            }
        }
    }
    match (ok, id) {
        (true, Some((id, _))) => Some(Drug {
            id: id.to_owned(),
            codes,
            names,
            limits,
        }),
        _ => None,
    }
}

fn compile_limits(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<CareAreaLimits> {
    check_keys(rep, t, LIMITS_KEYS, "[[drug.limits]]");
    let mut ok = true;
    let care_areas = match get(t, "care_areas") {
        Some(v) => string_list(rep, v, "`care_areas`")
            .map(|l| l.into_iter().map(|(s, _)| s.to_owned()).collect::<Vec<_>>()),
        None => {
            rep.error_hint(
                sp.clone(),
                "[[drug.limits]] has no `care_areas`",
                "add e.g. `care_areas = [\"ICU\"]` (PV1-3 point of care), or [\"*\"] for any",
            );
            None
        }
    };
    ok &= care_areas.is_some();
    type Check = fn(&Unit) -> bool;
    let slots: [(&str, Check, &str); 4] = [
        (
            "rate",
            Unit::is_volume_rate,
            "a volume rate such as \"mL/h\"",
        ),
        (
            "dose_rate",
            Unit::is_dose_rate,
            "a dose rate such as \"ug/kg/min\" or \"U/h\"",
        ),
        ("vtbi", Unit::is_volume, "a volume such as \"mL\""),
        ("bolus", Unit::is_dose, "a dose such as \"U\" or \"U/kg\""),
    ];
    let mut out: [Option<Limit>; 4] = [None, None, None, None];
    for (i, (key, fits, expected)) in slots.iter().enumerate() {
        let Some(v) = get(t, key) else { continue };
        let Some(lt) = as_table(rep, v, &format!("`{key}`")) else {
            ok = false;
            continue;
        };
        match compile_limit(rep, lt, &span(v), key, *fits, expected) {
            Some(l) => out[i] = Some(l),
            None => ok = false,
        }
    }
    if out.iter().all(Option::is_none) && ok {
        rep.error_hint(
            sp.clone(),
            "[[drug.limits]] sets no limit",
            "add at least one of rate, dose_rate, vtbi, bolus",
        );
        ok = false;
    }
    let [rate, dose_rate, vtbi, bolus] = out;
    match (ok, care_areas) {
        (true, Some(care_areas)) => Some(CareAreaLimits {
            care_areas,
            rate,
            dose_rate,
            vtbi,
            bolus,
        }),
        _ => None,
    }
}

fn compile_limit(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
    key: &str,
    fits: fn(&Unit) -> bool,
    expected: &str,
) -> Option<Limit> {
    check_keys(rep, t, LIMIT_KEYS, &format!("`{key}`"));
    let mut ok = true;
    let unit = match get(t, "unit") {
        None => {
            rep.error_hint(
                sp.clone(),
                format!("`{key}` has no `unit`"),
                format!("add `unit = ...`, {expected}"),
            );
            None
        }
        Some(v) => as_str(rep, v, "`unit`").and_then(|text| match units::parse_ucum(text) {
            Ok(u) if fits(&u) => Some((u, text.to_owned())),
            Ok(_) => {
                rep.error_hint(
                    span(v),
                    format!("`{text}` is not a unit for `{key}`"),
                    format!("`{key}` takes {expected}"),
                );
                None
            }
            Err(e) => {
                rep.error_hint(
                    span(v),
                    format!("{e}"),
                    "write UCUM, e.g. mL/h, mL, ug/kg/min, mg/h, U/kg/h, U, mmol/h",
                );
                None
            }
        }),
    };
    ok &= unit.is_some();
    let mut bounds: [Option<f64>; 4] = [None; 4];
    for (i, name) in ["hard_min", "soft_min", "soft_max", "hard_max"]
        .iter()
        .enumerate()
    {
        if let Some(v) = get(t, name) {
            match as_number(rep, v, &format!("`{name}`")) {
                Some(n) if n < 0.0 => {
                    rep.error(span(v), format!("`{name}` must not be negative"));
                    ok = false;
                }
                Some(n) => bounds[i] = Some(n),
                None => ok = false,
            }
        }
    }
    if bounds.iter().all(Option::is_none) && ok {
        rep.error_hint(
            sp.clone(),
            format!("`{key}` has no bound"),
            "add hard_max (and soft_max, soft_min, hard_min as needed)",
        );
        ok = false;
    }
    // Bounds must be ordered hard_min <= soft_min <= soft_max <= hard_max.
    let names = ["hard_min", "soft_min", "soft_max", "hard_max"];
    for i in 0..4 {
        for j in i + 1..4 {
            if let (Some(a), Some(b)) = (bounds[i], bounds[j]) {
                if a > b {
                    rep.error_hint(
                        sp.clone(),
                        format!("`{key}`: {} {a} is greater than {} {b}", names[i], names[j]),
                        "limits must satisfy hard_min <= soft_min <= soft_max <= hard_max",
                    );
                    ok = false;
                }
            }
        }
    }
    let [hard_min, soft_min, soft_max, hard_max] = bounds;
    match (ok, unit) {
        (true, Some((unit, unit_text))) => Some(Limit {
            unit,
            unit_text,
            hard_min,
            soft_min,
            soft_max,
            hard_max,
        }),
        _ => None,
    }
}

fn compile_test(
    rep: &mut Reporter<'_>,
    source: &RuleSource,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<RuleTest> {
    check_keys(rep, t, TEST_KEYS, "[[test]]");
    let mut ok = true;
    let name = required_str(rep, t, sp, "name", "[[test]]");
    let resolve = |p: &str| {
        let path = PathBuf::from(p);
        match &source.dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    };
    let dicom_v = get(t, "dicom");
    let dicom_expect = match (dicom_v, get(t, "expect")) {
        (Some(_), Some(e)) => crate::compile_dicom::dicom_expect(rep, e),
        _ => None,
    };
    if dicom_v.is_none() {
        for key in ["reason", "status"] {
            if let Some(v) = get(t, key) {
                rep.error_hint(
                    span(v),
                    format!("`{key}` applies to DICOM tests"),
                    "add `dicom = { calling_ae = ..., called_ae = ..., contexts = [...] }`",
                );
                ok = false;
            }
        }
    }
    let message = match (get(t, "message"), get(t, "message_text"), get(t, "frames")) {
        _ if dicom_v.is_some() => {
            let others = ["message", "message_text", "frames"]
                .iter()
                .any(|k| get(t, k).is_some());
            if others {
                rep.error(
                    sp.clone(),
                    "[[test]] takes one of `message`, `message_text`, `frames` and `dicom`",
                );
                None
            } else {
                dicom_v
                    .and_then(|v| crate::compile_dicom::compile_dicom_test(rep, t, v, dicom_expect))
                    .map(|d| TestMessage::Dicom(Box::new(d)))
            }
        }
        (Some(v), None, None) => as_str(rep, v, "`message`").map(|p| TestMessage::File(resolve(p))),
        (None, Some(v), None) => as_str(rep, v, "`message_text`")
            .map(|s| TestMessage::Inline(to_segment_terminators(s.trim_start().as_bytes()))),
        (None, None, Some(v)) => string_list(rep, v, "`frames`").map(|list| {
            TestMessage::PumpFrames(list.into_iter().map(|(p, _)| resolve(p)).collect())
        }),
        (None, None, None) => {
            rep.error_hint(
                sp.clone(),
                "[[test]] has no message",
                "add `message = \"path/to/fixture.hl7\"`, `message_text = \'\'\'MSH|...\'\'\'`, `frames = [\"pump-frame.wpp\"]` or `dicom = { ... }`",
            );
            None
        }
        _ => {
            rep.error(
                sp.clone(),
                "[[test]] takes one of `message`, `message_text` and `frames`",
            );
            None
        }
    };
    let mut sender = Sender {
        address: IpAddr::from([127, 0, 0, 1]),
        certificate: None,
    };
    if let Some(v) = get(t, "sender") {
        if let Some(st) = as_table(rep, v, "`sender`") {
            check_keys(rep, st, TEST_SENDER_KEYS, "a test's `sender`");
            if let Some(a) = get(st, "address") {
                match as_str(rep, a, "`address`").map(|s| (s, s.parse::<IpAddr>())) {
                    Some((_, Ok(ip))) => sender.address = ip,
                    Some((s, Err(_))) => {
                        rep.error(span(a), format!("`{s}` is not an IP address"));
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            let cn = get(st, "cert_cn").and_then(|v| as_str(rep, v, "`cert_cn`"));
            let sans = get(st, "cert_san").map(|v| {
                string_list(rep, v, "`cert_san`")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(s, _)| s.to_owned())
                    .collect::<Vec<_>>()
            });
            if cn.is_some() || sans.is_some() {
                sender.certificate = Some(CertIdentity {
                    common_name: cn.map(str::to_owned),
                    alt_names: sans.unwrap_or_default(),
                });
            }
        }
    }
    let expect = match get(t, "expect") {
        Some(_) if dicom_v.is_some() => dicom_expect.map(|e| match e {
            crate::testcase::DicomExpect::Allow => Action::Allow,
            _ => Action::Deny,
        }),
        Some(v) => action(rep, v, "`expect`"),
        None => {
            rep.error_hint(
                sp.clone(),
                "[[test]] has no `expect`",
                "add `expect = \"allow\"` or \"deny\"",
            );
            None
        }
    };
    let rule = get(t, "rule").and_then(|v| as_str(rep, v, "`rule`").map(str::to_owned));
    let code = match get(t, "code") {
        None => None,
        Some(v) => {
            let c = as_u16(rep, v, "`code`");
            ok &= c.is_some();
            c
        }
    };
    let alert = get(t, "alert").and_then(|v| as_bool(rep, v, "`alert`"));
    let now = get(t, "now").and_then(|v| as_str(rep, v, "`now`").map(str::to_owned));
    match (ok, name, message, expect) {
        (true, Some((name, _)), Some(message), Some(expect)) => Some(RuleTest {
            name: name.to_owned(),
            origin: (source.name.clone(), line_col(&source.text, sp.start).0),
            message,
            sender,
            expect,
            rule,
            code,
            alert,
            now,
        }),
        _ => None,
    }
}
