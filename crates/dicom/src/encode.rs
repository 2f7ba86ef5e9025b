//! Builders: command sets, P-DATA-TF, and the refusals wardgate sends (PS3.7 §9.3, PS3.8 §9.3).

use crate::command::{CommandField, CommandSet, DATA_SET_TYPE_NONE, Status, tag};
use crate::fixed::{Abort, AbortReason, AbortSource, AssociateRj, FIXED_PDU_LEN};
use crate::fixed::{RejectReason, RejectResult, RejectSource};
use crate::framer::{PDU_HEADER_LEN, PduType};
use crate::limits::{MAX_COMMAND_ELEMENT_LEN, MAX_PDU_LEN_CEILING, MAX_PDVS_PER_PDU};
use crate::pdata::{MessageControl, PDV_HEADER_LEN, Pdv};
use crate::text::{ae_title, uid_str};

/// A value the builders refuse to put on the wire. The caller's fault, never a peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A refusal was asked for a command that is itself a response.
    #[error("{0} is a response; only requests can be refused")]
    NotARequest(CommandField),
    /// The request to refuse has no message id.
    #[error("the request has no message id")]
    MissingMessageId,
    /// A UID or AE title that is not valid.
    #[error("element (0000,{element:04x}) would hold an invalid value")]
    BadValue {
        /// Element number.
        element: u16,
    },
    /// More PDVs than [`MAX_PDVS_PER_PDU`], or no PDV.
    #[error("a P-DATA-TF needs 1 to {MAX_PDVS_PER_PDU} PDV items")]
    PdvCount,
    /// The PDU would exceed [`MAX_PDU_LEN_CEILING`].
    #[error("the PDU would exceed the PDU length ceiling")]
    TooLarge,
}

/// Build an A-ASSOCIATE-RJ PDU (PS3.8 §9.3.4).
pub fn build_associate_rj(
    result: RejectResult,
    source: RejectSource,
    reason: RejectReason,
) -> [u8; FIXED_PDU_LEN] {
    AssociateRj {
        result,
        source,
        reason,
    }
    .encode()
}

/// Build an A-ABORT PDU (PS3.8 §9.3.8).
pub fn build_abort(source: AbortSource, reason: AbortReason) -> [u8; FIXED_PDU_LEN] {
    Abort { source, reason }.encode()
}

