//! A-ASSOCIATE-RQ/AC views and their limits (PS3.8 §9.3.2, §9.3.3, PS3.7 Annex D).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardgate_dicom::{
    AeField, AeTitleError, AssociateError, AsyncOps, ContextResult, ItemKind, Pdu, PduError,
    PduType, UserIdentityType, decode_pdu,
};

fn rq_error(bytes: &[u8]) -> AssociateError {
    match decode_pdu(bytes) {
        Err(PduError::Associate { error, .. }) => error,
        other => panic!("expected an associate error, got {other:?}"),
    }
}

#[test]
fn ct_modality_request_is_read_in_full() {
    let bytes = ct_associate_rq();
    let Ok(Pdu::AssociateRq(rq)) = decode_pdu(&bytes) else {
        panic!("RQ expected")
    };
    assert_eq!(rq.header.protocol_version, 1);
    assert_eq!(rq.header.called_ae_title, "PACS_MAIN");
    assert_eq!(rq.header.calling_ae_title, "CT_SCANNER_01");
    assert_eq!(rq.header.application_context, APP_CONTEXT);
    assert_eq!(rq.presentation_contexts.len(), 2);
    let ct = rq.context(3).unwrap();
    assert_eq!(ct.abstract_syntax, CT_IMAGE_STORAGE);
    assert_eq!(
        ct.transfer_syntaxes,
        [EXPLICIT_LE, IMPLICIT_LE, JPEG_LOSSLESS_SV1]
    );
    let info = &rq.header.user_info;
    assert_eq!(info.max_length, Some(16_384));
    assert_eq!(
        info.implementation_class_uid.as_deref(),
        Some(DCMTK_CLASS_UID)
    );
    assert_eq!(
        info.implementation_version_name.as_deref(),
        Some("OFFIS_DCMTK_364")
    );
    assert_eq!(
        info.async_ops,
        Some(AsyncOps {
            max_invoked: 1,
            max_performed: 1
        })
    );
    assert_eq!(info.role_selections.len(), 1);
    assert!(info.role_selections[0].scu && !info.role_selections[0].scp);
    let identity = info.user_identity.unwrap();
    assert_eq!(
        identity.identity_type,
        UserIdentityType::USERNAME_AND_PASSCODE
    );
    assert!(identity.positive_response_requested && identity.has_secondary_field);
}

