//! Sans-IO MLLP framer (HL7 v2 Transport Specification: MLLP release 2, §1.4 block format).

use core::ops::Range;

/// Start block character (VT) that opens every MLLP block.
pub const START_BLOCK: u8 = 0x0B;
/// End block character (FS) that closes the payload.
pub const END_BLOCK: u8 = 0x1C;
/// Carriage return that must follow the end block character.
pub const CARRIAGE_RETURN: u8 = 0x0D;
/// Default maximum payload size (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// MLLP release 2 commit acknowledgement payload (ACK).
const COMMIT_ACK: u8 = 0x06;
/// MLLP release 2 negative commit acknowledgement payload (NAK).
const COMMIT_NAK: u8 = 0x15;

/// What a complete frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An HL7 message (any payload other than a lone commit byte).
    Message,
    /// MLLP release 2 commit acknowledgement: `0x0B 0x06 0x1C 0x0D`.
    CommitAck,
    /// MLLP release 2 negative commit acknowledgement: `0x0B 0x15 0x1C 0x0D`.
    CommitNak,
}

/// Where a complete frame lies in the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// What the frame is.
    pub kind: FrameKind,
    /// Payload range inside the buffer (without `0x0B` and `0x1C 0x0D`).
    pub payload: Range<usize>,
    /// Bytes to drop from the front of the buffer (the whole envelope).
    pub consumed: usize,
}

/// The sender's bytes do not form a valid MLLP block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MllpError {
    /// A byte other than `0x0B` where a block must start.
    #[error("sender sent byte {byte:#04x} at offset {offset} outside an MLLP block")]
    OutsideEnvelope {
        /// Offset of the byte in the buffer.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// No end block within the limit.
    #[error("sender's MLLP block exceeds the {limit}-byte payload limit")]
    TooLarge {
        /// The payload limit in bytes.
        limit: usize,
    },
    /// `0x1C` followed by something other than `0x0D`.
    #[error("sender's MLLP end block is followed by byte {byte:#04x} at offset {offset}, not CR")]
    BadEndBlock {
        /// Offset of the byte after `0x1C`.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
}

/// Sans-IO framer.
///
/// The caller keeps a buffer whose first byte is the start of the next frame; after
/// `Ok(Some(info))` the caller removes `info.consumed` bytes from the front and calls again.
/// Scanning resumes where it stopped, so a frame dripped one byte per call costs linear CPU in
/// total. [`MllpError::TooLarge`] is returned as soon as more than `max_payload` bytes of
/// payload are buffered without an end block.
///
/// Between calls the buffer must only grow at the end (or lose a consumed frame at the front).
#[derive(Debug, Clone)]
pub struct MllpFramer {
    max_payload: usize,
    /// Offset in the current buffer where the search for the end block resumes.
    resume_at: usize,
    /// Total bytes examined, for the linear-cost test.
    scanned: usize,
}

impl Default for MllpFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl MllpFramer {
    /// A framer that refuses payloads larger than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload,
            resume_at: 0,
            scanned: 0,
        }
    }

    /// The payload limit in bytes.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Total number of bytes examined so far (for tests proving linear cost).
    #[doc(hidden)]
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Find the next complete frame at the start of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed (including for an empty buffer).
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<FrameInfo>, MllpError> {
        let Some(&first) = buf.first() else {
            self.resume_at = 0;
            return Ok(None);
        };
        if first != START_BLOCK {
            self.resume_at = 0;
            return Err(MllpError::OutsideEnvelope {
                offset: 0,
                byte: first,
            });
        }
        // The end block may sit at most at offset max_payload + 1; never look further.
        let window_end = buf.len().min(self.max_payload.saturating_add(2));
        let start = self.resume_at.clamp(1, window_end.max(1));
        let window = buf.get(start..window_end).unwrap_or(&[]);
        // memchr: the end-block search is the framer's whole cost on a large message.
        match memchr::memchr(END_BLOCK, window) {
            Some(rel) => {
                self.scanned = self.scanned.saturating_add(rel + 1);
                let end = start + rel;
                let payload = 1..end;
                if payload.len() > self.max_payload {
                    self.resume_at = 0;
                    return Err(MllpError::TooLarge {
                        limit: self.max_payload,
                    });
                }
                match buf.get(end + 1) {
                    None => {
                        // Wait for the CR; re-examine only the end block next time.
                        self.resume_at = end;
                        Ok(None)
                    }
                    Some(&CARRIAGE_RETURN) => {
                        self.resume_at = 0;
                        let kind = match buf.get(payload.clone()) {
                            Some([COMMIT_ACK]) => FrameKind::CommitAck,
                            Some([COMMIT_NAK]) => FrameKind::CommitNak,
                            _ => FrameKind::Message,
                        };
                        Ok(Some(FrameInfo {
                            kind,
                            payload,
                            consumed: end + 2,
                        }))
                    }
                    Some(&byte) => {
                        self.resume_at = 0;
                        Err(MllpError::BadEndBlock {
                            offset: end + 1,
                            byte,
                        })
                    }
                }
            }
            None => {
                self.scanned = self.scanned.saturating_add(window.len());
                self.resume_at = window_end;
                if buf.len().saturating_sub(1) > self.max_payload {
                    self.resume_at = 0;
                    return Err(MllpError::TooLarge {
                        limit: self.max_payload,
                    });
                }
                Ok(None)
            }
        }
    }
}

/// Wrap a payload in an MLLP envelope.
pub fn wrap(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().saturating_add(3));
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    out.push(END_BLOCK);
    out.push(CARRIAGE_RETURN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ack_and_nak() {
        let mut f = MllpFramer::new(16);
        let ack = [0x0B, 0x06, 0x1C, 0x0D];
        let nak = [0x0B, 0x15, 0x1C, 0x0D];
        assert_eq!(
            f.next_frame(&ack).ok().flatten().map(|i| i.kind),
            Some(FrameKind::CommitAck)
        );
        assert_eq!(
            f.next_frame(&nak).ok().flatten().map(|i| i.kind),
            Some(FrameKind::CommitNak)
        );
    }

    #[test]
    fn empty_payload_is_a_message() {
        let mut f = MllpFramer::new(16);
        let info = f.next_frame(&[0x0B, 0x1C, 0x0D]);
        assert_eq!(
            info,
            Ok(Some(FrameInfo {
                kind: FrameKind::Message,
                payload: 1..1,
                consumed: 3
            }))
        );
    }

    #[test]
    fn end_block_right_at_limit() {
        let mut f = MllpFramer::new(3);
        assert!(matches!(f.next_frame(b"\x0babc\x1c\r"), Ok(Some(_))));
        assert_eq!(
            f.next_frame(b"\x0babcd\x1c\r"),
            Err(MllpError::TooLarge { limit: 3 })
        );
    }
}
