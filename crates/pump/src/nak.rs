//! NAK reasons and building the NAK wardgate sends for a refused command (docs/pump-protocol.md §4.4).

use core::fmt;

use crate::encode::write_frame;
use crate::header::{CommandCode, DeviceId, Flags, Header};
use crate::limits::MAX_TEXT_LEN;
use crate::tlv::TlvType;

/// A NAK reason code (u16). Unknown codes stay raw; 0 is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NakReason(pub u16);

impl NakReason {
    /// 1: the frame or its TLVs are malformed.
    pub const MALFORMED: NakReason = NakReason(1);
    /// 2: CRC mismatch.
    pub const CRC: NakReason = NakReason(2);
    /// 3: command or version not supported.
    pub const UNSUPPORTED: NakReason = NakReason(3);
    /// 4: refused by policy (a wardgate rule, or the pump's own drug library).
    pub const REFUSED_BY_POLICY: NakReason = NakReason(4);
    /// 5: a limit was exceeded.
    pub const LIMIT_EXCEEDED: NakReason = NakReason(5);
    /// 6: the command is out of sequence for the channel or transfer state.
    pub const SEQUENCE_ERROR: NakReason = NakReason(6);
    /// 7: the pump is busy.
    pub const BUSY: NakReason = NakReason(7);
    /// 8: the sender is not authorized.
    pub const UNAUTHORIZED: NakReason = NakReason(8);

    /// The spec name of a known reason.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "malformed",
            2 => "crc",
            3 => "unsupported",
            4 => "refused-by-policy",
            5 => "limit-exceeded",
            6 => "sequence-error",
            7 => "busy",
            8 => "unauthorized",
            _ => return None,
        })
    }
}

impl fmt::Display for NakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "reason {}", self.0),
        }
    }
}

/// Whom a reply goes to: the refused frame's sequence, device and channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    /// Sequence of the refused request (echoed).
    pub sequence: u32,
    /// Device of the refused request.
    pub device: DeviceId,
    /// Channel of the refused request.
    pub channel: u8,
}

impl From<&Header> for ReplyTo {
    fn from(h: &Header) -> Self {
        ReplyTo {
            sequence: h.sequence,
            device: h.device,
            channel: h.channel,
        }
    }
}

/// Make `text` valid NAK-TEXT: control characters become `?`, then cut to
/// [`MAX_TEXT_LEN`] bytes on a character boundary.
pub fn sanitize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT_LEN));
    for c in text.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > MAX_TEXT_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// Build a NAK frame answering `to`: echoes its sequence, device and channel, carries `reason`
/// (0 is replaced by MALFORMED) and, when given, `text` (sanitized, e.g. a rule id).
///
/// Never fails. An unaddressed device (HELLO, or a header that could not be read) is answered
/// as device `"?"` because only HELLO may be unaddressed; a channel over the maximum becomes 0.
pub fn build_nak(to: &ReplyTo, reason: NakReason, text: Option<&str>) -> Vec<u8> {
    let reason = if reason.0 == 0 {
        NakReason::MALFORMED
    } else {
        reason
    };
    let device = if to.device.is_unaddressed() {
        DeviceId::new("?").unwrap_or(DeviceId::UNADDRESSED)
    } else {
        to.device
    };
    let channel = if to.channel > crate::MAX_CHANNELS {
        0
    } else {
        to.channel
    };
    let mut payload = Vec::with_capacity(8 + MAX_TEXT_LEN);
    payload.extend_from_slice(&TlvType::NAK_REASON.0.to_be_bytes());
    payload.extend_from_slice(&2u16.to_be_bytes());
    payload.extend_from_slice(&reason.0.to_be_bytes());
    if let Some(text) = text {
        let text = sanitize_text(text);
        payload.extend_from_slice(&TlvType::NAK_TEXT.0.to_be_bytes());
        // sanitize_text bounds the length to MAX_TEXT_LEN, far below u16::MAX.
        payload.extend_from_slice(&(text.len() as u16).to_be_bytes());
        payload.extend_from_slice(text.as_bytes());
    }
    let header = Header {
        flags: Flags::RESPONSE,
        sequence: to.sequence,
        device,
        channel,
        code: CommandCode::NAK,
    };
    write_frame(&header, &payload)
}
