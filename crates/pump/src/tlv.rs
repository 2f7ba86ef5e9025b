//! TLV lists: type (u16 BE), length (u16 BE), value (docs/pump-protocol.md §3).

use core::fmt;

use nom::{IResult, Parser, bytes::complete::take, number::complete::be_u16};

use crate::error::ParseError;
use crate::limits::MAX_TLVS;

/// Bytes of a TLV's type and length fields.
pub const TLV_HEADER_LEN: usize = 4;

/// A TLV type (u16, §3.2). Unknown types stay raw numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvType(pub u16);

macro_rules! tlv_types {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $text:literal; )*) => {
        impl TlvType {
            $( $(#[$doc])* pub const $name: TlvType = TlvType($code); )*

            /// The spec name of a known type.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $code => Some($text), )*
                    _ => None,
                }
            }
        }
    };
}

tlv_types! {
    /// Controller identity (id), optional in HELLO.
    CONTROLLER_ID = 0x0001, "CONTROLLER-ID";
    /// Pump model (id).
    MODEL = 0x0002, "MODEL";
    /// Firmware version (id).
    FIRMWARE_VERSION = 0x0003, "FIRMWARE-VERSION";
    /// Drug library version (id).
    DRUG_LIBRARY_VERSION = 0x0004, "DRUG-LIBRARY-VERSION";
    /// One channel's status: a nested TLV list; the only repeatable type.
    CHANNEL_REPORT = 0x0010, "CHANNEL-REPORT";
    /// Channel number (u8) inside a CHANNEL-REPORT.
    CHANNEL = 0x0011, "CHANNEL";
    /// Channel state (u8).
    CHANNEL_STATE = 0x0012, "CHANNEL-STATE";
    /// Volume infused (quantity, volume).
    VOLUME_INFUSED = 0x0013, "VOLUME-INFUSED";
    /// VTBI remaining (quantity, volume).
    VTBI_REMAINING = 0x0014, "VTBI-REMAINING";
    /// Drug code from the drug library (id).
    DRUG_CODE = 0x0020, "DRUG-CODE";
    /// Concentration (quantity, concentration).
    CONCENTRATION = 0x0021, "CONCENTRATION";
    /// Flow rate (quantity, mL/h).
    RATE = 0x0022, "RATE";
    /// Volume to be infused (quantity, volume).
    VTBI = 0x0023, "VTBI";
    /// Dose rate (quantity, dose rate).
    DOSE_RATE = 0x0024, "DOSE-RATE";
    /// Care area (id).
    CARE_AREA = 0x0025, "CARE-AREA";
    /// Order id (id).
    ORDER_ID = 0x0026, "ORDER-ID";
    /// Patient weight (quantity, kg).
    PATIENT_WEIGHT = 0x0027, "PATIENT-WEIGHT";
    /// Bolus dose (quantity, dose or dose per kg).
    BOLUS_DOSE = 0x0028, "BOLUS-DOSE";
    /// Bolus duration in seconds (u32).
    BOLUS_DURATION = 0x0029, "BOLUS-DURATION";
    /// Parent order id of a bolus (id).
    PARENT_ORDER_ID = 0x002A, "PARENT-ORDER-ID";
    /// Alarm code (u16).
    ALARM_CODE = 0x0030, "ALARM-CODE";
    /// Alarm severity (u8).
    ALARM_SEVERITY = 0x0031, "ALARM-SEVERITY";
    /// Alarm text (text).
    ALARM_TEXT = 0x0032, "ALARM-TEXT";
    /// Configuration key (key).
    CONFIG_KEY = 0x0040, "CONFIG-KEY";
    /// Configuration value (text).
    CONFIG_VALUE = 0x0041, "CONFIG-VALUE";
    /// Transfer id (u32).
    TRANSFER_ID = 0x0050, "TRANSFER-ID";
    /// Chunk index (u32).
    CHUNK_INDEX = 0x0051, "CHUNK-INDEX";
    /// Chunk count (u32).
    CHUNK_COUNT = 0x0052, "CHUNK-COUNT";
    /// Total image size in bytes (u32).
    TOTAL_SIZE = 0x0053, "TOTAL-SIZE";
    /// SHA-256 of the whole image (32 bytes).
    IMAGE_DIGEST = 0x0054, "IMAGE-DIGEST";
    /// Chunk bytes.
    CHUNK_DATA = 0x0055, "CHUNK-DATA";
    /// Version the image installs (id).
    TARGET_VERSION = 0x0056, "TARGET-VERSION";
    /// NAK reason code (u16).
    NAK_REASON = 0x0060, "NAK-REASON";
    /// NAK text (text), e.g. the refusing rule's id.
    NAK_TEXT = 0x0061, "NAK-TEXT";
}

