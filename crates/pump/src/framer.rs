//! Sans-IO WPP framer: finds where the next complete frame ends (docs/pump-protocol.md §2, §3).

use core::ops::Range;

use crate::header::{CRC_LEN, FLAGS_RESERVED, HEADER_LEN, MAGIC, VERSION};
use crate::limits::MAX_PAYLOAD;

/// Offset of the payload length field.
const LENGTH_OFFSET: usize = 4;

/// The sender's bytes do not form a valid WPP envelope. Every variant is the sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A byte of the magic `WP` is wrong (reported as soon as that byte arrives).
    #[error("sender sent byte {byte:#04x} at offset {offset} where the WPP magic belongs")]
    BadMagic {
        /// 0 or 1.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A protocol version other than 1.
    #[error("sender speaks WPP version {0}, only version 1 is supported")]
    UnsupportedVersion(u8),
    /// A reserved flag bit is set.
    #[error("sender set reserved flag bits in {0:#04x}")]
    ReservedFlags(u8),
    /// The declared payload length exceeds the limit.
    ///
    /// Refused as soon as the length bytes that have arrived prove it: `declared` is the
    /// smallest length consistent with them (the exact length once all four are in).
    #[error("sender declared a payload of at least {declared} bytes, limit is {limit}")]
    TooLarge {
        /// Declared payload length (a lower bound while the field is incomplete).
        declared: u32,
        /// The configured limit.
        limit: u32,
    },
    /// The CRC-32 does not match.
    #[error("frame CRC-32 is {found:#010x} on the wire, {expected:#010x} computed")]
    BadCrc {
        /// CRC computed over magic through payload.
        expected: u32,
        /// CRC carried by the frame.
        found: u32,
    },
}

/// Where a complete frame lies at the start of the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// Bytes of the whole frame (header, payload, CRC): drop these from the buffer.
    pub consumed: usize,
    /// Payload (TLV area) range inside the buffer.
    pub payload: Range<usize>,
}

/// Sans-IO frame boundary finder.
///
/// The caller keeps a buffer whose first byte starts the next frame and calls
/// [`FrameDecoder::next_frame`] after every read; after `Ok(Some(info))` it removes
/// `info.consumed` bytes. Magic, version, flags and the declared length are checked as soon as
/// their bytes arrive, before any payload is awaited. After an error the stream cannot be
/// resynchronised: close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_payload: u32,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(MAX_PAYLOAD)
    }
}

impl FrameDecoder {
    /// A decoder refusing payloads over `max_payload` bytes (capped at [`MAX_PAYLOAD`]).
    pub const fn new(max_payload: u32) -> Self {
        let max_payload = if max_payload > MAX_PAYLOAD {
            MAX_PAYLOAD
        } else {
            max_payload
        };
        Self { max_payload }
    }

    /// The payload limit in bytes.
    pub const fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Find the next complete frame at the start of `buf`; `Ok(None)` means more bytes needed.
    pub fn next_frame(&self, buf: &[u8]) -> Result<Option<FrameInfo>, FrameError> {
        for (offset, (&byte, &want)) in buf.iter().zip(MAGIC.iter()).enumerate() {
            if byte != want {
                return Err(FrameError::BadMagic { offset, byte });
            }
        }
        if let Some(&version) = buf.get(2).filter(|&&v| v != VERSION) {
            return Err(FrameError::UnsupportedVersion(version));
        }
        if let Some(&flags) = buf.get(3).filter(|&&f| f & FLAGS_RESERVED != 0) {
            return Err(FrameError::ReservedFlags(flags));
        }
        let length_bytes = buf.get(LENGTH_OFFSET..).unwrap_or(&[]);
        let mut field = [0u8; 4];
        for (slot, &b) in field.iter_mut().zip(length_bytes) {
            *slot = b;
        }
        // Missing low bytes count as zero: the smallest length the bytes so far allow.
        let declared = u32::from_be_bytes(field);
        if declared > self.max_payload {
            return Err(FrameError::TooLarge {
                declared,
                limit: self.max_payload,
            });
        }
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        // declared <= MAX_PAYLOAD, so these sums cannot overflow.
        let payload_end = HEADER_LEN + declared as usize;
        let total = payload_end + CRC_LEN;
        let (Some(covered), Some(crc_field)) =
            (buf.get(..payload_end), buf.get(payload_end..total))
        else {
            return Ok(None);
        };
        let mut crc = [0u8; CRC_LEN];
        crc.copy_from_slice(crc_field);
        let found = u32::from_be_bytes(crc);
        let expected = crc32fast::hash(covered);
        if expected != found {
            return Err(FrameError::BadCrc { expected, found });
        }
        Ok(Some(FrameInfo {
            consumed: total,
            payload: HEADER_LEN..payload_end,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_is_judged_alone() {
        let d = FrameDecoder::default();
        assert_eq!(d.next_frame(b""), Ok(None));
        assert_eq!(d.next_frame(b"W"), Ok(None));
        assert_eq!(
            d.next_frame(b"X"),
            Err(FrameError::BadMagic {
                offset: 0,
                byte: b'X'
            })
        );
        assert_eq!(
            d.next_frame(b"WQ"),
            Err(FrameError::BadMagic {
                offset: 1,
                byte: b'Q'
            })
        );
        assert_eq!(
            d.next_frame(b"WP\x02"),
            Err(FrameError::UnsupportedVersion(2))
        );
        assert_eq!(
            d.next_frame(b"WP\x01\x04"),
            Err(FrameError::ReservedFlags(4))
        );
    }

    #[test]
    fn huge_length_refused_on_first_length_byte() {
        let d = FrameDecoder::default();
        assert_eq!(
            d.next_frame(b"WP\x01\x00\xff"),
            Err(FrameError::TooLarge {
                declared: 0xff00_0000,
                limit: MAX_PAYLOAD
            })
        );
        // 0x0001_0000 is exactly the limit: only the last byte can tell.
        assert_eq!(d.next_frame(b"WP\x01\x00\x00\x01\x00"), Ok(None));
        assert_eq!(
            d.next_frame(b"WP\x01\x00\x00\x01\x00\x01"),
            Err(FrameError::TooLarge {
                declared: 0x0001_0001,
                limit: MAX_PAYLOAD
            })
        );
    }

    #[test]
    fn configured_limit_is_capped() {
        assert_eq!(FrameDecoder::new(u32::MAX).max_payload(), MAX_PAYLOAD);
        assert_eq!(FrameDecoder::new(10).max_payload(), 10);
    }
}
