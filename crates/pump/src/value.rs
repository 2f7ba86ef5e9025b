//! Typed TLV values: integers, identifiers, text, keys, quantities (docs/pump-protocol.md §3.4).

use crate::error::{ParseError, StringError};
use crate::header::CommandCode;
use crate::limits::{MAX_ID_LEN, MAX_QUANTITY_MILLI, MAX_TEXT_LEN};
use crate::tlv::{Tlv, TlvType};
use crate::units::{Quantity, Unit, UnitKind};

fn fixed<const N: usize>(tlv: TlvType, bytes: &[u8]) -> Result<[u8; N], ParseError> {
    <[u8; N]>::try_from(bytes).map_err(|_| ParseError::TlvLength {
        tlv,
        expected: N,
        found: bytes.len(),
    })
}

pub(crate) fn u8_value(tlv: TlvType, bytes: &[u8]) -> Result<u8, ParseError> {
    fixed::<1>(tlv, bytes).map(|[b]| b)
}

pub(crate) fn u16_value(tlv: TlvType, bytes: &[u8]) -> Result<u16, ParseError> {
    fixed::<2>(tlv, bytes).map(u16::from_be_bytes)
}

pub(crate) fn u32_value(tlv: TlvType, bytes: &[u8]) -> Result<u32, ParseError> {
    fixed::<4>(tlv, bytes).map(u32::from_be_bytes)
}

pub(crate) fn digest_value(tlv: TlvType, bytes: &[u8]) -> Result<[u8; 32], ParseError> {
    fixed::<32>(tlv, bytes)
}

/// Identifier rules (§3.4): 1..=MAX_ID_LEN bytes of 0x20..=0x7E, no leading or trailing space.
pub fn check_id(bytes: &[u8]) -> Result<&str, StringError> {
    if bytes.is_empty() {
        return Err(StringError::Empty);
    }
    if bytes.len() > MAX_ID_LEN {
        return Err(StringError::TooLong { len: bytes.len() });
    }
    if let Some((offset, &byte)) = bytes
        .iter()
        .enumerate()
        .find(|(_, b)| !(0x20..=0x7E).contains(*b))
    {
        return Err(StringError::BadByte { offset, byte });
    }
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return Err(StringError::EdgeSpace);
    }
    core::str::from_utf8(bytes).map_err(|e| StringError::BadText {
        offset: e.valid_up_to(),
    })
}

/// Configuration key rules (§3.4): 1..=MAX_ID_LEN bytes of `[A-Za-z0-9._-]`.
pub fn check_key(bytes: &[u8]) -> Result<&str, StringError> {
    if bytes.is_empty() {
        return Err(StringError::Empty);
    }
    if bytes.len() > MAX_ID_LEN {
        return Err(StringError::TooLong { len: bytes.len() });
    }
    if let Some((offset, &byte)) = bytes
        .iter()
        .enumerate()
        .find(|(_, b)| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        return Err(StringError::BadByte { offset, byte });
    }
    core::str::from_utf8(bytes).map_err(|e| StringError::BadText {
        offset: e.valid_up_to(),
    })
}

/// Text rules (§3.4): 0..=MAX_TEXT_LEN bytes of UTF-8 without control characters.
pub fn check_text(bytes: &[u8]) -> Result<&str, StringError> {
    if bytes.len() > MAX_TEXT_LEN {
        return Err(StringError::TooLong { len: bytes.len() });
    }
    let text = core::str::from_utf8(bytes).map_err(|e| StringError::BadText {
        offset: e.valid_up_to(),
    })?;
    if let Some((offset, _)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(StringError::BadText { offset });
    }
    Ok(text)
}

pub(crate) fn id_value(tlv: TlvType, bytes: &[u8]) -> Result<&str, ParseError> {
    check_id(bytes).map_err(|error| ParseError::BadString { tlv, error })
}

pub(crate) fn key_value(tlv: TlvType, bytes: &[u8]) -> Result<&str, ParseError> {
    check_key(bytes).map_err(|error| ParseError::BadString { tlv, error })
}

pub(crate) fn text_value(tlv: TlvType, bytes: &[u8]) -> Result<&str, ParseError> {
    check_text(bytes).map_err(|error| ParseError::BadString { tlv, error })
}

