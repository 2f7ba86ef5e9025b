//! DICOM rules judge associations and DIMSE commands the way a PACS administrator would expect:
//! AE titles only from their registered hosts, the right A-ASSOCIATE-RJ reason, the right DIMSE
//! failure status, and every mistake in a rule file reported at once.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use wardgate_dicom::{
    AcceptedContext, AssociateRq, CommandField, CommandSet, Priority, uid::uid_of,
};
use wardgate_rules::{
    AssociationDecision, CertIdentity, CommandDecision, DicomExpect, DicomTest, DicomTestCommand,
    RuleSet, RuleSource, Sender, TestMessage, compile, load_rule_files,
};

fn shipped() -> RuleSet {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sources = load_rule_files(&[root.join("rules/dicom/policy.toml")]).unwrap();
    compile(&sources).unwrap_or_else(|e| panic!("{e}"))
}

fn source(text: &str) -> RuleSource {
    RuleSource {
        name: Arc::from("dicom.toml"),
        text: text.to_owned(),
        dir: None,
    }
}

fn rules(text: &str) -> RuleSet {
    compile(&[source(text)]).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> String {
    match compile(&[source(text)]) {
        Ok(_) => panic!("expected compile errors"),
        Err(d) => d.to_string(),
    }
}

fn u(keyword: &str) -> String {
    uid_of(keyword).unwrap().to_owned()
}

fn ct_vlan() -> Sender {
    Sender::from_address([10, 30, 1, 20].into())
}

fn radws1() -> Sender {
    Sender {
        address: [10, 40, 2, 15].into(),
        certificate: Some(CertIdentity {
            common_name: Some("radws1.egh.example".into()),
            alt_names: vec![],
        }),
    }
}

/// An association request built the way the rule tests build theirs.
fn request(calling: &str, called: &str, contexts: &[(&str, &[&str])], identity: bool) -> DicomTest {
    DicomTest {
        calling_ae: calling.into(),
        called_ae: called.into(),
        contexts: contexts
            .iter()
            .map(|(a, ts)| (u(a), ts.iter().map(|t| u(t)).collect()))
            .collect(),
        user_identity: identity,
        command: None,
        expect: DicomExpect::Allow,
        reason: None,
        status: None,
    }
}

fn context(id: u8, abs: &str, ts: &str) -> AcceptedContext {
    AcceptedContext {
        id,
        abstract_syntax: u(abs),
        transfer_syntax: u(ts),
    }
}

fn command<'a>(field: CommandField, sop: &'a str, dest: Option<&'a str>) -> CommandSet<'a> {
    CommandSet {
        command_field: field,
        message_id: Some(7),
        message_id_being_responded_to: None,
        affected_sop_class_uid: Some(sop),
        requested_sop_class_uid: None,
        affected_sop_instance_uid: None,
        requested_sop_instance_uid: None,
        move_destination: dest,
        priority: Some(Priority::MEDIUM),
        data_set_type: Some(0x0000),
        status: None,
        other_elements: 0,
    }
}

fn reject_reason(d: &AssociationDecision) -> Option<u8> {
    match d {
        AssociationDecision::Reject { reason, .. } => Some(*reason),
        AssociationDecision::Accept { .. } => None,
    }
}

const CT: &[&str] = &["ExplicitVRLittleEndian"];

fn ct01_rq() -> AssociateRq {
    request(
        "CT01",
        "PACS",
        &[
            ("CTImageStorage", CT),
            ("Verification", &["ImplicitVRLittleEndian"]),
        ],
        false,
    )
    .associate_rq()
}

#[test]
fn a_registered_modality_is_accepted_and_names_the_rules_that_allowed_it() {
    let set = shipped();
    let d = set.evaluate_dicom_associate(&ct01_rq(), &ct_vlan());
    assert_eq!(
        d,
        AssociationDecision::Accept {
            rule: Some(Arc::from("ct01-stores-ct+echo-for-registered")),
            audit: vec![],
        },
        "{d}"
    );
}

#[test]
fn an_ae_title_is_only_believed_from_its_registered_host_or_certificate() {
    let set = shipped();
    let rq = ct01_rq();
    let elsewhere = Sender::from_address([10, 99, 0, 5].into());
    let d = set.evaluate_dicom_associate(&rq, &elsewhere);
    assert_eq!(reject_reason(&d), Some(3), "{d}");
    assert!(
        d.to_string().contains("not believed from 10.99.0.5"),
        "the reason says why: {d}"
    );
    let with_cert = Sender {
        address: [192, 0, 2, 50].into(),
        certificate: Some(CertIdentity {
            common_name: Some("CT01.EGH.example".into()),
            alt_names: vec![],
        }),
    };
    assert!(set.evaluate_dicom_associate(&rq, &with_cert).accepts());
    // RADWS1's certificate does not make it CT01.
    assert_eq!(
        reject_reason(&set.evaluate_dicom_associate(&rq, &radws1())),
        Some(3)
    );
}

#[test]
fn unknown_titles_get_reasons_3_and_7_and_anything_else_reason_1() {
    let set = shipped();
    let unknown = request("MR07", "PACS", &[("MRImageStorage", CT)], false).associate_rq();
    let d = set.evaluate_dicom_associate(&unknown, &ct_vlan());
    assert_eq!(reject_reason(&d), Some(3), "{d}");
    assert!(d.to_string().contains("\"MR07\" is not registered"), "{d}");
    let research = request("CT01", "RESEARCH", &[("CTImageStorage", CT)], false).associate_rq();
    assert_eq!(
        reject_reason(&set.evaluate_dicom_associate(&research, &ct_vlan())),
        Some(7)
    );
    // Case matters: "pacs" is not "PACS".
    let lower = request("CT01", "pacs", &[("CTImageStorage", CT)], false).associate_rq();
    assert_eq!(
        reject_reason(&set.evaluate_dicom_associate(&lower, &ct_vlan())),
        Some(7)
    );
    let rt = request(
        "CT01",
        "PACS",
        &[("CTImageStorage", CT), ("RTPlanStorage", CT)],
        false,
    )
    .associate_rq();
    let d = set.evaluate_dicom_associate(&rt, &ct_vlan());
    assert_eq!(reject_reason(&d), Some(1), "{d}");
    assert!(
        d.to_string()
            .contains("no rule allows CT01 to propose RTPlanStorage to PACS"),
        "{d}"
    );
}

#[test]
fn audit_rules_record_what_they_would_refuse_and_let_the_association_pass() {
    let set = shipped();
    let rq = request(
        "RADWS1",
        "PACS",
        &[("StudyRootQueryRetrieveInformationModelFind", CT)],
        false,
    )
    .associate_rq();
    let d = set.evaluate_dicom_associate(&rq, &radws1());
    assert!(d.accepts(), "{d}");
    assert_eq!(d.label(), "audit-deny");
    let AssociationDecision::Accept { audit, .. } = d else {
        unreachable!()
    };
    assert_eq!(audit.len(), 1, "recorded once, not once per context");
    assert_eq!(&*audit[0].rule, "radws1-should-identify-its-user");
    let with_identity = request(
        "RADWS1",
        "PACS",
        &[("StudyRootQueryRetrieveInformationModelFind", CT)],
        true,
    )
    .associate_rq();
    assert_eq!(
        set.evaluate_dicom_associate(&with_identity, &radws1())
            .label(),
        "allow"
    );
}

#[test]
fn an_acceptor_choosing_a_forbidden_transfer_syntax_is_refused() {
    let set = shipped();
    let t = request(
        "CT01",
        "PACS",
        &[(
            "CTImageStorage",
            &["JPEGBaseline8Bit", "ExplicitVRLittleEndian"],
        )],
        false,
    );
    let rq = t.associate_rq();
    assert!(
        set.evaluate_dicom_associate(&rq, &ct_vlan()).accepts(),
        "one acceptable transfer syntax is proposed"
    );
    let mut ac = t.associate_ac(&rq);
    let err = set.evaluate_dicom_accept(&rq, &ac, &ct_vlan()).unwrap_err();
    assert!(
        err.reason
            .contains("accepted context 1 (CTImageStorage with JPEGBaseline8Bit)"),
        "{}",
        err.reason
    );
    ac.presentation_contexts[0].transfer_syntax = u("ExplicitVRLittleEndian");
    assert_eq!(set.evaluate_dicom_accept(&rq, &ac, &ct_vlan()), Ok(()));
    // A context the acceptor rejected is not judged.
    ac.presentation_contexts[0].transfer_syntax = u("JPEGBaseline8Bit");
    ac.presentation_contexts[0].result = wardgate_dicom::ContextResult::USER_REJECTION;
    assert_eq!(set.evaluate_dicom_accept(&rq, &ac, &ct_vlan()), Ok(()));
}

#[test]
fn commands_get_the_failure_status_a_dicom_peer_understands() {
    let set = shipped();
    let rq = request(
        "RADWS1",
        "PACS",
        &[
            ("StudyRootQueryRetrieveInformationModelFind", CT),
            ("StudyRootQueryRetrieveInformationModelMove", CT),
        ],
        true,
    )
    .associate_rq();
    let mv_ctx = context(
        3,
        "StudyRootQueryRetrieveInformationModelMove",
        "ExplicitVRLittleEndian",
    );
    let mv = u("StudyRootQueryRetrieveInformationModelMove");
    let to_self = command(CommandField::C_MOVE_RQ, &mv, Some("RADWS1"));
    let d = set.evaluate_dicom_command(&rq, &mv_ctx, &to_self, &radws1());
    assert!(d.forwards(), "{d}");
    let away = command(CommandField::C_MOVE_RQ, &mv, Some("EXFIL01"));
    match set.evaluate_dicom_command(&rq, &mv_ctx, &away, &radws1()) {
        CommandDecision::Refuse { denial, status } => {
            assert_eq!(status, 0xA801);
            assert!(denial.reason.contains("\"EXFIL01\""), "{}", denial.reason);
        }
        other => panic!("{other}"),
    }
    // A C-MOVE without a move destination is not one to RADWS1.
    let nowhere = command(CommandField::C_MOVE_RQ, &mv, None);
    assert!(
        !set.evaluate_dicom_command(&rq, &mv_ctx, &nowhere, &radws1())
            .forwards()
    );
    // A C-STORE smuggled onto the move context: the SOP class is covered, the command is not.
    let store = command(CommandField::C_STORE_RQ, &mv, None);
    match set.evaluate_dicom_command(&rq, &mv_ctx, &store, &radws1()) {
        CommandDecision::Refuse { status, .. } => assert_eq!(status, 0x0124),
        other => panic!("{other}"),
    }
    // A SOP class no rule allows this association.
    let ct = u("CTImageStorage");
    let ct_store = command(CommandField::C_STORE_RQ, &ct, None);
    match set.evaluate_dicom_command(&rq, &mv_ctx, &ct_store, &radws1()) {
        CommandDecision::Refuse { status, .. } => assert_eq!(status, 0x0122),
        other => panic!("{other}"),
    }
}

#[test]
fn responses_and_cancels_are_not_judged_and_a_vanished_registration_aborts() {
    let set = shipped();
    let rq = ct01_rq();
    let ctx = context(1, "CTImageStorage", "ExplicitVRLittleEndian");
    let ct = u("CTImageStorage");
    let mut rsp = command(CommandField::C_FIND_RSP, &ct, None);
    rsp.message_id = None;
    assert!(
        set.evaluate_dicom_command(&rq, &ctx, &rsp, &ct_vlan())
            .forwards()
    );
    let cancel = command(CommandField::C_CANCEL_RQ, &ct, None);
    assert!(
        set.evaluate_dicom_command(&rq, &ctx, &cancel, &ct_vlan())
            .forwards()
    );
    let find = command(CommandField::C_FIND_RQ, &ct, None);
    let d = set.evaluate_dicom_command(&rq, &ctx, &find, &ct_vlan());
    assert_eq!(d.label(), "abort", "{d}");
    // After a reload that drops CT01's registration, its next command aborts the association.
    let store = command(CommandField::C_STORE_RQ, &ct, None);
    let elsewhere = Sender::from_address([10, 99, 0, 5].into());
    match set.evaluate_dicom_command(&rq, &ctx, &store, &elsewhere) {
        CommandDecision::Abort { denial } => assert_eq!(&*denial.rule, "dicom.calling_ae"),
        other => panic!("{other}"),
    }
}

const REGISTRY: &str = r#"
[dicom]
called_ae = ["PACS"]
[[dicom.calling_ae]]
title = "CT01"
address = ["10.30.1.0/24"]
"#;

#[test]
fn explicit_refusals_carry_their_own_status_and_reason() {
    let set = rules(&format!(
        r#"{REGISTRY}
[[rule]]
id = "no-enhanced-ct"
description = "Enhanced CT is not stored yet"
protocol = "dicom"
action = "deny"
refuse = "command"
status = 0xA700
[rule.dicom]
sop_classes = ["EnhancedCTImageStorage"]

[[rule]]
id = "no-rt"
description = "RT plans do not go to this PACS"
protocol = "dicom"
action = "deny"
refuse = "association"
reason = 7
[rule.dicom]
sop_classes = ["RTPlanStorage"]

[[rule]]
id = "ct"
description = "CT storage"
protocol = "dicom"
action = "allow"
[rule.dicom]
sop_classes = ["*"]
"#
    ));
    let rt = request(
        "CT01",
        "PACS",
        &[("CTImageStorage", CT), ("RTPlanStorage", CT)],
        false,
    )
    .associate_rq();
    let d = set.evaluate_dicom_associate(&rt, &ct_vlan());
    assert_eq!(reject_reason(&d), Some(7), "{d}");
    assert!(
        d.to_string().contains("RT plans do not go to this PACS"),
        "{d}"
    );
    let rq = request("CT01", "PACS", &[("EnhancedCTImageStorage", CT)], false).associate_rq();
    assert!(set.evaluate_dicom_associate(&rq, &ct_vlan()).accepts());
    let ctx = context(1, "EnhancedCTImageStorage", "ExplicitVRLittleEndian");
    let sop = u("EnhancedCTImageStorage");
    match set.evaluate_dicom_command(
        &rq,
        &ctx,
        &command(CommandField::C_STORE_RQ, &sop, None),
        &ct_vlan(),
    ) {
        CommandDecision::Refuse { denial, status } => {
            assert_eq!(status, 0xA700);
            assert_eq!(&*denial.rule, "no-enhanced-ct");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_default_allow_policy_still_checks_the_registry() {
    let set = rules(&format!("[policy]\ndefault = \"allow\"\n{REGISTRY}"));
    let rq = request("CT01", "PACS", &[("MRImageStorage", CT)], false).associate_rq();
    assert_eq!(
        set.evaluate_dicom_associate(&rq, &ct_vlan()),
        AssociationDecision::Accept {
            rule: None,
            audit: vec![]
        }
    );
    let spoofed = Sender::from_address([192, 0, 2, 1].into());
    assert_eq!(
        reject_reason(&set.evaluate_dicom_associate(&rq, &spoofed)),
        Some(3)
    );
}

#[test]
fn every_mistake_in_a_dicom_rule_file_is_reported_at_once_with_a_hint() {
    let text = r#"
[dicom]
called_ae = ["PACS"]

[[dicom.calling_ae]]
title = "CT01"

[[dicom.calling_ae]]
title = "A_TITLE_LONGER_THAN_16"
address = ["10.0.0.0/8"]

[[rule]]
id = "a"
description = "typos"
protocol = "dicom"
action = "allow"
[rule.dicom]
sop_classes = ["CTImageStorge", "ExplicitVRLittleEndian", "1.2.03"]
transfer_syntaxes = ["ExplicitVRLittleEndan"]
commands = ["C-STORE-RQ", "C-CANCEL"]

[[rule]]
id = "b"
description = "deny without saying how"
protocol = "dicom"
action = "deny"
status = 0x0000

[[rule]]
id = "c"
description = "association refusals cannot see commands"
protocol = "dicom"
action = "deny"
refuse = "association"
reason = "calling AE unknown"
[rule.dicom]
commands = ["C-FIND"]
move_destinations = ["X"]

[[rule]]
id = "d"
description = "allow without SOP classes"
protocol = "dicom"
action = "allow"
refuse = "command"
[rule.dicom]
commands = ["C-FIND"]
move_destinations = ["RADWS1"]
abstract_syntaxes = ["Verification"]

[[rule]]
id = "e"
description = "DICOM keys on an HL7 rule"
action = "deny"
refuse = "command"
"#;
    let e = errors(text);
    for want in [
        "dicom.toml:5:1: error: [[dicom.calling_ae]] names no host or certificate",
        "is not an AE title: it is 22 bytes, over 16",
        "dicom.toml:18:16: error: `dicom.sop_classes`: `CTImageStorge` is not a SOP class keyword wardgate knows",
        "did you mean `CTImageStorage`?",
        "`ExplicitVRLittleEndian` is a transfer syntax, not a SOP class",
        "`1.2.03` is not a UID",
        "did you mean `ExplicitVRLittleEndian`?",
        "did you mean `C-STORE`?",
        "C-CANCEL cannot be named",
        "a DICOM deny rule needs `refuse`",
        "`status` applies to rules with `refuse = \"command\"`",
        "`reason` is the A-ASSOCIATE-RJ reason number, not text",
        "`commands` cannot be judged when the association is requested",
        "`move_destinations` cannot be judged when the association is requested",
        "an allow rule does not refuse",
        "a DICOM allow rule must list the SOP classes it allows",
        "`move_destinations` only applies to C-MOVE",
        "write `sop_classes`",
        "`refuse` applies to DICOM rules",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn dicom_rules_without_a_registry_do_not_compile() {
    let e = errors(
        r#"
[[rule]]
id = "echo"
description = "echo"
protocol = "dicom"
action = "allow"
[rule.dicom]
sop_classes = ["Verification"]
"#,
    );
    assert!(
        e.contains("dicom.toml:2:1: error: DICOM rules need the AE titles they protect"),
        "{e}"
    );
}

#[test]
fn dicom_tests_are_checked_when_compiled_and_explain_their_failures() {
    let e = errors(&format!(
        r#"{REGISTRY}
[[test]]
name = "bad"
dicom = {{ calling_ae = "CT01", called_ae = "PACS", contexts = [["CTImageStorage"]], move_destination = "X" }}
expect = "deny"
status = 0xA801
"#
    ));
    for want in [
        "a context is a SOP class followed by at least one transfer syntax",
        "`move_destination` describes a command",
        "a DICOM test cannot expect `deny`",
        "`status` is the DIMSE failure status of a refused command",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    let set = rules(&format!(
        r#"{REGISTRY}
[[test]]
name = "wrong expectation"
sender = {{ address = "10.30.1.20" }}
dicom = {{ calling_ae = "CT01", called_ae = "PACS", contexts = [["CTImageStorage", "ExplicitVRLittleEndian"]], command = "C-STORE" }}
expect = "allow"
"#
    ));
    let TestMessage::Dicom(t) = &set.tests[0].message else {
        panic!("a DICOM test")
    };
    assert_eq!(
        t.command,
        Some(DicomTestCommand {
            field: CommandField::C_STORE_RQ,
            sop_class: None,
            move_destination: None,
            priority: None,
        })
    );
    let out = set.run_tests(&Default::default());
    let failure = out[0].failure.as_deref().unwrap();
    assert!(
        failure.contains("expected allow, got reject (reason 1) by default"),
        "{failure}"
    );
}
