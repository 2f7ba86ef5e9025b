//! Break-glass overrides: covered refusals are recorded, not enforced; `never_override` rules and
//! the rest of the policy still judge the message.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use wardgate_hl7::{Message, ParseLimits};
use wardgate_rules::{
    CertIdentity, OverrideRefused, Overrides, RuleSet, Sender, Verdict, compile, load_rule_files,
};

fn shipped_pcd03() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/pcd03");
    let files = [dir.join("policy.toml"), dir.join("drug-library.toml")];
    compile(&load_rule_files(&files).unwrap()).unwrap_or_else(|e| panic!("{e}"))
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
    // The never_override library rule allowed it after checking the library.
    assert_eq!(p.rule.as_deref(), Some("drug-library-never-override"));
    let recorded: Vec<&str> = p.audit.iter().map(|d| &*d.rule).collect();
    assert_eq!(recorded, ["pcd03-other-senders"]);
}

#[test]
fn hard_limits_marked_never_override_still_refuse_under_break_glass() {
    let set = shipped_pcd03();
    let overdose = fixture("pcd03-heparin-icu-10x.hl7");
    for from in [sender("ehr-bcma.egh.example"), sender("laptop.example")] {
        let v = judge(&set, &overdose, &from, &route());
        let Verdict::Deny(d) = &v else {
            panic!("a hard-limit overdose must stay refused: {v}")
        };
        assert_eq!(&*d.rule, "drug-library-never-override");
        assert_eq!(d.application_code, Some(9024), "{v}");
    }
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
fn never_override_and_unknown_rules_cannot_be_set_aside() {
    let set = shipped_pcd03();
    assert_eq!(set.check_override("unknown-facility"), Ok(()));
    assert_eq!(
        set.check_override("drug-library-never-override"),
        Err(OverrideRefused::NeverOverride(
            "drug-library-never-override".into()
        ))
    );
    assert!(matches!(
        set.check_override("no-such-rule"),
        Err(OverrideRefused::UnknownRule(_))
    ));
    // And a rule override naming it changes nothing.
    let overdose = fixture("pcd03-heparin-icu-10x.hl7");
    let v = judge(
        &set,
        &overdose,
        &sender("laptop.example"),
        &rule("drug-library-never-override"),
    );
    assert_eq!(v.rule(), Some("pcd03-other-senders"));
}

#[test]
fn never_override_must_be_a_boolean() {
    let src = wardgate_rules::RuleSource {
        name: "p.toml".into(),
        text: "[policy]\nname = \"x\"\n[[rule]]\nid = \"r\"\ndescription = \"d\"\naction = \"deny\"\nnever_override = \"yes\"\n".into(),
        dir: None,
    };
    let err = compile(&[src]).unwrap_err().to_string();
    assert!(err.contains("never_override"), "{err}");
}