/// A quantity whose unit must be of one of `kinds` (§5).
pub(crate) fn quantity_value(
    tlv: TlvType,
    bytes: &[u8],
    kinds: &[UnitKind],
) -> Result<Quantity, ParseError> {
    let [m0, m1, m2, m3, u0, u1] = fixed::<{ Quantity::WIRE_LEN }>(tlv, bytes)?;
    let milli = u32::from_be_bytes([m0, m1, m2, m3]);
    let code = u16::from_be_bytes([u0, u1]);
    let unit = Unit::from_code(code).ok_or(ParseError::UnknownUnit { tlv, unit: code })?;
    if !kinds.contains(&unit.kind()) {
        return Err(ParseError::WrongUnitKind { tlv, unit });
    }
    if milli > MAX_QUANTITY_MILLI {
        return Err(ParseError::QuantityOutOfRange { tlv, milli });
    }
    Quantity::new(milli, unit).map_err(|_| ParseError::QuantityOutOfRange { tlv, milli })
}

/// The TLVs of one list, taken out one type at a time by a command parser.
pub(crate) struct Fields<'a> {
    code: CommandCode,
    items: Vec<Option<Tlv<'a>>>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(code: CommandCode, tlvs: Vec<Tlv<'a>>) -> Self {
        Self {
            code,
            items: tlvs.into_iter().map(Some).collect(),
        }
    }

    /// Remove and return the value of a non-repeatable type.
    pub(crate) fn take(&mut self, tlv: TlvType) -> Option<&'a [u8]> {
        self.items
            .iter_mut()
            .find(|slot| slot.is_some_and(|t| t.tlv_type == tlv))
            .and_then(Option::take)
            .map(|t| t.value)
    }

    /// Remove and return every value of a repeatable type, in wire order.
    pub(crate) fn take_all(&mut self, tlv: TlvType) -> Vec<&'a [u8]> {
        self.items
            .iter_mut()
            .filter(|slot| slot.is_some_and(|t| t.tlv_type == tlv))
            .filter_map(Option::take)
            .map(|t| t.value)
            .collect()
    }

    pub(crate) fn require(&mut self, tlv: TlvType) -> Result<&'a [u8], ParseError> {
        self.take(tlv).ok_or(ParseError::MissingTlv {
            code: self.code,
            tlv,
        })
    }

    /// The TLVs nobody took: unknown types are returned raw, a known type is an error.
    pub(crate) fn finish(self) -> Result<Vec<Tlv<'a>>, ParseError> {
        let code = self.code;
        let rest: Vec<Tlv<'a>> = self.items.into_iter().flatten().collect();
        if let Some(t) = rest.iter().find(|t| t.tlv_type.is_known()) {
            return Err(ParseError::UnexpectedTlv {
                code,
                tlv: t.tlv_type,
            });
        }
        Ok(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_alphabets() {
        assert_eq!(check_id(b"ICU NORTH"), Ok("ICU NORTH"));
        assert_eq!(check_id(b""), Err(StringError::Empty));
        assert_eq!(check_id(b" ICU"), Err(StringError::EdgeSpace));
        assert_eq!(
            check_id(b"A\tB"),
            Err(StringError::BadByte {
                offset: 1,
                byte: b'\t'
            })
        );
        assert_eq!(
            check_id(&[b'a'; MAX_ID_LEN + 1]),
            Err(StringError::TooLong {
                len: MAX_ID_LEN + 1
            })
        );
        assert_eq!(check_key(b"alarm.volume_max-1"), Ok("alarm.volume_max-1"));
        assert!(check_key(b"a b").is_err());
        assert_eq!(check_text("dosé ok".as_bytes()), Ok("dosé ok"));
        assert_eq!(check_text(b""), Ok(""));
        assert_eq!(check_text(b"a\nb"), Err(StringError::BadText { offset: 1 }));
        assert_eq!(check_text(&[0xFF]), Err(StringError::BadText { offset: 0 }));
        assert!(check_text("\u{85}".as_bytes()).is_err());
    }

    #[test]
    fn quantity_checks() {
        let t = TlvType::RATE;
        let ok = [0, 0, 0x30, 0x39, 0x00, 0x30];
        assert_eq!(
            quantity_value(t, &ok, &[UnitKind::FlowRate]).map(Quantity::milli),
            Ok(12_345)
        );
        assert_eq!(
            quantity_value(t, &ok, &[UnitKind::Volume]),
            Err(ParseError::WrongUnitKind {
                tlv: t,
                unit: Unit::MlPerH
            })
        );
        assert_eq!(
            quantity_value(t, &[0, 0, 0, 1, 0xFF, 0xFF], &[UnitKind::FlowRate]),
            Err(ParseError::UnknownUnit {
                tlv: t,
                unit: 0xFFFF
            })
        );
        assert_eq!(
            quantity_value(t, &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0x30], &[UnitKind::FlowRate]),
            Err(ParseError::QuantityOutOfRange {
                tlv: t,
                milli: u32::MAX
            })
        );
        assert_eq!(
            quantity_value(t, &ok[..5], &[UnitKind::FlowRate]),
            Err(ParseError::TlvLength {
                tlv: t,
                expected: 6,
                found: 5
            })
        );
    }
}
