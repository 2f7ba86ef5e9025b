//! Sans-IO PDU framer: finds where the next complete PDU ends (PS3.8 §9.3.1).

use core::fmt;

use crate::limits::{DEFAULT_MAX_PDU_LEN, MAX_PDU_LEN_CEILING};

/// Length of the PDU header: type, reserved byte, 4-byte big-endian length (PS3.8 §9.3.1).
pub const PDU_HEADER_LEN: usize = 6;
/// Body length of A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT (PS3.8 §9.3.4, §9.3.6–§9.3.8).
pub const FIXED_BODY_LEN: u32 = 4;
/// Smallest A-ASSOCIATE-RQ/AC body: version, reserved, two AE titles, 32 reserved bytes
/// (PS3.8 §9.3.2, §9.3.3).
pub const MIN_ASSOCIATE_BODY_LEN: u32 = 68;
/// Smallest P-DATA-TF body: one PDV item header with an empty fragment (PS3.8 §9.3.5).
pub const MIN_P_DATA_BODY_LEN: u32 = 6;

/// The PDU-type byte (PS3.8 §9.3.1, Table 9-1). Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PduType(pub u8);

impl PduType {
    /// A-ASSOCIATE-RQ (PS3.8 §9.3.2).
    pub const ASSOCIATE_RQ: Self = Self(0x01);
    /// A-ASSOCIATE-AC (PS3.8 §9.3.3).
    pub const ASSOCIATE_AC: Self = Self(0x02);
    /// A-ASSOCIATE-RJ (PS3.8 §9.3.4).
    pub const ASSOCIATE_RJ: Self = Self(0x03);
    /// P-DATA-TF (PS3.8 §9.3.5).
    pub const P_DATA_TF: Self = Self(0x04);
    /// A-RELEASE-RQ (PS3.8 §9.3.6).
    pub const RELEASE_RQ: Self = Self(0x05);
    /// A-RELEASE-RP (PS3.8 §9.3.7).
    pub const RELEASE_RP: Self = Self(0x06);
    /// A-ABORT (PS3.8 §9.3.8).
    pub const ABORT: Self = Self(0x07);

    /// The PS3.8 name, or `None` for a type PS3.8 does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x01 => "A-ASSOCIATE-RQ",
            0x02 => "A-ASSOCIATE-AC",
            0x03 => "A-ASSOCIATE-RJ",
            0x04 => "P-DATA-TF",
            0x05 => "A-RELEASE-RQ",
            0x06 => "A-RELEASE-RP",
            0x07 => "A-ABORT",
            _ => return None,
        })
    }

    /// Whether PS3.8 defines this type.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for PduType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "PDU type {:#04x}", self.0),
        }
    }
}

/// The sender's bytes do not form a valid PDU header. Every variant is the sender's fault;
/// the stream cannot be resynchronised, so the connection is aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramerError {
    /// A PDU type PS3.8 does not define (reported on the first byte).
    #[error("sender sent unknown PDU type {0:#04x}")]
    UnknownPduType(u8),
    /// The declared length exceeds the configured limit.
    ///
    /// Refused as soon as the length bytes that have arrived prove it: `declared` is the
    /// smallest length consistent with them (the exact length once all four are in).
    #[error("sender declared a {pdu_type} of at least {declared} bytes, limit is {limit}")]
    TooLarge {
        /// The PDU type.
        pdu_type: PduType,
        /// Declared body length (a lower bound while the field is incomplete).
        declared: u32,
        /// The configured limit.
        limit: u32,
    },
    /// An A-ASSOCIATE-RJ, A-RELEASE-RQ/RP or A-ABORT whose length is not 4.
    #[error("sender declared a {pdu_type} of {declared} bytes, it must be {FIXED_BODY_LEN}")]
    BadFixedLength {
        /// The PDU type.
        pdu_type: PduType,
        /// Declared body length.
        declared: u32,
    },
    /// A body shorter than the PDU's fixed fields.
    #[error("sender declared a {pdu_type} of {declared} bytes, minimum is {minimum}")]
    TooShort {
        /// The PDU type.
        pdu_type: PduType,
        /// Declared body length.
        declared: u32,
        /// The smallest valid body.
        minimum: u32,
    },
}

/// Where a complete PDU lies at the start of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduInfo {
    /// The PDU type (always one PS3.8 defines).
    pub pdu_type: PduType,
    /// Bytes of the whole PDU, header included: decode `&buf[..consumed]`, then drop them.
    pub consumed: usize,
}

