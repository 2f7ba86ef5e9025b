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

mod cases;
mod condition;
mod dicom;
mod drug;
mod pump_policy;
mod rule;
mod sender;

use cases::*;
pub(crate) use condition::compile_condition;
use condition::*;
use drug::*;
use pump_policy::*;
use rule::*;
use sender::*;
pub(crate) use sender::{SenderConds, read_sender};

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

/// SHA-256 over the sources' names and texts, length-prefixed so no two sets collide by
/// shifting bytes between files.
fn digest(sources: &[RuleSource]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in sources {
        for part in [s.name.as_bytes(), s.text.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    hex::encode(h.finalize())
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

const TOP_KEYS: &[&str] = &[
    "policy",
    "rule",
    "drug",
    "test",
    "pump",
    "dicom",
    "include",
    "device",
    "segmentation",
    "flow",
];
const POLICY_KEYS: &[&str] = &[
    "name",
    "description",
    "default",
    "unknown_drug",
    "max_order_age",
    "local_time_offset",
];
/// Compile a set of rule files that together form one policy (one route's rules).
pub fn compile(sources: &[RuleSource]) -> Result<RuleSet, Diagnostics> {
    let mut set = RuleSet {
        digest: digest(sources),
        ..RuleSet::default()
    };
    let mut all = Vec::new();
    let mut rule_ids: HashMap<String, (Arc<str>, usize)> = HashMap::new();
    let mut drug_ids: HashMap<String, (Arc<str>, usize)> = HashMap::new();
    let mut default_from: Option<(Action, Arc<str>)> = None;
    let mut uses_library = Vec::new();
    let mut devices = crate::compile_inventory::InventoryBuilder::default();
    let mut flow_ids: HashMap<String, (Arc<str>, usize)> = HashMap::new();
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
                dicom::compile_dicom_policy(&mut rep, t, &mut set.dicom);
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
                if let Some(rule) = compile_rule(&mut rep, source, t, &sp, &mut devices) {
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
        if let Some(v) = get(doc, "device") {
            for (t, sp) in tables(&mut rep, v, "[[device]]") {
                devices.device(&mut rep, &source.text, t, &sp);
            }
        }
        if let Some(v) = get(doc, "segmentation") {
            if let Some(t) = as_table(&mut rep, v, "[segmentation]") {
                crate::compile_segmentation::compile_segmentation(
                    &mut rep,
                    t,
                    &mut set.segmentation,
                );
            }
        }
        if let Some(v) = get(doc, "flow") {
            for (t, sp) in tables(&mut rep, v, "[[flow]]") {
                if let Some(DeValue::String(id)) = get(t, "id").map(|v| v.get_ref()) {
                    let line = line_col(&source.text, sp.start).0;
                    if let Some((file, first)) = flow_ids.get(id.as_ref()) {
                        rep.error_hint(
                            sp.clone(),
                            format!("duplicate flow id `{id}`"),
                            format!("first defined at {file}:{first}; flow ids must be unique"),
                        );
                    } else {
                        flow_ids.insert(id.to_string(), (source.name.clone(), line));
                    }
                }
                let flow = crate::compile_segmentation::compile_flow(
                    &mut rep,
                    &source.text,
                    &mut devices,
                    t,
                    &sp,
                );
                set.segmentation.flows.extend(flow);
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
    let (inventory, mut device_problems) = devices.finish();
    all.append(&mut device_problems);
    if let Some(message) =
        crate::compile_segmentation::check_flow_count(set.segmentation.flows.len())
    {
        all.push(Diagnostic {
            file: Arc::from("(rule set)"),
            line: 1,
            column: 1,
            message,
            hint: None,
        });
    }
    set.inventory = Arc::new(inventory);
    for rule in &mut set.rules {
        if let Some(d) = &mut rule.device {
            d.inventory = set.inventory.clone();
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

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
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
