//! A receive buffer for one direction of a connection, whatever the protocol: the socket reads
//! straight into it, a sans-IO framer says where each frame ends, and frames are taken from the
//! front without shifting bytes each time (pipelined frames cost linear time).

use bytes::BufMut;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::io::BoxedIo;

/// Most bytes read from a socket at a time; a buffer never exceeds the frame limit plus this.
pub const READ_CHUNK: usize = 16 * 1024;

/// Bytes an inbox without a buffer reads at first.
const FIRST_READ: usize = 1024;

/// A protocol's sans-IO framer, as the inbox needs it.
pub trait Framer {
    /// What the framer says about a complete frame besides its length.
    type Info;
    /// What the inbox hands out: the frame's bytes with that information.
    type Frame;
    /// Why the stream cannot be framed (the sender's fault; not recoverable).
    type Error;
    /// The length of the complete frame at the front of `buf`, or `None` for "need more".
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<(usize, Self::Info)>, Self::Error>;
    /// Make the handed-out frame from its bytes (envelope or header included).
    fn finish(bytes: Vec<u8>, info: Self::Info) -> Self::Frame;
}

/// Buffered bytes of one direction of a connection.
pub struct Inbox<F> {
    buf: Vec<u8>,
    start: usize,
    framer: F,
    frame_started: Option<Instant>,
}

impl<F: Framer> Inbox<F> {
    /// An empty inbox; it holds no memory until bytes arrive.
    pub fn new(framer: F) -> Self {
        Inbox {
            buf: Vec::new(),
            start: 0,
            framer,
            frame_started: None,
        }
    }

    /// When the first byte of the incomplete frame at the front arrived.
    pub fn frame_started(&self) -> Option<Instant> {
        self.frame_started
    }

    /// Whether bytes of an incomplete frame are buffered.
    pub fn pending(&self) -> bool {
        self.start < self.buf.len()
    }

    /// The buffered bytes not yet taken (the front of the next frame).
    pub fn front(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// Read from `io` straight into the buffer, at most [`READ_CHUNK`] bytes. Returns the bytes
    /// read (0 at EOF).
    pub async fn read_from(&mut self, io: &mut BoxedIo) -> std::io::Result<usize> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        // An empty inbox waits with a small buffer: most connections sit idle between short
        // messages, and an idle one should not hold a full read chunk (the first read of a
        // larger message is short, the next ones get the full chunk).
        let room = if self.buf.capacity() == 0 {
            FIRST_READ
        } else {
            READ_CHUNK
        };
        self.buf.reserve(room);
        let n = io.read_buf(&mut (&mut self.buf).limit(room)).await?;
        if self.frame_started.is_none() && n > 0 {
            self.frame_started = Some(Instant::now());
        }
        Ok(n)
    }

    /// The next complete frame, if buffered. After an error the stream cannot be resynchronised.
    pub fn take(&mut self) -> Result<Option<F::Frame>, F::Error> {
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let Some((consumed, info)) = self.framer.next_frame(rest)? else {
            return Ok(None);
        };
        let bytes = rest.get(..consumed).unwrap_or_default().to_vec();
        self.start += consumed;
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
        Ok(Some(F::finish(bytes, info)))
    }
}
