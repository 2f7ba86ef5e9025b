//! DIMSE command sets: implicit VR little endian, group 0000 only, every length bounded
//! (PS3.7 §6.3.1, §E.1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardgate_dicom::{CommandError, CommandField, CommandSet, Priority, Status, tag};

#[test]
fn c_echo_rq() {
    let cmd = CommandSet::parse(C_ECHO_RQ).unwrap();
    assert_eq!(cmd.command_field, CommandField::C_ECHO_RQ);
    assert_eq!(cmd.command_field.to_string(), "C-ECHO-RQ");
    assert_eq!(cmd.message_id, Some(1));
    assert_eq!(cmd.affected_sop_class_uid, Some(VERIFICATION));
    assert!(!cmd.has_data_set());
}

fn c_store_rq() -> Vec<u8> {
    command(&[
        el(tag::AFFECTED_SOP_CLASS_UID, &ui(CT_IMAGE_STORAGE)),
        el(tag::COMMAND_FIELD, &us(0x0001)),
        el(tag::MESSAGE_ID, &us(7)),
        el(tag::PRIORITY, &us(0)),
        el(tag::COMMAND_DATA_SET_TYPE, &us(0x0000)),
        el(
            tag::AFFECTED_SOP_INSTANCE_UID,
            &ui("1.2.826.0.1.3680043.2.1125.1.42"),
        ),
    ])
}

#[test]
fn c_store_rq_names_class_and_instance() {
    let bytes = c_store_rq();
    let cmd = CommandSet::parse(&bytes).unwrap();
    assert_eq!(cmd.command_field, CommandField::C_STORE_RQ);
    assert_eq!(cmd.affected_sop_class_uid, Some(CT_IMAGE_STORAGE));
    assert_eq!(
        cmd.affected_sop_instance_uid,
        Some("1.2.826.0.1.3680043.2.1125.1.42")
    );
    assert_eq!(cmd.priority, Some(Priority::MEDIUM));
    assert!(cmd.has_data_set());
}

#[test]
fn c_move_rq_carries_its_destination() {
    let bytes = command(&[
        el(
            tag::AFFECTED_SOP_CLASS_UID,
            &ui("1.2.840.10008.5.1.4.1.2.2.2"),
        ),
        el(tag::COMMAND_FIELD, &us(0x0021)),
        el(tag::MESSAGE_ID, &us(3)),
        el(tag::MOVE_DESTINATION, b"EXFIL_STATION   "),
        el(tag::PRIORITY, &us(1)),
        el(tag::COMMAND_DATA_SET_TYPE, &us(0x0001)),
    ]);
    let cmd = CommandSet::parse(&bytes).unwrap();
    assert_eq!(cmd.command_field, CommandField::C_MOVE_RQ);
    assert_eq!(cmd.move_destination, Some("EXFIL_STATION"));
    assert_eq!(cmd.priority, Some(Priority::HIGH));
}

#[test]
fn c_find_rsp_pending() {
    let bytes = command(&[
        el(
            tag::AFFECTED_SOP_CLASS_UID,
            &ui("1.2.840.10008.5.1.4.1.2.2.1"),
        ),
        el(tag::COMMAND_FIELD, &us(0x8020)),
        el(tag::MESSAGE_ID_BEING_RESPONDED_TO, &us(5)),
        el(tag::COMMAND_DATA_SET_TYPE, &us(0x0000)),
        el(tag::STATUS, &us(0xFF00)),
    ]);
    let cmd = CommandSet::parse(&bytes).unwrap();
    assert_eq!(cmd.command_field, CommandField::C_FIND_RSP);
    assert!(cmd.command_field.is_response());
    assert_eq!(cmd.command_field.request(), CommandField::C_FIND_RQ);
    assert_eq!(cmd.message_id_being_responded_to, Some(5));
    assert_eq!(cmd.status, Some(Status::PENDING));
    assert!(cmd.status.unwrap().is_pending());
}

#[test]
fn huge_element_length_is_refused_without_allocating() {
    // 92 bytes that once cost another parser 4.1 GB: a value length of 0xFFFFFFF0.
    let mut bytes = C_ECHO_RQ.to_vec();
    bytes[16..20].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::ElementTooLong {
            element: 0x0002,
            length: 0xFFFF_FFF0,
            limit: 4096
        })
    );
    // Within the limit but beyond the bytes present.
    bytes[16..20].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(
        CommandSet::parse(&bytes),
        Err(CommandError::TruncatedValue {
            element: 2,
            length: 1000,
            ..
        })
    ));
}

#[test]
fn group_length_must_match() {
    let mut bytes = C_ECHO_RQ.to_vec();
    bytes[8] = 0x37;
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::GroupLength {
            declared: 0x37,
            actual: 0x38
        })
    );
}

#[test]
fn elements_outside_group_0000_are_refused() {
    let mut bytes = el(tag::COMMAND_FIELD, &us(0x0030));
    bytes.extend([0x08, 0x00, 0x18, 0x00, 0, 0, 0, 0]);
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::NotCommandGroup {
            group: 0x0008,
            element: 0x0018
        })
    );
}

#[test]
fn repeated_or_unordered_elements_are_refused() {
    // Two command fields: a rule and the receiver could see different commands.
    let bytes = [
        el(tag::COMMAND_FIELD, &us(0x0030)),
        el(tag::COMMAND_FIELD, &us(0x0001)),
    ]
    .concat();
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::OutOfOrder { element: 0x0100 })
    );
    let bytes = [
        el(tag::MESSAGE_ID, &us(1)),
        el(tag::COMMAND_FIELD, &us(0x30)),
    ]
    .concat();
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::OutOfOrder { element: 0x0100 })
    );
}

#[test]
fn wrong_value_sizes_and_missing_command_field_are_refused() {
    let bytes = el(tag::COMMAND_FIELD, &[0x30, 0, 0, 0]);
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::BadValueLength {
            element: 0x0100,
            length: 4,
            expected: 2
        })
    );
    assert_eq!(
        CommandSet::parse(&el(tag::MESSAGE_ID, &us(1))),
        Err(CommandError::MissingCommandField)
    );
    let bytes = [
        el(tag::AFFECTED_SOP_CLASS_UID, b"../../etc/passwd"),
        el(tag::COMMAND_FIELD, &us(0x0001)),
    ]
    .concat();
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::BadValue { element: 0x0002 })
    );
}

#[test]
fn too_many_elements_are_refused() {
    let bytes: Vec<u8> = (0x2000..0x2100u16).flat_map(|e| el(e, &[])).collect();
    assert_eq!(
        CommandSet::parse(&bytes),
        Err(CommandError::TooManyElements { limit: 64 })
    );
}

#[test]
fn truncated_header_is_refused() {
    assert_eq!(
        CommandSet::parse(&C_ECHO_RQ[12..12 + 26 + 10 + 4]),
        Err(CommandError::TruncatedHeader { offset: 36 })
    );
}
