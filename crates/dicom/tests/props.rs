//! Hostile input: no panics anywhere, and builder output always parses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use wardgate_dicom::{
    Abort, AbortReason, AbortSource, AssociateRj, Association, CommandAssembler, CommandField,
    CommandSet, Direction, MessageControl, Pdu, PduFramer, Pdv, RejectReason, RejectResult,
    RejectSource, Status, build_dimse_failure, build_p_data_tf, decode_pdu, parse_pdvs,
};

fn exercise(bytes: &[u8]) {
    let _ = PduFramer::default().next_pdu(bytes);
    let _ = PduFramer::new(100).next_pdu(bytes);
    let _ = parse_pdvs(bytes);
    let _ = CommandSet::parse(bytes);
    if let Ok(pdu) = decode_pdu(bytes) {
        let mut assoc = Association::new();
        let _ = assoc.on_pdu(Direction::FromRequestor, &pdu);
        if let Pdu::PDataTf(pdvs) = &pdu {
            let mut asm = CommandAssembler::new(1024);
            for p in pdvs {
                let _ = asm.push(p);
            }
        }
    }
}

/// Replace bytes of a valid PDU, keeping its header, so mutations reach the item parsers.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    let n = bytes.len();
    for &(pos, val) in edits {
        let pos = 6 + pos % (n - 6);
        bytes[pos] = val;
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_body_behind_a_valid_header_never_panics(
        ty in 1u8..=7,
        body in vec(any::<u8>(), 0..400),
    ) {
        exercise(&common::pdu(ty, &body));
    }

    #[test]
    fn mutated_valid_pdus_never_panic(
        which in 0usize..7,
        edits in vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let pdus = common::valid_pdus();
        exercise(&mutate(pdus[which % pdus.len()].clone(), &edits));
    }

    #[test]
    fn mutated_command_sets_never_panic(edits in vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = common::C_ECHO_RQ.to_vec();
        let n = bytes.len();
        for (pos, val) in edits {
            bytes[pos % n] = val;
        }
        exercise(&bytes);
        exercise(&common::p_data(1, 3, &bytes));
    }

    #[test]
    fn fixed_builders_always_parse(result: u8, source: u8, reason: u8) {
        let rj = AssociateRj {
            result: RejectResult(result),
            source: RejectSource(source),
            reason: RejectReason(reason),
        };
        let bytes = rj.encode();
        prop_assert_eq!(decode_pdu(&bytes).unwrap(), Pdu::AssociateRj(rj));
        let abort = Abort { source: AbortSource(source), reason: AbortReason(reason) };
        let bytes = abort.encode();
        prop_assert_eq!(decode_pdu(&bytes).unwrap(), Pdu::Abort(abort));
    }

    #[test]
    fn p_data_builder_always_parses(
        items in vec((any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64)), 1..10),
    ) {
        let pdvs: Vec<Pdv<'_>> = items
            .iter()
            .map(|(ctx, ctrl, frag)| Pdv { context_id: *ctx, control: MessageControl(*ctrl), fragment: frag })
            .collect();
        let bytes = build_p_data_tf(&pdvs).unwrap();
        prop_assert_eq!(PduFramer::default().next_pdu(&bytes).unwrap().unwrap().consumed, bytes.len());
        prop_assert_eq!(decode_pdu(&bytes).unwrap(), Pdu::PDataTf(pdvs));
    }

    #[test]
    fn dimse_failure_builder_always_parses(
        field in 0u16..0x8000,
        message_id: u16,
        status: u16,
        context in 0u8..=255,
        uid in "[1-9][0-9]{0,5}(\\.[0-9]{1,6}){0,8}",
    ) {
        let req = CommandSet {
            command_field: CommandField(field),
            message_id: Some(message_id),
            message_id_being_responded_to: None,
            affected_sop_class_uid: Some(&uid),
            requested_sop_class_uid: None,
            affected_sop_instance_uid: None,
            requested_sop_instance_uid: None,
            move_destination: None,
            priority: None,
            data_set_type: Some(0),
            status: None,
            other_elements: 0,
        };
        let bytes = build_dimse_failure(&req, context, Status(status)).unwrap();
        let Pdu::PDataTf(pdvs) = decode_pdu(&bytes).unwrap() else { panic!() };
        let rsp = CommandSet::parse(pdvs[0].fragment).unwrap();
        prop_assert_eq!(rsp.command_field, CommandField(field | 0x8000));
        prop_assert_eq!(rsp.message_id_being_responded_to, Some(message_id));
        prop_assert_eq!(rsp.affected_sop_class_uid, Some(uid.as_str()));
        prop_assert_eq!(rsp.status, Some(Status(status)));
    }
}