/// Sans-IO PDU boundary finder.
///
/// The caller keeps a buffer whose first byte starts the next PDU and calls
/// [`PduFramer::next_pdu`] after every read; after `Ok(Some(info))` it decodes
/// `&buf[..info.consumed]` and removes those bytes. The type is judged on the first byte and the
/// declared length as each length byte arrives, so nothing is ever awaited or buffered for a
/// PDU that will be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduFramer {
    max_pdu_len: u32,
}

impl Default for PduFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PDU_LEN)
    }
}

impl PduFramer {
    /// A framer refusing PDU bodies over `max_pdu_len` bytes (capped at
    /// [`MAX_PDU_LEN_CEILING`], raised to the smallest valid A-ASSOCIATE body).
    pub const fn new(max_pdu_len: u32) -> Self {
        let max_pdu_len = if max_pdu_len > MAX_PDU_LEN_CEILING {
            MAX_PDU_LEN_CEILING
        } else if max_pdu_len < MIN_ASSOCIATE_BODY_LEN {
            MIN_ASSOCIATE_BODY_LEN
        } else {
            max_pdu_len
        };
        Self { max_pdu_len }
    }

    /// The body-length limit in bytes.
    pub const fn max_pdu_len(&self) -> u32 {
        self.max_pdu_len
    }

    /// Find the next complete PDU at the start of `buf`; `Ok(None)` means more bytes needed.
    pub fn next_pdu(&self, buf: &[u8]) -> Result<Option<PduInfo>, FramerError> {
        let Some(&type_byte) = buf.first() else {
            return Ok(None);
        };
        let pdu_type = PduType(type_byte);
        if !pdu_type.is_known() {
            return Err(FramerError::UnknownPduType(type_byte));
        }
        let mut field = [0u8; 4];
        for (slot, &b) in field.iter_mut().zip(buf.get(2..).unwrap_or(&[])) {
            *slot = b;
        }
        // Missing low bytes count as zero: the smallest length the bytes so far allow.
        let declared = u32::from_be_bytes(field);
        if declared > self.max_pdu_len {
            return Err(FramerError::TooLarge {
                pdu_type,
                declared,
                limit: self.max_pdu_len,
            });
        }
        if buf.len() < PDU_HEADER_LEN {
            return Ok(None);
        }
        check_body_len(pdu_type, declared)?;
        // declared <= MAX_PDU_LEN_CEILING, so the sum cannot overflow.
        let consumed = PDU_HEADER_LEN + declared as usize;
        if buf.len() < consumed {
            return Ok(None);
        }
        Ok(Some(PduInfo { pdu_type, consumed }))
    }
}

/// Check a declared body length against the fixed or minimum length of its type.
pub(crate) fn check_body_len(pdu_type: PduType, declared: u32) -> Result<(), FramerError> {
    let minimum = match pdu_type {
        PduType::ASSOCIATE_RJ | PduType::RELEASE_RQ | PduType::RELEASE_RP | PduType::ABORT => {
            if declared != FIXED_BODY_LEN {
                return Err(FramerError::BadFixedLength { pdu_type, declared });
            }
            return Ok(());
        }
        PduType::ASSOCIATE_RQ | PduType::ASSOCIATE_AC => MIN_ASSOCIATE_BODY_LEN,
        PduType::P_DATA_TF => MIN_P_DATA_BODY_LEN,
        _ => return Err(FramerError::UnknownPduType(pdu_type.0)),
    };
    if declared < minimum {
        return Err(FramerError::TooShort {
            pdu_type,
            declared,
            minimum,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_is_judged_on_the_first_byte() {
        let f = PduFramer::default();
        assert_eq!(f.next_pdu(b""), Ok(None));
        assert_eq!(f.next_pdu(&[0x01]), Ok(None));
        assert_eq!(f.next_pdu(&[0x00]), Err(FramerError::UnknownPduType(0)));
        assert_eq!(f.next_pdu(&[0x08]), Err(FramerError::UnknownPduType(8)));
    }

    #[test]
    fn huge_length_refused_on_first_length_byte() {
        let f = PduFramer::default();
        assert_eq!(
            f.next_pdu(&[0x04, 0x00, 0x01]),
            Err(FramerError::TooLarge {
                pdu_type: PduType::P_DATA_TF,
                declared: 0x0100_0000,
                limit: DEFAULT_MAX_PDU_LEN
            })
        );
    }

    #[test]
    fn configured_limit_is_clamped() {
        assert_eq!(PduFramer::new(u32::MAX).max_pdu_len(), MAX_PDU_LEN_CEILING);
        assert_eq!(PduFramer::new(0).max_pdu_len(), MIN_ASSOCIATE_BODY_LEN);
        assert_eq!(PduFramer::new(16_384).max_pdu_len(), 16_384);
    }
}
