//! Break-glass overrides: covered refusals are recorded, not enforced; `never_override` rules,
//! the limits of `never_override` drugs and the rest of the policy still judge the message.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use wardgate_hl7::{Message, ParseLimits};
use wardgate_pump::Frame;
use wardgate_rules::{
    CertIdentity, OverrideRefused, Overrides, PumpState, RuleSet, RuleSource, Sender, Verdict,
    compile, load_rule_files,
};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped_pcd03() -> RuleSet {
    let dir = root().join("rules/pcd03");
    let files = [dir.join("policy.toml"), dir.join("drug-library.toml")];
    compile(&load_rule_files(&files).unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped PCD-03 rule set with its texts edited.
fn edited_pcd03(edit: impl Fn(&str, &str) -> String) -> RuleSet {
    let dir = root().join("rules/pcd03");
    let sources: Vec<RuleSource> = ["policy.toml", "drug-library.toml"]
        .iter()
        .map(|name| {
            let mut s = RuleSource::from_file(&dir.join(name)).unwrap();
            s.text = edit(name, &s.text);
            s
        })
        .collect();
    compile(&sources).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/hl7")
        .join(name);
    std::fs::read(path).unwrap()
}

fn sender(cn: &str) -> Sender {
    Sender {
        address: [10, 20, 30, 40].into(),
        certificate: Some(CertIdentity {
            common_name: Some(cn.into()),
            alt_names: vec![],
        }),
    }
}

fn judge(set: &RuleSet, msg: &[u8], from: &Sender, overrides: &Overrides) -> Verdict {
    let msg = Message::parse(msg, &ParseLimits::default()).unwrap();
    set.evaluate_hl7_with(&msg, from, None, overrides)
}

fn route() -> Overrides {
    Overrides {
        whole_route: true,
        rules: vec![],
    }
}

fn rule(id: &str) -> Overrides {
    Overrides {
        whole_route: false,
        rules: vec![id.into()],
    }
}

#[test]
fn a_whole_route_override_forwards_a_refused_sender_and_records_why() {
    let set = shipped_pcd03();
    let stranger = sender("laptop.example");
    let safe = fixture("pcd03-heparin-icu-safe.hl7");
    let normal = judge(&set, &safe, &stranger, &Overrides::default());
    assert_eq!(normal.rule(), Some("pcd03-other-senders"));
    assert!(!normal.forwards());

    let glass = judge(&set, &safe, &stranger, &route());
    let Verdict::Permit(p) = &glass else {
        panic!("break-glass should forward: {glass}")
    };
    assert_eq!(glass.label(), "audit-deny");
    let recorded: Vec<&str> = p.audit.iter().map(|d| &*d.rule).collect();
    assert_eq!(recorded, ["pcd03-other-senders", "default"]);
}

#[test]
fn hard_limits_of_never_override_drugs_still_refuse_under_break_glass() {
    let set = shipped_pcd03();
    let overdose = fixture("pcd03-heparin-icu-10x.hl7");
    for from in [sender("ehr-bcma.egh.example"), sender("laptop.example")] {
        let v = judge(&set, &overdose, &from, &route());
        let Verdict::Deny(d) = &v else {
            panic!("a hard-limit overdose must stay refused: {v}")
        };
        assert_eq!(&*d.rule, wardgate_rules::breakglass::PINNED_RULE);
        assert_eq!(d.application_code, Some(9024), "{v}");
        assert!(d.reason.contains("heparin"), "{v}");
    }
    // Without the key the same overdose would go through: the key is what holds it.
    let unpinned = edited_pcd03(|_, t| t.replace("never_override = true", ""));
    let v = judge(&unpinned, &overdose, &sender("laptop.example"), &route());
    assert!(v.forwards(), "{v}");
}

#[test]
fn a_single_rule_override_leaves_the_other_rules_enforced() {
    let set = shipped_pcd03();
    let bcma = sender("ehr-bcma.egh.example");
    let foreign = fixture("pcd03-unknown-facility.hl7");
    assert_eq!(
        judge(&set, &foreign, &bcma, &Overrides::default()).rule(),
        Some("unknown-facility")
    );
    let v = judge(&set, &foreign, &bcma, &rule("unknown-facility"));
    assert_eq!(v.label(), "audit-deny", "{v}");
    assert_eq!(v.rule(), Some("pcd03-from-bcma"));
    // Another rule's override does not touch unknown-facility.
    let v = judge(&set, &foreign, &bcma, &rule("pcd03-other-senders"));
    assert_eq!(v.rule(), Some("unknown-facility"));
    assert!(!v.forwards());
}

#[test]
fn the_policy_default_is_overridden_only_for_the_whole_route() {
    let set = shipped_pcd03();
    let adt = fixture("adt-a01.hl7");
    let bcma = sender("ehr-bcma.egh.example");
    let v = judge(&set, &adt, &bcma, &rule("unknown-facility"));
    assert_eq!(v.rule(), Some("default"));
    assert!(!v.forwards());
    let v = judge(&set, &adt, &bcma, &route());
    let Verdict::Permit(p) = &v else {
        panic!("{v}")
    };
    assert_eq!(p.rule, None);
    assert_eq!(&*p.audit[0].rule, "default");
}

#[test]
fn a_never_override_rule_stays_enforced_and_cannot_be_granted() {
    let set = edited_pcd03(|name, t| match name {
        "policy.toml" => t.replacen(
            "id = \"unknown-facility\"\n",
            "id = \"unknown-facility\"\nnever_override = true\n",
            1,
        ),
        _ => t.to_owned(),
    });
    assert_eq!(
        set.check_override("unknown-facility"),
        Err(OverrideRefused::NeverOverride("unknown-facility".into()))
    );
    assert!(matches!(
        set.check_override("no-such-rule"),
        Err(OverrideRefused::UnknownRule(_))
    ));
    assert_eq!(set.check_override("pcd03-from-bcma"), Ok(()));
    let foreign = fixture("pcd03-unknown-facility.hl7");
    let v = judge(&set, &foreign, &sender("ehr-bcma.egh.example"), &route());
    assert_eq!(v.rule(), Some("unknown-facility"));
    assert!(!v.forwards());
}

#[test]
fn never_override_must_be_a_boolean() {
    for text in [
        "[policy]\nname = \"x\"\n[[rule]]\nid = \"r\"\ndescription = \"d\"\naction = \"deny\"\nnever_override = \"yes\"\n",
        "[[drug]]\nid = \"d\"\ncodes = [\"D\"]\nnever_override = 1\n[[drug.limits]]\ncare_areas = [\"*\"]\nrate = { unit = \"mL/h\", hard_max = 5 }\n",
    ] {
        let src = RuleSource {
            name: "p.toml".into(),
            text: text.into(),
            dir: None,
        };
        let err = compile(&[src]).unwrap_err().to_string();
        assert!(err.contains("never_override"), "{err}");
    }
}

fn pump_judge(set: &RuleSet, state: &mut PumpState, from: &Sender, name: &str, at: u64) -> Verdict {
    let bytes = std::fs::read(root().join("fixtures/pump").join(format!("{name}.wpp"))).unwrap();
    let frame = Frame::parse(&bytes).unwrap();
    set.evaluate_pump_with(&frame, from, at, state, &route())
}

#[test]
fn pump_commands_under_break_glass_keep_the_drug_limits() {
    let set = compile(&load_rule_files(&[root().join("rules/pump/policy.toml")]).unwrap()).unwrap();
    // A controller whose certificate no rule knows: refused by default, forwarded under glass.
    let renewed = sender("pump-gw-2027.egh.example");
    let mut state = PumpState::new(16);
    let v = pump_judge(&set, &mut state, &renewed, "program-heparin-safe", 0);
    assert_eq!(v.label(), "audit-deny", "{v}");
    // The forwarded program became state: the next rate change is judged against it.
    assert_eq!(state.tracked(), 1);
    let v = pump_judge(&set, &mut state, &renewed, "program-heparin-10x", 1_000);
    let Verdict::Deny(d) = &v else {
        panic!("a tenfold pump program must stay refused: {v}")
    };
    assert_eq!(&*d.rule, wardgate_rules::breakglass::PINNED_RULE);
    assert_eq!(d.application_code, Some(9024));
}
