//! A DICOM receive buffer: the socket reads straight into it, the sans-IO PDU framer says where
//! each PDU ends, and PDUs are taken from the front without shifting bytes each time.

use wardgate_dicom::{FramerError, PduFramer, PduType};

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
pub type Inbox = crate::inbox::Inbox<PduFramer>;

impl crate::inbox::Framer for PduFramer {
    type Info = PduType;
    type Frame = RawPdu;
    type Error = FramerError;

    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<(usize, PduType)>, FramerError> {
        Ok(self
            .next_pdu(buf)?
            .map(|info| (info.consumed, info.pdu_type)))
    }

    fn finish(bytes: Vec<u8>, pdu_type: PduType) -> RawPdu {
        RawPdu { pdu_type, bytes }
    }
}

/// An empty inbox refusing PDU bodies over `max_pdu_len` bytes.
pub fn new_inbox(max_pdu_len: u32) -> Inbox {
    Inbox::new(PduFramer::new(max_pdu_len))
}
