//! The four-byte PDUs: A-ASSOCIATE-RJ (PS3.8 §9.3.4) and A-ABORT (PS3.8 §9.3.8), read and built.
//! Codes stay raw numbers with named constants so rules can name values this crate does not.

use crate::framer::{FIXED_BODY_LEN, PDU_HEADER_LEN, PduType};

/// Encoded size of every fixed-length PDU, header included.
pub const FIXED_PDU_LEN: usize = PDU_HEADER_LEN + FIXED_BODY_LEN as usize;

/// A-ASSOCIATE-RJ result field (PS3.8 §9.3.4, Table 9-21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RejectResult(pub u8);

impl RejectResult {
    /// 1: rejected-permanent.
    pub const PERMANENT: Self = Self(1);
    /// 2: rejected-transient.
    pub const TRANSIENT: Self = Self(2);
}

/// A-ASSOCIATE-RJ source field (PS3.8 §9.3.4, Table 9-21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RejectSource(pub u8);

impl RejectSource {
    /// 1: DICOM UL service-user.
    pub const SERVICE_USER: Self = Self(1);
    /// 2: DICOM UL service-provider (ACSE related function).
    pub const SERVICE_PROVIDER_ACSE: Self = Self(2);
    /// 3: DICOM UL service-provider (presentation related function).
    pub const SERVICE_PROVIDER_PRESENTATION: Self = Self(3);
}

/// A-ASSOCIATE-RJ reason/diagnostic field; its meaning depends on the source
/// (PS3.8 §9.3.4, Table 9-21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RejectReason(pub u8);

impl RejectReason {
    /// Source 1 or 2: no-reason-given.
    pub const NO_REASON_GIVEN: Self = Self(1);
    /// Source 1: application-context-name-not-supported.
    pub const APPLICATION_CONTEXT_NAME_NOT_SUPPORTED: Self = Self(2);
    /// Source 1: calling-AE-title-not-recognized.
    pub const CALLING_AE_TITLE_NOT_RECOGNIZED: Self = Self(3);
    /// Source 1: called-AE-title-not-recognized.
    pub const CALLED_AE_TITLE_NOT_RECOGNIZED: Self = Self(7);
    /// Source 2: protocol-version-not-supported.
    pub const PROTOCOL_VERSION_NOT_SUPPORTED: Self = Self(2);
    /// Source 3: temporary-congestion.
    pub const TEMPORARY_CONGESTION: Self = Self(1);
    /// Source 3: local-limit-exceeded.
    pub const LOCAL_LIMIT_EXCEEDED: Self = Self(2);
}

/// An A-ASSOCIATE-RJ PDU (PS3.8 §9.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AssociateRj {
    /// Permanent or transient.
    pub result: RejectResult,
    /// Who rejects.
    pub source: RejectSource,
    /// Why, in the source's vocabulary.
    pub reason: RejectReason,
}

impl AssociateRj {
    /// Read the 4-byte body (reserved, result, source, reason).
    pub(crate) fn from_body(body: [u8; 4]) -> Self {
        let [_reserved, result, source, reason] = body;
        Self {
            result: RejectResult(result),
            source: RejectSource(source),
            reason: RejectReason(reason),
        }
    }

    /// The whole PDU on the wire (PS3.8 §9.3.4).
    pub fn encode(&self) -> [u8; FIXED_PDU_LEN] {
        fixed_pdu(
            PduType::ASSOCIATE_RJ,
            [0, self.result.0, self.source.0, self.reason.0],
        )
    }
}

/// A-ABORT source field (PS3.8 §9.3.8, Table 9-26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortSource(pub u8);

impl AbortSource {
    /// 0: DICOM UL service-user (initiated abort).
    pub const SERVICE_USER: Self = Self(0);
    /// 1: reserved.
    pub const RESERVED: Self = Self(1);
    /// 2: DICOM UL service-provider (initiated abort).
    pub const SERVICE_PROVIDER: Self = Self(2);
}

/// A-ABORT reason/diagnostic field, significant when the source is the service-provider
/// (PS3.8 §9.3.8, Table 9-26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortReason(pub u8);

impl AbortReason {
    /// 0: reason-not-specified.
    pub const NOT_SPECIFIED: Self = Self(0);
    /// 1: unrecognized-PDU.
    pub const UNRECOGNIZED_PDU: Self = Self(1);
    /// 2: unexpected-PDU.
    pub const UNEXPECTED_PDU: Self = Self(2);
    /// 4: unrecognized-PDU parameter.
    pub const UNRECOGNIZED_PDU_PARAMETER: Self = Self(4);
    /// 5: unexpected-PDU parameter.
    pub const UNEXPECTED_PDU_PARAMETER: Self = Self(5);
    /// 6: invalid-PDU-parameter value.
    pub const INVALID_PDU_PARAMETER_VALUE: Self = Self(6);
}

/// An A-ABORT PDU (PS3.8 §9.3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Abort {
    /// Who aborts.
    pub source: AbortSource,
    /// Why (service-provider aborts only).
    pub reason: AbortReason,
}

impl Abort {
    /// A service-provider abort, the kind wardgate sends when it refuses a stream.
    pub const fn provider(reason: AbortReason) -> Self {
        Self {
            source: AbortSource::SERVICE_PROVIDER,
            reason,
        }
    }

    /// Read the 4-byte body (two reserved bytes, source, reason).
    pub(crate) fn from_body(body: [u8; 4]) -> Self {
        let [_, _, source, reason] = body;
        Self {
            source: AbortSource(source),
            reason: AbortReason(reason),
        }
    }

    /// The whole PDU on the wire (PS3.8 §9.3.8).
    pub fn encode(&self) -> [u8; FIXED_PDU_LEN] {
        fixed_pdu(PduType::ABORT, [0, 0, self.source.0, self.reason.0])
    }
}

/// The A-RELEASE-RQ PDU on the wire (PS3.8 §9.3.6).
pub fn encode_release_rq() -> [u8; FIXED_PDU_LEN] {
    fixed_pdu(PduType::RELEASE_RQ, [0; 4])
}

/// The A-RELEASE-RP PDU on the wire (PS3.8 §9.3.7).
pub fn encode_release_rp() -> [u8; FIXED_PDU_LEN] {
    fixed_pdu(PduType::RELEASE_RP, [0; 4])
}

fn fixed_pdu(pdu_type: PduType, body: [u8; 4]) -> [u8; FIXED_PDU_LEN] {
    let [b0, b1, b2, b3] = body;
    let [l0, l1, l2, l3] = FIXED_BODY_LEN.to_be_bytes();
    [pdu_type.0, 0, l0, l1, l2, l3, b0, b1, b2, b3]
}
