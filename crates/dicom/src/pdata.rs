//! P-DATA-TF presentation data value items, read in place without copying fragments
//! (PS3.8 §9.3.5, Annex E).

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u32, u8 as byte};

use crate::limits::MAX_PDVS_PER_PDU;

/// Bytes of a PDV item before its fragment: item length (4), context id (1), control header (1).
pub const PDV_HEADER_LEN: usize = 6;

/// The message control header of a PDV (PS3.8 Annex E.2). Bits 2–7 are kept as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageControl(pub u8);

impl MessageControl {
    /// Bit 0: the fragment belongs to a command set (else to a data set).
    pub const COMMAND: u8 = 0x01;
    /// Bit 1: the fragment is the last one of its command set or data set.
    pub const LAST: u8 = 0x02;

    /// Build a header from its two meaningful bits.
    pub const fn new(command: bool, last: bool) -> Self {
        let mut bits = 0;
        if command {
            bits |= Self::COMMAND;
        }
        if last {
            bits |= Self::LAST;
        }
        Self(bits)
    }

    /// Whether the fragment is part of a command set.
    pub const fn is_command(self) -> bool {
        self.0 & Self::COMMAND != 0
    }

    /// Whether the fragment is the last of its command set or data set.
    pub const fn is_last(self) -> bool {
        self.0 & Self::LAST != 0
    }
}

/// One presentation data value item, borrowing its fragment from the PDU buffer
/// (PS3.8 §9.3.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pdv<'a> {
    /// Presentation context id, as sent (PS3.8 §7.1.1.13).
    pub context_id: u8,
    /// Message control header.
    pub control: MessageControl,
    /// The command or data set fragment.
    pub fragment: &'a [u8],
}

impl Pdv<'_> {
    /// Whether the fragment is part of a command set.
    pub const fn is_command(&self) -> bool {
        self.control.is_command()
    }

    /// Whether the fragment is the last of its command set or data set.
    pub const fn is_last(&self) -> bool {
        self.control.is_last()
    }
}

/// A PDV item list that breaks PS3.8 §9.3.5. Every variant is the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PdvError {
    /// A P-DATA-TF without any PDV item.
    #[error("sender sent a P-DATA-TF without PDV items")]
    Empty,
    /// A PDV item header or fragment runs past the end of the PDU.
    #[error("PDV item at body offset {offset} runs past the end of the PDU")]
    Truncated {
        /// Offset of the item in the PDU body.
        offset: usize,
    },
    /// A PDV item length below 2 (it must cover the context id and control header).
    #[error("PDV item at body offset {offset} declares length {length}, minimum is 2")]
    TooShort {
        /// Offset of the item in the PDU body.
        offset: usize,
        /// Declared item length.
        length: u32,
    },
    /// More PDV items than [`MAX_PDVS_PER_PDU`].
    #[error("more than {limit} PDV items in one P-DATA-TF")]
    TooMany {
        /// The limit.
        limit: usize,
    },
}

type Res<'a, T> = IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

/// One PDV item; the item length has already been checked to be at least 2.
fn pdv_item(input: &[u8]) -> Res<'_, (u32, Option<Pdv<'_>>)> {
    let (input, length) = be_u32(input)?;
    if length < 2 {
        return Ok((input, (length, None)));
    }
    let (input, context_id) = byte(input)?;
    let (input, control) = byte(input)?;
    let (input, fragment) = take(length - 2)(input)?;
    let pdv = Pdv {
        context_id,
        control: MessageControl(control),
        fragment,
    };
    Ok((input, (length, Some(pdv))))
}

/// Read every PDV item of a P-DATA-TF body (the bytes after the 6-byte PDU header).
pub fn parse_pdvs(body: &[u8]) -> Result<Vec<Pdv<'_>>, PdvError> {
    if body.is_empty() {
        return Err(PdvError::Empty);
    }
    let mut pdvs = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let offset = body.len() - rest.len();
        if pdvs.len() == MAX_PDVS_PER_PDU {
            return Err(PdvError::TooMany {
                limit: MAX_PDVS_PER_PDU,
            });
        }
        let (after, (length, pdv)) = pdv_item(rest).map_err(|_| PdvError::Truncated { offset })?;
        let Some(pdv) = pdv else {
            return Err(PdvError::TooShort { offset, length });
        };
        pdvs.push(pdv);
        rest = after;
    }
    Ok(pdvs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_items_borrow_their_fragments() {
        let body = [0, 0, 0, 4, 1, 0x03, 0xAA, 0xBB, 0, 0, 0, 2, 3, 0x00];
        let pdvs = parse_pdvs(&body).unwrap_or_default();
        assert_eq!(pdvs.len(), 2);
        assert_eq!(pdvs.first().map(|p| p.fragment), Some(&[0xAA, 0xBB][..]));
        assert!(pdvs.first().is_some_and(|p| p.is_command() && p.is_last()));
        assert!(pdvs.get(1).is_some_and(|p| !p.is_command() && !p.is_last()));
    }

    #[test]
    fn item_length_below_two_and_overrun_are_refused() {
        assert_eq!(
            parse_pdvs(&[0, 0, 0, 1, 1, 3]),
            Err(PdvError::TooShort {
                offset: 0,
                length: 1
            })
        );
        assert_eq!(
            parse_pdvs(&[0, 0, 0, 9, 1, 3]),
            Err(PdvError::Truncated { offset: 0 })
        );
        assert_eq!(parse_pdvs(&[]), Err(PdvError::Empty));
    }
}
