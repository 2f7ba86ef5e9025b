//! A WPP receive buffer: the socket reads straight into it, the sans-IO framer says where each
//! frame ends, and frames are taken from the front without shifting bytes each time.

use wardgate_pump::{CRC_LEN, FrameDecoder, FrameError, HEADER_LEN, Header, MAX_PAYLOAD};

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
pub type Inbox = crate::inbox::Inbox<FrameDecoder>;

impl crate::inbox::Framer for FrameDecoder {
    type Info = ();
    type Frame = Vec<u8>;
    type Error = FrameError;

    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<(usize, ())>, FrameError> {
        Ok(FrameDecoder::next_frame(self, buf)?.map(|info| (info.consumed, ())))
    }

    fn finish(bytes: Vec<u8>, (): ()) -> Vec<u8> {
        bytes
    }
}

impl Inbox {
    /// The (unverified) header at the front, when its 31 bytes are buffered and read.
    pub fn header(&self) -> Option<Header> {
        Header::parse(self.front().get(..HEADER_LEN)?).ok()
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