#[test]
fn user_identity_secret_is_never_kept() {
    let bytes = ct_associate_rq();
    let rq = decode_pdu(&bytes).unwrap();
    let shown = format!("{rq:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("ct-tech"), "{shown}");
}

#[test]
fn pacs_answer_is_read_in_full() {
    let Ok(Pdu::AssociateAc(ac)) = decode_pdu(&ct_associate_ac()) else {
        panic!("AC expected")
    };
    assert_eq!(ac.presentation_contexts.len(), 2);
    assert_eq!(ac.presentation_contexts[1].id, 3);
    assert_eq!(
        ac.presentation_contexts[1].result,
        ContextResult::ACCEPTANCE
    );
    assert_eq!(ac.presentation_contexts[1].transfer_syntax, EXPLICIT_LE);
    assert_eq!(ac.header.user_info.max_length, Some(16_384));
}

#[test]
fn unknown_context_result_is_kept_raw() {
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(context_answer(1, 0, IMPLICIT_LE));
    body.extend(context_answer(3, 9, ""));
    body.extend(user_info(&[]));
    let Ok(Pdu::AssociateAc(ac)) = decode_pdu(&pdu(0x02, &body)) else {
        panic!("AC expected")
    };
    assert_eq!(ac.presentation_contexts[1].result, ContextResult(9));
    assert!(!ac.presentation_contexts[1].result.is_accepted());
}

#[test]
fn truncated_request_is_refused_not_awaited() {
    // A complete PDU whose last presentation context item claims more bytes than it has.
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    let mut ctx = proposed_context(1, VERIFICATION, &[IMPLICIT_LE]);
    ctx[3] += 10;
    body.extend(ctx);
    let error = rq_error(&pdu(0x01, &body));
    assert!(matches!(
        error,
        AssociateError::Truncated {
            item: ItemKind::PresentationContext,
            ..
        }
    ));
    // A buffer cut short of its header's length is a caller error, reported as such.
    let whole = ct_associate_rq();
    assert!(matches!(
        decode_pdu(&whole[..whole.len() - 1]),
        Err(PduError::LengthMismatch { .. })
    ));
}

#[test]
fn ten_thousand_presentation_contexts_are_refused() {
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    for i in 0..10_000u32 {
        let id = (2 * i + 1) as u8;
        body.extend(proposed_context(id, VERIFICATION, &[IMPLICIT_LE]));
    }
    body.extend(user_info(&[]));
    let bytes = pdu(0x01, &body);
    assert!(bytes.len() < 1_000_000);
    assert_eq!(
        rq_error(&bytes),
        AssociateError::TooManyPresentationContexts { limit: 128 }
    );
}

#[test]
fn repeated_context_id_and_even_id_are_refused() {
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(proposed_context(1, VERIFICATION, &[IMPLICIT_LE]));
    body.extend(proposed_context(1, CT_IMAGE_STORAGE, &[IMPLICIT_LE]));
    body.extend(user_info(&[]));
    assert_eq!(
        rq_error(&pdu(0x01, &body)),
        AssociateError::DuplicateContextId(1)
    );

    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(proposed_context(2, VERIFICATION, &[IMPLICIT_LE]));
    body.extend(user_info(&[]));
    assert_eq!(rq_error(&pdu(0x01, &body)), AssociateError::BadContextId(2));
}

#[test]
fn too_many_transfer_syntaxes_are_refused() {
    let many = vec![IMPLICIT_LE; 65];
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(proposed_context(1, VERIFICATION, &many));
    body.extend(user_info(&[]));
    assert_eq!(
        rq_error(&pdu(0x01, &body)),
        AssociateError::TooManyTransferSyntaxes {
            context_id: 1,
            limit: 64
        }
    );
}

#[test]
fn too_many_user_items_are_refused() {
    let extra: Vec<u8> = (0..300).flat_map(|_| item(0x77, b"x")).collect();
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(proposed_context(1, VERIFICATION, &[IMPLICIT_LE]));
    body.extend(user_info(&extra));
    assert_eq!(
        rq_error(&pdu(0x01, &body)),
        AssociateError::TooManyUserItems { limit: 256 }
    );
}

#[test]
fn ae_titles_are_validated() {
    let mut bytes = ct_associate_rq();
    // Called AE title occupies PDU bytes 10..26; blank it.
    bytes[10..26].fill(b' ');
    assert_eq!(
        rq_error(&bytes),
        AssociateError::BadAeTitle {
            field: AeField::Called,
            problem: AeTitleError::Blank
        }
    );
    let mut bytes = ct_associate_rq();
    bytes[28] = 0x07;
    assert_eq!(
        rq_error(&bytes),
        AssociateError::BadAeTitle {
            field: AeField::Calling,
            problem: AeTitleError::BadByte { offset: 2, byte: 7 }
        }
    );
}

#[test]
fn max_length_sub_item_of_wrong_size_is_refused() {
    // dicom-ul reads 4 bytes whatever the sub-item length says; the walk refuses first.
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(proposed_context(1, VERIFICATION, &[IMPLICIT_LE]));
    body.extend(item(0x50, &item(0x51, &[0, 0, 0x40, 0, 0, 0])));
    assert_eq!(
        rq_error(&pdu(0x01, &body)),
        AssociateError::BadLength(ItemKind::MaximumLength)
    );
}

#[test]
fn missing_and_misplaced_items_are_refused() {
    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(proposed_context(1, VERIFICATION, &[IMPLICIT_LE]));
    body.extend(user_info(&[]));
    assert_eq!(
        rq_error(&pdu(0x01, &body)),
        AssociateError::Missing(ItemKind::ApplicationContext)
    );

    let mut body = associate_fixed("PACS_MAIN", "CT_SCANNER_01");
    body.extend(item(0x10, APP_CONTEXT.as_bytes()));
    body.extend(context_answer(1, 0, IMPLICIT_LE));
    body.extend(user_info(&[]));
    assert!(matches!(
        decode_pdu(&pdu(0x01, &body)),
        Err(PduError::Associate {
            pdu_type: PduType::ASSOCIATE_RQ,
            error: AssociateError::UnexpectedItem {
                item_type: 0x21,
                ..
            }
        })
    ));
}

#[test]
fn dicom_ul_agrees_on_the_hand_built_pdus() {
    for bytes in [ct_associate_rq(), ct_associate_ac()] {
        let ul = dicom_ul::pdu::read_pdu(&bytes[..], 16_384, true)
            .unwrap()
            .unwrap();
        match ul {
            dicom_ul::pdu::Pdu::AssociationRQ(rq) => {
                assert_eq!(rq.calling_ae_title, "CT_SCANNER_01");
                assert_eq!(rq.presentation_contexts.len(), 2);
            }
            dicom_ul::pdu::Pdu::AssociationAC(ac) => assert_eq!(ac.presentation_contexts.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
