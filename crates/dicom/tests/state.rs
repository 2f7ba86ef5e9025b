//! Association state: what may be sent when, and by whom (PS3.8 §9.2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardgate_dicom::{
    Association, AssociationError, Direction::*, Pdu, PduType, Phase, decode_pdu,
};

fn established() -> Association {
    let mut a = Association::new();
    a.on_pdu(FromRequestor, &decode_pdu(&ct_associate_rq()).unwrap())
        .unwrap();
    a.on_pdu(FromAcceptor, &decode_pdu(&ct_associate_ac()).unwrap())
        .unwrap();
    a
}

#[test]
fn accepted_contexts_are_known_by_id() {
    let a = established();
    let ct = a.context(3).unwrap();
    assert_eq!(ct.abstract_syntax, CT_IMAGE_STORAGE);
    assert_eq!(ct.transfer_syntax, EXPLICIT_LE);
    assert_eq!(
        ct.to_string(),
        "context 3 is CTImageStorage with ExplicitVRLittleEndian"
    );
    assert!(a.context(5).is_none());
}

#[test]
fn p_data_before_ac_is_refused() {
    let mut a = Association::new();
    let echo = c_echo_p_data();
    let data = decode_pdu(&echo).unwrap();
    assert_eq!(
        a.on_pdu(FromRequestor, &data),
        Err(AssociationError::UnexpectedPdu {
            pdu_type: PduType::P_DATA_TF,
            from: FromRequestor,
            state: "idle"
        })
    );
    a.on_pdu(FromRequestor, &decode_pdu(&ct_associate_rq()).unwrap())
        .unwrap();
    assert!(matches!(
        a.on_pdu(FromRequestor, &data),
        Err(AssociationError::UnexpectedPdu {
            state: "awaiting A-ASSOCIATE-AC",
            ..
        })
    ));
}

#[test]
fn second_rq_is_refused() {
    let rq = ct_associate_rq();
    let rq = decode_pdu(&rq).unwrap();
    let mut a = Association::new();
    a.on_pdu(FromRequestor, &rq).unwrap();
    assert!(matches!(
        a.on_pdu(FromRequestor, &rq),
        Err(AssociationError::UnexpectedPdu {
            pdu_type: PduType::ASSOCIATE_RQ,
            ..
        })
    ));
    let mut a = established();
    assert!(a.on_pdu(FromRequestor, &rq).is_err());
    // An error leaves the state unchanged.
    assert!(a.context(3).is_some());
}

#[test]
fn ac_from_the_requestor_is_refused() {
    let mut a = Association::new();
    a.on_pdu(FromRequestor, &decode_pdu(&ct_associate_rq()).unwrap())
        .unwrap();
    assert!(matches!(
        a.on_pdu(FromRequestor, &decode_pdu(&ct_associate_ac()).unwrap()),
        Err(AssociationError::UnexpectedPdu {
            pdu_type: PduType::ASSOCIATE_AC,
            from: FromRequestor,
            ..
        })
    ));
}

