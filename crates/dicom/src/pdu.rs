//! Decoding one complete PDU into a typed view (PS3.8 §9.3).

use crate::associate::{self, AssociateAc, AssociateError, AssociateRq};
use crate::fixed::{Abort, AbortReason, AssociateRj};
use crate::framer::{FramerError, PDU_HEADER_LEN, PduType, check_body_len};
use crate::limits::MAX_PDU_LEN_CEILING;
use crate::pdata::{Pdv, PdvError, parse_pdvs};

/// One decoded PDU. P-DATA fragments borrow from the caller's buffer; association PDUs own
/// their (small) strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu<'a> {
    /// A-ASSOCIATE-RQ (PS3.8 §9.3.2).
    AssociateRq(AssociateRq),
    /// A-ASSOCIATE-AC (PS3.8 §9.3.3).
    AssociateAc(AssociateAc),
    /// A-ASSOCIATE-RJ (PS3.8 §9.3.4).
    AssociateRj(AssociateRj),
    /// P-DATA-TF: its PDV items in wire order (PS3.8 §9.3.5).
    PDataTf(Vec<Pdv<'a>>),
    /// A-RELEASE-RQ (PS3.8 §9.3.6).
    ReleaseRq,
    /// A-RELEASE-RP (PS3.8 §9.3.7).
    ReleaseRp,
    /// A-ABORT (PS3.8 §9.3.8).
    Abort(Abort),
}

impl Pdu<'_> {
    /// The PDU type byte this view came from.
    pub const fn pdu_type(&self) -> PduType {
        match self {
            Pdu::AssociateRq(_) => PduType::ASSOCIATE_RQ,
            Pdu::AssociateAc(_) => PduType::ASSOCIATE_AC,
            Pdu::AssociateRj(_) => PduType::ASSOCIATE_RJ,
            Pdu::PDataTf(_) => PduType::P_DATA_TF,
            Pdu::ReleaseRq => PduType::RELEASE_RQ,
            Pdu::ReleaseRp => PduType::RELEASE_RP,
            Pdu::Abort(_) => PduType::ABORT,
        }
    }
}

/// A complete PDU whose contents break PS3.8. Every variant is the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// The header is invalid.
    #[error(transparent)]
    Framing(#[from] FramerError),
    /// The buffer is not exactly one PDU (pass `&buf[..info.consumed]`).
    #[error("buffer holds {actual} bytes, the PDU header says {expected}")]
    LengthMismatch {
        /// Header plus declared length.
        expected: u64,
        /// Bytes given.
        actual: usize,
    },
    /// A-ASSOCIATE-RQ/AC contents are invalid.
    #[error("{pdu_type}: {error}")]
    Associate {
        /// RQ or AC.
        pdu_type: PduType,
        /// What is wrong.
        error: AssociateError,
    },
    /// P-DATA-TF contents are invalid.
    #[error("P-DATA-TF: {0}")]
    Pdv(#[from] PdvError),
}

impl PduError {
    /// The A-ABORT reason a service provider sends for this error (PS3.8 §9.3.8).
    pub const fn abort_reason(&self) -> AbortReason {
        match self {
            PduError::Framing(FramerError::UnknownPduType(_)) => AbortReason::UNRECOGNIZED_PDU,
            PduError::Associate {
                error: AssociateError::UnexpectedItem { .. },
                ..
            } => AbortReason::UNRECOGNIZED_PDU_PARAMETER,
            _ => AbortReason::INVALID_PDU_PARAMETER_VALUE,
        }
    }
}

/// Decode one complete PDU, header included: exactly the `consumed` bytes the framer reported.
/// Every length is re-checked, so this is safe on any bytes.
pub fn decode_pdu(pdu: &[u8]) -> Result<Pdu<'_>, PduError> {
    let Some((header, body)) = pdu.split_first_chunk::<PDU_HEADER_LEN>() else {
        return Err(PduError::LengthMismatch {
            expected: PDU_HEADER_LEN as u64,
            actual: pdu.len(),
        });
    };
    let [type_byte, _reserved, l0, l1, l2, l3] = *header;
    let pdu_type = PduType(type_byte);
    let declared = u32::from_be_bytes([l0, l1, l2, l3]);
    if !pdu_type.is_known() {
        return Err(FramerError::UnknownPduType(type_byte).into());
    }
    if declared > MAX_PDU_LEN_CEILING {
        return Err(FramerError::TooLarge {
            pdu_type,
            declared,
            limit: MAX_PDU_LEN_CEILING,
        }
        .into());
    }
    if u64::from(declared) != body.len() as u64 {
        return Err(PduError::LengthMismatch {
            expected: PDU_HEADER_LEN as u64 + u64::from(declared),
            actual: pdu.len(),
        });
    }
    check_body_len(pdu_type, declared)?;
    let fixed = || -> [u8; 4] {
        let mut out = [0u8; 4];
        for (slot, b) in out.iter_mut().zip(body) {
            *slot = *b;
        }
        out
    };
    let associate = |error| PduError::Associate { pdu_type, error };
    Ok(match pdu_type {
        PduType::ASSOCIATE_RQ => Pdu::AssociateRq(associate::decode_rq(pdu).map_err(associate)?),
        PduType::ASSOCIATE_AC => Pdu::AssociateAc(associate::decode_ac(pdu).map_err(associate)?),
        PduType::ASSOCIATE_RJ => Pdu::AssociateRj(AssociateRj::from_body(fixed())),
        PduType::P_DATA_TF => Pdu::PDataTf(parse_pdvs(body)?),
        PduType::RELEASE_RQ => Pdu::ReleaseRq,
        PduType::RELEASE_RP => Pdu::ReleaseRp,
        _ => Pdu::Abort(Abort::from_body(fixed())),
    })
}
