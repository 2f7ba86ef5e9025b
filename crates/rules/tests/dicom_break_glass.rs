//! Break-glass on DICOM routes: in an emergency a modality must be able to store and a workstation
//! to retrieve even when the policy would refuse; what break-glass sets aside is recorded, and
//! rules marked `never_override` still refuse.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use wardgate_dicom::{AcceptedContext, CommandField, CommandSet, Priority, uid::uid_of};
use wardgate_rules::{
    AssociationDecision, CommandDecision, DicomExpect, DicomTest, Overrides, RuleSet, RuleSource,
    Sender, compile,
};

/// The shipped DICOM policy, with its text edited.
fn shipped_with(edit: impl Fn(String) -> String) -> RuleSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/dicom/policy.toml");
    let mut source = RuleSource::from_file(&path).unwrap();
    source.text = edit(source.text);
    compile(&[source]).unwrap_or_else(|e| panic!("{e}"))
}

fn shipped() -> RuleSet {
    shipped_with(|t| t)
}

fn u(keyword: &str) -> String {
    uid_of(keyword).unwrap().to_owned()
}

fn ct_vlan() -> Sender {
    Sender::from_address([10, 30, 1, 20].into())
}

fn rq(calling: &str, contexts: &[&str]) -> wardgate_dicom::AssociateRq {
    DicomTest {
        calling_ae: calling.into(),
        called_ae: "PACS".into(),
        contexts: contexts
            .iter()
            .map(|a| (u(a), vec![u("ExplicitVRLittleEndian")]))
            .collect(),
        user_identity: false,
        command: None,
        expect: DicomExpect::Allow,
        reason: None,
        status: None,
    }
    .associate_rq()
}

fn command(field: CommandField, sop: &str) -> CommandSet<'_> {
    CommandSet {
        command_field: field,
        message_id: Some(9),
        message_id_being_responded_to: None,
        affected_sop_class_uid: Some(sop),
        requested_sop_class_uid: None,
        affected_sop_instance_uid: None,
        requested_sop_instance_uid: None,
        move_destination: None,
        priority: Some(Priority::MEDIUM),
        data_set_type: Some(0x0000),
        status: None,
        other_elements: 0,
    }
}

fn whole_route() -> Overrides {
    Overrides {
        whole_route: true,
        rules: vec![],
    }
}

fn only(rule: &str) -> Overrides {
    Overrides {
        whole_route: false,
        rules: vec![rule.to_owned()],
    }
}

#[test]
fn an_unregistered_modality_is_rejected_unless_the_whole_route_is_under_break_glass() {
    let set = shipped();
    // A replacement CT whose AE title nobody registered yet.
    let request = rq("CT02", &["CTImageStorage"]);
    let normal = set.evaluate_dicom_associate(&request, &ct_vlan());
    assert!(
        matches!(normal, AssociationDecision::Reject { reason: 3, .. }),
        "{normal}"
    );
    // Setting aside one rule does not vouch for an unknown AE title.
    let one = set.evaluate_dicom_associate_with(&request, &ct_vlan(), &only("ct01-stores-ct"));
    assert!(!one.accepts(), "{one}");
    match set.evaluate_dicom_associate_with(&request, &ct_vlan(), &whole_route()) {
        AssociationDecision::Accept { audit, .. } => {
            let rules: Vec<&str> = audit.iter().map(|d| &*d.rule).collect();
            assert!(
                audit.iter().any(|d| d.reason.contains("CT02")),
                "the registry's refusal is recorded: {rules:?}"
            );
            assert!(
                rules.contains(&"default"),
                "so is the default's refusal of the context no rule allows: {rules:?}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_command_refusal_is_recorded_and_the_command_forwarded_under_break_glass() {
    let set = shipped();
    let request = rq(
        "CT01",
        &[
            "CTImageStorage",
            "StudyRootQueryRetrieveInformationModelFind",
        ],
    );
    let find_sop = u("StudyRootQueryRetrieveInformationModelFind");
    let ctx = AcceptedContext {
        id: 3,
        abstract_syntax: find_sop.clone(),
        transfer_syntax: u("ExplicitVRLittleEndian"),
    };
    let find = command(CommandField::C_FIND_RQ, &find_sop);
    // CT01 querying the PACS aborts the association (ct01-only-stores).
    let normal = set.evaluate_dicom_command(&request, &ctx, &find, &ct_vlan());
    assert!(matches!(normal, CommandDecision::Abort { .. }), "{normal}");
    // A grant on that rule sets the abort aside and the rest of the policy judges: no rule
    // allows the query, so it gets the default's failure status and the association lives on.
    match set.evaluate_dicom_command_with(
        &request,
        &ctx,
        &find,
        &ct_vlan(),
        &only("ct01-only-stores"),
    ) {
        CommandDecision::Refuse { denial, status } => {
            assert_eq!(&*denial.rule, "default");
            assert_eq!(status, 0x0122);
        }
        other => panic!("{other}"),
    }
    // The whole route under break-glass forwards it, with both refusals recorded.
    match set.evaluate_dicom_command_with(&request, &ctx, &find, &ct_vlan(), &whole_route()) {
        CommandDecision::Allow(p) => {
            let rules: Vec<&str> = p.audit.iter().map(|d| &*d.rule).collect();
            assert_eq!(rules, ["ct01-only-stores", "default"]);
        }
        other => panic!("{other}"),
    }
    // A grant on another rule changes nothing.
    let other = set.evaluate_dicom_command_with(
        &request,
        &ctx,
        &find,
        &ct_vlan(),
        &only("radws1-query-retrieve"),
    );
    assert!(matches!(other, CommandDecision::Abort { .. }), "{other}");
}

#[test]
fn a_never_override_rule_still_refuses_under_whole_route_break_glass() {
    let set = shipped_with(|t| {
        t.replace(
            "id = \"ct01-only-stores\"\n",
            "id = \"ct01-only-stores\"\nnever_override = true\n",
        )
    });
    assert!(set.check_override("ct01-only-stores").is_err());
    let request = rq(
        "CT01",
        &[
            "CTImageStorage",
            "StudyRootQueryRetrieveInformationModelFind",
        ],
    );
    let find_sop = u("StudyRootQueryRetrieveInformationModelFind");
    let ctx = AcceptedContext {
        id: 3,
        abstract_syntax: find_sop.clone(),
        transfer_syntax: u("ExplicitVRLittleEndian"),
    };
    let find = command(CommandField::C_FIND_RQ, &find_sop);
    let d = set.evaluate_dicom_command_with(&request, &ctx, &find, &ct_vlan(), &whole_route());
    match d {
        CommandDecision::Abort { denial } => assert_eq!(&*denial.rule, "ct01-only-stores"),
        other => panic!("{other}"),
    }
    // The store it exists to protect is unaffected.
    let ct = u("CTImageStorage");
    let store_ctx = AcceptedContext {
        id: 1,
        abstract_syntax: ct.clone(),
        transfer_syntax: u("ExplicitVRLittleEndian"),
    };
    let store = command(CommandField::C_STORE_RQ, &ct);
    assert!(
        set.evaluate_dicom_command_with(&request, &store_ctx, &store, &ct_vlan(), &whole_route())
            .forwards()
    );
}