#[test]
fn pdv_on_an_unaccepted_context_is_refused() {
    let mut a = established();
    a.on_pdu(
        FromRequestor,
        &decode_pdu(&p_data(1, 3, C_ECHO_RQ)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        a.on_pdu(
            FromRequestor,
            &decode_pdu(&p_data(5, 3, C_ECHO_RQ)).unwrap()
        ),
        Err(AssociationError::UnacceptedContext {
            context_id: 5,
            from: FromRequestor
        })
    );
}

#[test]
fn ac_answering_an_unproposed_context_is_refused() {
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(context_answer(7, 0, IMPLICIT_LE));
    body.extend(user_info(&[]));
    let mut a = Association::new();
    a.on_pdu(FromRequestor, &decode_pdu(&ct_associate_rq()).unwrap())
        .unwrap();
    assert_eq!(
        a.on_pdu(FromAcceptor, &decode_pdu(&pdu(0x02, &body)).unwrap()),
        Err(AssociationError::UnproposedContext(7))
    );
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(context_answer(1, 0, EXPLICIT_LE));
    body.extend(user_info(&[]));
    assert_eq!(
        a.on_pdu(FromAcceptor, &decode_pdu(&pdu(0x02, &body)).unwrap()),
        Err(AssociationError::UnproposedTransferSyntax(1))
    );
}

#[test]
fn reject_closes() {
    let mut a = Association::new();
    a.on_pdu(FromRequestor, &decode_pdu(&ct_associate_rq()).unwrap())
        .unwrap();
    a.on_pdu(
        FromAcceptor,
        &decode_pdu(&pdu(0x03, &[0, 1, 1, 3])).unwrap(),
    )
    .unwrap();
    assert!(a.is_closed());
    assert!(a.on_pdu(FromRequestor, &Pdu::ReleaseRq).is_err());
}

#[test]
fn release_then_close() {
    let mut a = established();
    a.on_pdu(FromRequestor, &Pdu::ReleaseRq).unwrap();
    // The acceptor may still send data; the requestor may not.
    let echo = p_data(1, 3, C_ECHO_RQ);
    let data = decode_pdu(&echo).unwrap();
    a.on_pdu(FromAcceptor, &data).unwrap();
    assert!(a.on_pdu(FromRequestor, &data).is_err());
    assert!(a.on_pdu(FromRequestor, &Pdu::ReleaseRp).is_err());
    a.on_pdu(FromAcceptor, &Pdu::ReleaseRp).unwrap();
    assert_eq!(a.phase(), &Phase::Closed);
}

#[test]
fn release_collision_needs_both_replies() {
    let mut a = established();
    a.on_pdu(FromRequestor, &Pdu::ReleaseRq).unwrap();
    a.on_pdu(FromAcceptor, &Pdu::ReleaseRq).unwrap();
    a.on_pdu(FromRequestor, &Pdu::ReleaseRp).unwrap();
    assert!(!a.is_closed());
    assert!(a.on_pdu(FromRequestor, &Pdu::ReleaseRp).is_err());
    a.on_pdu(FromAcceptor, &Pdu::ReleaseRp).unwrap();
    assert!(a.is_closed());
}

#[test]
fn abort_closes_from_anywhere() {
    let bytes = pdu(0x07, &[0, 0, 2, 2]);
    let abort = decode_pdu(&bytes).unwrap();
    for mut a in [Association::new(), established()] {
        a.on_pdu(FromAcceptor, &abort).unwrap();
        assert!(a.is_closed());
    }
}

#[test]
fn p_data_longer_than_the_receiver_announced_is_refused_in_either_direction() {
    // Both sides announce 16384 bytes; a PDV item is 6 bytes plus its fragment.
    let fits = vec![0u8; 16_384 - 6];
    let over = vec![0u8; 16_384 - 5];
    for from in [FromRequestor, FromAcceptor] {
        let mut a = established();
        a.on_pdu(from, &decode_pdu(&p_data(3, 0, &fits)).unwrap())
            .unwrap();
        assert_eq!(
            a.on_pdu(from, &decode_pdu(&p_data(3, 0, &over)).unwrap()),
            Err(AssociationError::PDataTooLong {
                from,
                length: 16_385,
                max: 16_384
            })
        );
        assert!(matches!(a.phase(), Phase::Established(_)));
    }
}

/// The CT modality's RQ and the PACS's AC with the role selection items replaced.
fn with_roles(
    proposed: Option<(bool, bool)>,
    answered: Option<(bool, bool)>,
) -> (wardgate_dicom::AssociateRq, wardgate_dicom::AssociateAc) {
    let item = |(scu, scp)| wardgate_dicom::RoleSelection {
        sop_class_uid: CT_IMAGE_STORAGE.to_owned(),
        scu,
        scp,
    };
    let Pdu::AssociateRq(mut rq) = decode_pdu(&ct_associate_rq()).unwrap() else {
        panic!("not an RQ")
    };
    let Pdu::AssociateAc(mut ac) = decode_pdu(&ct_associate_ac()).unwrap() else {
        panic!("not an AC")
    };
    rq.header.user_info.role_selections = proposed.map(item).into_iter().collect();
    ac.header.user_info.role_selections = answered.map(item).into_iter().collect();
    (rq, ac)
}

#[test]
fn without_role_selection_the_acceptor_may_only_send_event_reports() {
    use wardgate_dicom::CommandField as C;
    let (rq, ac) = with_roles(None, None);
    let roles = wardgate_dicom::Roles::negotiated(&rq, &ac, CT_IMAGE_STORAGE);
    assert!(roles.may_send(FromAcceptor, C::N_EVENT_REPORT_RQ));
    for c in [C::C_STORE_RQ, C::C_FIND_RQ, C::N_ACTION_RQ, C::C_ECHO_RQ] {
        assert!(!roles.may_send(FromAcceptor, c), "{c:?}");
        assert!(roles.may_send(FromRequestor, c), "{c:?}");
    }
    assert!(!roles.may_send(FromRequestor, C::N_EVENT_REPORT_RQ));
}

#[test]
fn an_scp_role_proposed_and_accepted_lets_the_acceptor_store_c_get_sub_operations() {
    use wardgate_dicom::CommandField as C;
    let (rq, ac) = with_roles(Some((true, true)), Some((true, true)));
    let roles = wardgate_dicom::Roles::negotiated(&rq, &ac, CT_IMAGE_STORAGE);
    assert!(roles.may_send(FromAcceptor, C::C_STORE_RQ));
    assert!(roles.may_send(FromRequestor, C::C_STORE_RQ));
    // An SCP role the requestor never proposed cannot be granted by the acceptor alone.
    let (rq, ac) = with_roles(Some((true, false)), Some((true, true)));
    let roles = wardgate_dicom::Roles::negotiated(&rq, &ac, CT_IMAGE_STORAGE);
    assert!(!roles.may_send(FromAcceptor, C::C_STORE_RQ));
    // An answer to nothing proposed is ignored.
    let (rq, ac) = with_roles(None, Some((false, true)));
    let roles = wardgate_dicom::Roles::negotiated(&rq, &ac, CT_IMAGE_STORAGE);
    assert_eq!(roles, wardgate_dicom::Roles::default());
}
