//! What a rule author sees when a rule file is wrong: every problem at once, with line and column.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use wardgate_rules::{RuleSource, compile};

fn source(text: &str) -> RuleSource {
    RuleSource {
        name: Arc::from("test.toml"),
        text: text.to_owned(),
        dir: None,
    }
}

fn errors(text: &str) -> Vec<String> {
    match compile(&[source(text)]) {
        Ok(_) => panic!("expected compile errors"),
        Err(d) => d.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_problem_is_reported_at_once_with_position_and_hint() {
    let text = r#"
[[rule]]
id = "a"
description = "first"
acton = "allow"

[[rule]]
id = "b"
description = "bad path"
action = "deny"
[[rule.field]]
path = "RXG-0"
equals = "x"

[[rule]]
id = "a"
description = "duplicate"
action = "allow"

[[drug]]
id = "heparin"
codes = ["HEP100"]
[[drug.limits]]
care_areas = ["ICU"]
rate = { unit = "furlong/h", hard_max = 5 }
vtbi = { unit = "mL", soft_max = 600, hard_max = 500 }
"#;
    let errs = errors(text);
    let joined = errs.join("\n");
    assert!(
        joined.contains("test.toml:5:1: error: unknown key `acton` in [[rule]]"),
        "{joined}"
    );
    assert!(joined.contains("did you mean `action`?"), "{joined}");
    assert!(joined.contains("[[rule]] has no `action`"), "{joined}");
    assert!(
        joined.contains("test.toml:12:8: error: `RXG-0` is not a field path"),
        "{joined}"
    );
    assert!(joined.contains("duplicate rule id `a`"), "{joined}");
    assert!(joined.contains("first defined at test.toml:2"), "{joined}");
    assert!(joined.contains("unknown unit \"furlong/h\""), "{joined}");
    assert!(
        joined.contains("soft_max 600 is greater than hard_max 500"),
        "{joined}"
    );
    assert!(errs.len() >= 6, "{joined}");
}

#[test]
fn min_greater_than_max_is_an_error() {
    let errs = errors(
        r#"
[[rule]]
id = "r"
description = "d"
action = "allow"
[[rule.field]]
path = "RXG-15"
min = 10
max = 1
"#,
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("min 10 is greater than max 1")),
        "{errs:?}"
    );
}

#[test]
fn a_rate_limit_must_be_written_in_a_rate_unit() {
    let errs = errors(
        r#"
[[drug]]
id = "heparin"
codes = ["HEP100"]
[[drug.limits]]
care_areas = ["ICU"]
rate = { unit = "mg", hard_max = 5 }
"#,
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("`mg` is not a unit for `rate`")),
        "{errs:?}"
    );
}

#[test]
fn toml_syntax_errors_have_a_position() {
    let errs = errors("[[rule]\nid = 1\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("test.toml:1:"), "{errs:?}");
    assert!(errs[0].contains("not valid TOML"), "{errs:?}");
}

#[test]
fn contradicting_defaults_across_files_are_an_error() {
    let a = RuleSource {
        name: Arc::from("a.toml"),
        text: "[policy]\ndefault = \"deny\"\n".into(),
        dir: None,
    };
    let b = RuleSource {
        name: Arc::from("b.toml"),
        text: "[policy]\ndefault = \"allow\"\n".into(),
        dir: None,
    };
    let err = compile(&[a, b]).expect_err("defaults contradict");
    assert!(
        err.to_string()
            .contains("contradicts `default = \"deny\"` in a.toml"),
        "{err}"
    );
}

#[test]
fn regexes_are_anchored() {
    let set = compile(&[source(
        r#"
[policy]
default = "deny"
[[rule]]
id = "r"
description = "facility must be EGH-something"
action = "allow"
[[rule.field]]
path = "MSH-4"
matches = "EGH_[A-Z]+"
"#,
    )])
    .expect("compiles");
    let allowed = |facility: &str| {
        let msg = format!("MSH|^~\\&|APP|{facility}|GW|F|20261129||ADT^A01|1|P|2.5\r");
        let parsed =
            wardgate_hl7::Message::parse(msg.as_bytes(), &Default::default()).expect("parses");
        set.evaluate_hl7(
            &parsed,
            &wardgate_rules::Sender::from_address([127, 0, 0, 1].into()),
        )
        .forwards()
    };
    assert!(allowed("EGH_NORTH"));
    assert!(!allowed("XEGH_NORTH"));
    assert!(!allowed("EGH_NORTH2"));
}

#[test]
fn an_hl7_error_code_on_a_pump_rule_is_an_error() {
    let errs = errors(
        r#"
[[rule]]
id = "no-firmware"
description = "Firmware updates go through biomed only"
protocol = "pump"
command = ["FIRMWARE-UPDATE"]
action = "deny"
hl7_error = 201
"#,
    )
    .join("\n");
    assert!(
        errs.contains("test.toml:8:13: error: `hl7_error` does not apply to pump rules"),
        "{errs}"
    );
    assert!(
        errs.contains("`application_code` still names the refusal"),
        "{errs}"
    );
}
