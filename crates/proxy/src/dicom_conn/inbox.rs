//! A DICOM receive buffer: the socket reads straight into it, the sans-IO PDU framer says where
//! each PDU ends, and PDUs are taken from the front without shifting bytes each time.

use bytes::BufMut;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use wardgate_dicom::{FramerError, PduFramer, PduType};

use crate::hl7_conn::READ_CHUNK;
use crate::io::BoxedIo;

/// A bounded metrics label for a framing error.
pub fn framer_error_kind(e: &FramerError) -> &'static str {
    match e {
        FramerError::UnknownPduType(_) => "unknown-pdu-type",
        FramerError::TooLarge { .. } => "too-large",
        FramerError::BadFixedLength { .. } => "bad-fixed-length",
        FramerError::TooShort { .. } => "too-short",
    }
}

/// One complete PDU taken from an [`Inbox`]: its type and its bytes, header included.
pub struct RawPdu {
    /// The PDU type (one PS3.8 defines: the framer refuses the others).
    pub pdu_type: PduType,
    /// The whole PDU as received.
    pub bytes: Vec<u8>,
}

/// Buffered bytes of one direction of a DICOM connection. Holds at most one PDU (whose size the
/// framer bounds) plus one read.
pub struct Inbox {
    buf: Vec<u8>,
    start: usize,
    framer: PduFramer,
    frame_started: Option<Instant>,
}

impl Inbox {
    /// An empty inbox refusing PDU bodies over `max_pdu_len` bytes.
    pub fn new(max_pdu_len: u32) -> Self {
        Inbox {
            buf: Vec::new(),
            start: 0,
            framer: PduFramer::new(max_pdu_len),
            frame_started: None,
        }
    }

    /// When the first byte of the incomplete PDU at the front arrived.
    pub fn frame_started(&self) -> Option<Instant> {
        self.frame_started
    }

    /// Whether bytes of an incomplete PDU are buffered.
    pub fn pending(&self) -> bool {
        self.start < self.buf.len()
    }

    /// Read from `io` straight into the buffer, at most [`READ_CHUNK`] bytes; a connection that
    /// has sent nothing holds no buffer at all. Returns the bytes read (0 at EOF).
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

    /// The next complete PDU, if buffered. After an error the stream cannot be resynchronised.
    pub fn next(&mut self) -> Result<Option<RawPdu>, FramerError> {
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let Some(info) = self.framer.next_pdu(rest)? else {
            return Ok(None);
        };
        let bytes = rest.get(..info.consumed).unwrap_or_default().to_vec();
        self.start += info.consumed;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            // Give back the memory of an unusually large PDU; keep the usual working size.
            if self.buf.capacity() > 4 * READ_CHUNK {
                self.buf = Vec::new();
            }
        } else if self.start > READ_CHUNK && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.frame_started = self.pending().then(Instant::now);
        Ok(Some(RawPdu {
            pdu_type: info.pdu_type,
            bytes,
        }))
    }
}
