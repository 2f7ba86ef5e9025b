//! A WPP receive buffer: the socket reads straight into it, the sans-IO framer says where each
//! frame ends, and frames are taken from the front without shifting bytes each time.

use bytes::BufMut;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use wardgate_pump::{CRC_LEN, FrameDecoder, FrameError, HEADER_LEN, Header, MAX_PAYLOAD};

use crate::hl7_conn::READ_CHUNK;
use crate::io::BoxedIo;

/// Bytes of a frame around its payload: the 31-byte header and the 4-byte CRC.
pub const FRAME_OVERHEAD: usize = HEADER_LEN + CRC_LEN;

/// The payload limit for a route whose `max_message_bytes` caps the whole frame.
pub fn payload_limit(max_frame_bytes: usize) -> u32 {
    let payload = max_frame_bytes.saturating_sub(FRAME_OVERHEAD);
    u32::try_from(payload)
        .unwrap_or(MAX_PAYLOAD)
        .min(MAX_PAYLOAD)
}

/// A bounded metrics label for a framing error.
pub fn frame_error_kind(e: &FrameError) -> &'static str {
    match e {
        FrameError::BadMagic { .. } => "bad-magic",
        FrameError::UnsupportedVersion(_) => "unsupported-version",
        FrameError::ReservedFlags(_) => "reserved-flags",
        FrameError::TooLarge { .. } => "too-large",
        FrameError::BadCrc { .. } => "bad-crc",
    }
}

/// Buffered bytes of one direction of a pump connection.
pub struct Inbox {
    buf: Vec<u8>,
    start: usize,
    decoder: FrameDecoder,
    frame_started: Option<Instant>,
}

impl Inbox {
    /// An empty inbox refusing frames over `max_frame_bytes` (header and CRC included).
    pub fn new(max_frame_bytes: usize) -> Self {
        Inbox {
            buf: Vec::new(),
            start: 0,
            decoder: FrameDecoder::new(payload_limit(max_frame_bytes)),
            frame_started: None,
        }
    }

    /// When the first byte of the incomplete frame at the front arrived.
    pub fn frame_started(&self) -> Option<Instant> {
        self.frame_started
    }

    /// Read from `io` straight into the buffer, at most [`READ_CHUNK`] bytes; a connection
    /// that has sent nothing holds no buffer at all. Returns the bytes read (0 at EOF).
    pub async fn read_from(&mut self, io: &mut BoxedIo) -> std::io::Result<usize> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.reserve(READ_CHUNK);
        let n = io.read_buf(&mut (&mut self.buf).limit(READ_CHUNK)).await?;
        if self.frame_started.is_none() && n > 0 {
            self.frame_started = Some(Instant::now());
        }
        Ok(n)
    }

    /// Whether bytes of an incomplete frame are buffered.
    pub fn pending(&self) -> bool {
        self.start < self.buf.len()
    }

    /// The (unverified) header at the front, when its 31 bytes are buffered and read.
    pub fn header(&self) -> Option<Header> {
        let rest = self.buf.get(self.start..)?;
        Header::parse(rest.get(..HEADER_LEN)?).ok()
    }

    /// The next complete frame, if buffered. After an error the stream cannot be resynchronised.
    pub fn next(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let Some(info) = self.decoder.next_frame(rest)? else {
            return Ok(None);
        };
        let bytes = rest.get(..info.consumed).unwrap_or_default().to_vec();
        self.start += info.consumed;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            // Give back the memory of an unusually large frame; keep the usual working size.
            if self.buf.capacity() > 4 * READ_CHUNK {
                self.buf = Vec::new();
            }
        } else if self.start > READ_CHUNK && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.frame_started = self.pending().then(Instant::now);
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_limit_includes_header_and_crc_and_never_exceeds_the_protocol_maximum() {
        assert_eq!(payload_limit(64), 29);
        assert_eq!(payload_limit(1 << 20), MAX_PAYLOAD);
        assert_eq!(payload_limit(0), 0);
    }
}