impl TlvType {
    /// True for a type defined by v1.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// True for the types that may appear more than once in one list.
    pub const fn is_repeatable(self) -> bool {
        self.0 == Self::CHANNEL_REPORT.0
    }
}

impl fmt::Display for TlvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "TLV {:#06x}", self.0),
        }
    }
}

/// One raw TLV borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tlv<'a> {
    /// Type code.
    pub tlv_type: TlvType,
    /// Value bytes.
    pub value: &'a [u8],
}

fn tlv(input: &[u8]) -> IResult<&[u8], Tlv<'_>> {
    let (input, (tlv_type, len)) = (be_u16, be_u16).parse(input)?;
    let (input, value) = take(len).parse(input)?;
    Ok((
        input,
        Tlv {
            tlv_type: TlvType(tlv_type),
            value,
        },
    ))
}

/// Split a TLV list, enforcing [`MAX_TLVS`] and the no-duplicates rule (§3.3).
pub(crate) fn parse_list(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, ParseError> {
    let start_len = input.len();
    let mut out: Vec<Tlv<'_>> = Vec::new();
    while !input.is_empty() {
        if out.len() >= MAX_TLVS {
            return Err(ParseError::TooManyTlvs { limit: MAX_TLVS });
        }
        let offset = start_len - input.len();
        let (rest, item) = tlv(input).map_err(|_| ParseError::TruncatedTlv { offset })?;
        if !item.tlv_type.is_repeatable() && out.iter().any(|t| t.tlv_type == item.tlv_type) {
            return Err(ParseError::DuplicateTlv(item.tlv_type));
        }
        out.push(item);
        input = rest;
    }
    Ok(out)
}

/// Append one TLV; the caller guarantees `value.len() <= u16::MAX`.
pub(crate) fn put(out: &mut Vec<u8>, tlv_type: TlvType, value: &[u8]) -> Result<(), TlvTooLong> {
    let len = u16::try_from(value.len()).map_err(|_| TlvTooLong {
        tlv_type,
        len: value.len(),
    })?;
    out.extend_from_slice(&tlv_type.0.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// A value longer than a TLV length can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlvTooLong {
    pub tlv_type: TlvType,
    pub len: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_rules() {
        assert_eq!(parse_list(&[]), Ok(vec![]));
        let one = [0x12, 0x34, 0x00, 0x02, 0xAA, 0xBB];
        assert_eq!(
            parse_list(&one),
            Ok(vec![Tlv {
                tlv_type: TlvType(0x1234),
                value: &[0xAA, 0xBB]
            }])
        );
        assert_eq!(
            parse_list(&one[..5]),
            Err(ParseError::TruncatedTlv { offset: 0 })
        );
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        assert_eq!(
            parse_list(&two),
            Err(ParseError::DuplicateTlv(TlvType(0x1234)))
        );
        let many: Vec<u8> = (0..=MAX_TLVS as u16)
            .flat_map(|t| [(t >> 8) as u8, t as u8, 0, 0])
            .collect();
        assert_eq!(
            parse_list(&many),
            Err(ParseError::TooManyTlvs { limit: MAX_TLVS })
        );
        assert!(parse_list(&many[..MAX_TLVS * 4]).is_ok());
    }
}
