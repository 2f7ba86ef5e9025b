//! Builders: what wardgate sends parses with its own parsers and with dicom-ul.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dicom_ul::pdu::{self as ul, read_pdu};
use wardgate_dicom::{
    Abort, AbortReason, AbortSource, AssociateRj, CommandField, CommandSet, DATA_SET_TYPE_NONE,
    EncodeError, Pdu, PduFramer, RejectReason, RejectResult, RejectSource, Status, build_abort,
    build_associate_rj, build_dimse_failure, decode_pdu, encode_command_set, encode_release_rp,
    encode_release_rq, tag,
};

fn framed_once(bytes: &[u8]) {
    let info = PduFramer::default().next_pdu(bytes).unwrap().unwrap();
    assert_eq!(info.consumed, bytes.len());
}

#[test]
fn associate_rj_round_trips() {
    let bytes = build_associate_rj(
        RejectResult::PERMANENT,
        RejectSource::SERVICE_USER,
        RejectReason::CALLING_AE_TITLE_NOT_RECOGNIZED,
    );
    assert_eq!(bytes, [0x03, 0, 0, 0, 0, 4, 0, 1, 1, 3]);
    framed_once(&bytes);
    assert_eq!(
        decode_pdu(&bytes).unwrap(),
        Pdu::AssociateRj(AssociateRj {
            result: RejectResult::PERMANENT,
            source: RejectSource::SERVICE_USER,
            reason: RejectReason::CALLING_AE_TITLE_NOT_RECOGNIZED,
        })
    );
    let Some(ul::Pdu::AssociationRJ(rj)) = read_pdu(&bytes[..], 16_384, true).unwrap() else {
        panic!("dicom-ul sees an RJ")
    };
    assert_eq!(rj.result, ul::AssociationRJResult::Permanent);
    assert_eq!(
        rj.source,
        ul::AssociationRJSource::ServiceUser(
            ul::AssociationRJServiceUserReason::CallingAETitleNotRecognized
        )
    );
}

#[test]
fn abort_round_trips() {
    let bytes = build_abort(AbortSource::SERVICE_PROVIDER, AbortReason::UNEXPECTED_PDU);
    assert_eq!(bytes, [0x07, 0, 0, 0, 0, 4, 0, 0, 2, 2]);
    framed_once(&bytes);
    assert_eq!(
        decode_pdu(&bytes).unwrap(),
        Pdu::Abort(Abort::provider(AbortReason::UNEXPECTED_PDU))
    );
    let Some(ul::Pdu::AbortRQ { source }) = read_pdu(&bytes[..], 16_384, true).unwrap() else {
        panic!("dicom-ul sees an abort")
    };
    assert_eq!(
        source,
        ul::AbortRQSource::ServiceProvider(ul::AbortRQServiceProviderReason::UnexpectedPdu)
    );
}

#[test]
fn release_pdus_round_trip() {
    assert_eq!(decode_pdu(&encode_release_rq()).unwrap(), Pdu::ReleaseRq);
    assert_eq!(decode_pdu(&encode_release_rp()).unwrap(), Pdu::ReleaseRp);
    assert_eq!(
        read_pdu(&encode_release_rq()[..], 16_384, true).unwrap(),
        Some(ul::Pdu::ReleaseRQ)
    );
}

fn refusal_of(request: &[u8], status: Status) -> (Vec<u8>, u8) {
    let req = CommandSet::parse(request).unwrap();
    (build_dimse_failure(&req, 3, status).unwrap(), 3)
}

#[test]
fn dimse_failure_answers_the_request() {
    let store = command(&[
        el(tag::AFFECTED_SOP_CLASS_UID, &ui(CT_IMAGE_STORAGE)),
        el(tag::COMMAND_FIELD, &us(0x0001)),
        el(tag::MESSAGE_ID, &us(42)),
        el(tag::PRIORITY, &us(0)),
        el(tag::COMMAND_DATA_SET_TYPE, &us(0)),
        el(tag::AFFECTED_SOP_INSTANCE_UID, &ui("1.2.3.4.5")),
    ]);
    for status in [
        Status::SOP_CLASS_NOT_SUPPORTED,
        Status::MOVE_DESTINATION_UNKNOWN,
        Status::CANNOT_UNDERSTAND,
    ] {
        let (bytes, ctx) = refusal_of(&store, status);
        framed_once(&bytes);
        let Pdu::PDataTf(pdvs) = decode_pdu(&bytes).unwrap() else {
            panic!("P-DATA expected")
        };
        assert_eq!(pdvs.len(), 1);
        assert_eq!(pdvs[0].context_id, ctx);
        assert!(pdvs[0].is_command() && pdvs[0].is_last());
        // Our parser checks the group length, so this also proves it is correct.
        let rsp = CommandSet::parse(pdvs[0].fragment).unwrap();
        assert_eq!(rsp.command_field, CommandField::C_STORE_RSP);
        assert_eq!(rsp.message_id_being_responded_to, Some(42));
        assert_eq!(rsp.affected_sop_class_uid, Some(CT_IMAGE_STORAGE));
        assert_eq!(rsp.affected_sop_instance_uid, Some("1.2.3.4.5"));
        assert_eq!(rsp.data_set_type, Some(DATA_SET_TYPE_NONE));
        assert_eq!(rsp.status, Some(status));
        assert_eq!(rsp.message_id, None);

        let Some(ul::Pdu::PData { data }) = read_pdu(&bytes[..], 16_384, true).unwrap() else {
            panic!("dicom-ul sees a P-DATA")
        };
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].presentation_context_id, ctx);
        assert!(data[0].is_last);
        assert_eq!(data[0].value_type, ul::PDataValueType::Command);
        assert_eq!(data[0].data, pdvs[0].fragment);
    }
}

#[test]
fn c_echo_refusal_has_an_exact_encoding() {
    let (bytes, _) = refusal_of(C_ECHO_RQ, Status::SOP_CLASS_NOT_SUPPORTED);
    let Pdu::PDataTf(pdvs) = decode_pdu(&bytes).unwrap() else {
        panic!()
    };
    let expected = command(&[
        el(tag::AFFECTED_SOP_CLASS_UID, &ui(VERIFICATION)),
        el(tag::COMMAND_FIELD, &us(0x8030)),
        el(tag::MESSAGE_ID_BEING_RESPONDED_TO, &us(1)),
        el(tag::COMMAND_DATA_SET_TYPE, &us(0x0101)),
        el(tag::STATUS, &us(0x0122)),
    ]);
    assert_eq!(pdvs[0].fragment, &expected[..]);
}

#[test]
fn responses_and_anonymous_requests_cannot_be_refused() {
    let rsp = command(&[
        el(tag::COMMAND_FIELD, &us(0x8030)),
        el(tag::MESSAGE_ID_BEING_RESPONDED_TO, &us(1)),
    ]);
    let rsp = CommandSet::parse(&rsp).unwrap();
    assert_eq!(
        build_dimse_failure(&rsp, 1, Status::CANNOT_UNDERSTAND),
        Err(EncodeError::NotARequest(CommandField::C_ECHO_RSP))
    );
    let anon = el(tag::COMMAND_FIELD, &us(0x0030));
    let anon = CommandSet::parse(&anon).unwrap();
    assert_eq!(
        build_dimse_failure(&anon, 1, Status::CANNOT_UNDERSTAND),
        Err(EncodeError::MissingMessageId)
    );
}

#[test]
fn command_set_encoding_round_trips() {
    let cmd = CommandSet::parse(C_ECHO_RQ).unwrap();
    assert_eq!(encode_command_set(&cmd).unwrap(), C_ECHO_RQ);
}