/// Build a P-DATA-TF PDU from PDV items (PS3.8 §9.3.5).
pub fn build_p_data_tf(pdvs: &[Pdv<'_>]) -> Result<Vec<u8>, EncodeError> {
    if pdvs.is_empty() || pdvs.len() > MAX_PDVS_PER_PDU {
        return Err(EncodeError::PdvCount);
    }
    let body: usize = pdvs.iter().map(|p| PDV_HEADER_LEN + p.fragment.len()).sum();
    let body_len = u32::try_from(body)
        .ok()
        .filter(|&l| l <= MAX_PDU_LEN_CEILING)
        .ok_or(EncodeError::TooLarge)?;
    let mut out = Vec::with_capacity(PDU_HEADER_LEN + body);
    out.extend_from_slice(&[PduType::P_DATA_TF.0, 0]);
    out.extend_from_slice(&body_len.to_be_bytes());
    for pdv in pdvs {
        // fragment.len() + 2 <= body_len, checked above.
        let item_len = u32::try_from(pdv.fragment.len() + 2).map_err(|_| EncodeError::TooLarge)?;
        out.extend_from_slice(&item_len.to_be_bytes());
        out.extend_from_slice(&[pdv.context_id, pdv.control.0]);
        out.extend_from_slice(pdv.fragment);
    }
    Ok(out)
}

/// Encode a command set in implicit VR little endian with a correct (0000,0000) group length
/// (PS3.7 §6.3.1). Elements this view does not name (`other_elements`) are not reproduced.
pub fn encode_command_set(cmd: &CommandSet<'_>) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer(Vec::new());
    if let Some(v) = cmd.affected_sop_class_uid {
        w.ui(tag::AFFECTED_SOP_CLASS_UID, v)?;
    }
    if let Some(v) = cmd.requested_sop_class_uid {
        w.ui(tag::REQUESTED_SOP_CLASS_UID, v)?;
    }
    w.us(tag::COMMAND_FIELD, cmd.command_field.0);
    w.opt_us(tag::MESSAGE_ID, cmd.message_id);
    w.opt_us(
        tag::MESSAGE_ID_BEING_RESPONDED_TO,
        cmd.message_id_being_responded_to,
    );
    if let Some(v) = cmd.move_destination {
        w.ae(tag::MOVE_DESTINATION, v)?;
    }
    w.opt_us(tag::PRIORITY, cmd.priority.map(|p| p.0));
    w.opt_us(tag::COMMAND_DATA_SET_TYPE, cmd.data_set_type);
    w.opt_us(tag::STATUS, cmd.status.map(|s| s.0));
    if let Some(v) = cmd.affected_sop_instance_uid {
        w.ui(tag::AFFECTED_SOP_INSTANCE_UID, v)?;
    }
    if let Some(v) = cmd.requested_sop_instance_uid {
        w.ui(tag::REQUESTED_SOP_INSTANCE_UID, v)?;
    }
    let elements = w.0;
    let group_len = u32::try_from(elements.len()).map_err(|_| EncodeError::TooLarge)?;
    let mut out = Vec::with_capacity(12 + elements.len());
    push_header(&mut out, tag::COMMAND_GROUP_LENGTH, 4);
    out.extend_from_slice(&group_len.to_le_bytes());
    out.extend_from_slice(&elements);
    Ok(out)
}

/// The response command set refusing `request` with a failure `status` (PS3.7 §9.3): command
/// field with the response bit, message id being responded to, affected SOP class (and
/// instance) UID echoed — the requested ones for N-services — and no data set.
pub fn dimse_failure_response<'a>(
    request: &CommandSet<'a>,
    status: Status,
) -> Result<CommandSet<'a>, EncodeError> {
    if request.command_field.is_response() {
        return Err(EncodeError::NotARequest(request.command_field));
    }
    let message_id = request.message_id.ok_or(EncodeError::MissingMessageId)?;
    Ok(CommandSet {
        command_field: request.command_field.response(),
        message_id: None,
        message_id_being_responded_to: Some(message_id),
        affected_sop_class_uid: request
            .affected_sop_class_uid
            .or(request.requested_sop_class_uid),
        requested_sop_class_uid: None,
        affected_sop_instance_uid: request
            .affected_sop_instance_uid
            .or(request.requested_sop_instance_uid),
        requested_sop_instance_uid: None,
        move_destination: None,
        priority: None,
        data_set_type: Some(DATA_SET_TYPE_NONE),
        status: Some(status),
        other_elements: 0,
    })
}

/// Build the P-DATA-TF that refuses `request`: one command PDV (last fragment) on
/// `context_id` holding [`dimse_failure_response`].
pub fn build_dimse_failure(
    request: &CommandSet<'_>,
    context_id: u8,
    status: Status,
) -> Result<Vec<u8>, EncodeError> {
    let response = dimse_failure_response(request, status)?;
    let bytes = encode_command_set(&response)?;
    build_p_data_tf(&[Pdv {
        context_id,
        control: MessageControl::new(true, true),
        fragment: &bytes,
    }])
}

fn push_header(out: &mut Vec<u8>, element: u16, len: u32) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
}

struct Writer(Vec<u8>);

impl Writer {
    fn us(&mut self, element: u16, v: u16) {
        push_header(&mut self.0, element, 2);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn opt_us(&mut self, element: u16, v: Option<u16>) {
        if let Some(v) = v {
            self.us(element, v);
        }
    }

    /// A padded value: NUL for UI, space for AE (PS3.5 §6.2).
    fn padded(&mut self, element: u16, v: &str, pad: u8) -> Result<(), EncodeError> {
        let len = v.len() + v.len() % 2;
        let len = u32::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_COMMAND_ELEMENT_LEN)
            .ok_or(EncodeError::BadValue { element })?;
        push_header(&mut self.0, element, len);
        self.0.extend_from_slice(v.as_bytes());
        if v.len() % 2 == 1 {
            self.0.push(pad);
        }
        Ok(())
    }

    fn ui(&mut self, element: u16, v: &str) -> Result<(), EncodeError> {
        if uid_str(v.as_bytes()) != Some(v) {
            return Err(EncodeError::BadValue { element });
        }
        self.padded(element, v, 0)
    }

    fn ae(&mut self, element: u16, v: &str) -> Result<(), EncodeError> {
        if ae_title(v.as_bytes()) != Ok(v) {
            return Err(EncodeError::BadValue { element });
        }
        self.padded(element, v, b' ')
    }
}
