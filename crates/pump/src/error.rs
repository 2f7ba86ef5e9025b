//! Typed parse and encode errors (docs/pump-protocol.md §8). All are the sender's fault.

use crate::framer::FrameError;
use crate::header::{CommandCode, DeviceIdError};
use crate::nak::NakReason;
use crate::tlv::TlvType;
use crate::units::Unit;

/// Why a string TLV is invalid (§3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StringError {
    /// An identifier with no bytes.
    #[error("is empty")]
    Empty,
    /// Longer than the field's limit.
    #[error("is {len} bytes, over the limit")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// A byte outside the field's alphabet.
    #[error("has byte {byte:#04x} at offset {offset}")]
    BadByte {
        /// Offset in the value.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// An identifier starting or ending with a space.
    #[error("starts or ends with a space")]
    EdgeSpace,
    /// Not UTF-8, or a control character in text.
    #[error("is not control-free UTF-8 (offset {offset})")]
    BadText {
        /// Offset of the first bad byte.
        offset: usize,
    },
}

/// Why the fields of one update chunk contradict each other (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// CHUNK-COUNT is zero or over [`crate::MAX_CHUNK_COUNT`].
    #[error("chunk count {0} is outside 1..=MAX_CHUNK_COUNT")]
    BadCount(u32),
    /// CHUNK-INDEX is not below CHUNK-COUNT.
    #[error("chunk index {index} is not below chunk count {count}")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// The count.
        count: u32,
    },
    /// CHUNK-DATA is empty or over [`crate::MAX_CHUNK`].
    #[error("chunk data of {0} bytes is outside 1..=MAX_CHUNK")]
    BadChunkLen(usize),
    /// TOTAL-SIZE is over [`crate::MAX_IMAGE_SIZE`], below the chunk count, or beyond what
    /// the chunks can carry.
    #[error("total size {total} cannot be carried by {count} chunks")]
    BadTotalSize {
        /// Declared image size.
        total: u32,
        /// Declared chunk count.
        count: u32,
    },
}

/// A frame whose envelope may be fine but whose contents break the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The envelope is invalid.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The bytes end before the frame does.
    #[error("frame is incomplete")]
    Incomplete,
    /// Bytes follow the frame.
    #[error("{extra} bytes follow the frame")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The device serial field is invalid.
    #[error("device serial: {0}")]
    DeviceId(#[from] DeviceIdError),
    /// The empty serial outside HELLO.
    #[error("{code} must name a device")]
    Unaddressed {
        /// The command.
        code: CommandCode,
    },
    /// A channel number over [`crate::MAX_CHANNELS`].
    #[error("channel {0} does not exist")]
    BadChannel(u8),
    /// The command is not allowed on this channel (device-only or channel-only command).
    #[error("{code} is not allowed on channel {channel}")]
    ChannelNotAllowed {
        /// The command.
        code: CommandCode,
        /// The channel.
        channel: u8,
    },
    /// The response flag contradicts the command (a request flagged as a response, or back).
    #[error("{code} with response flag {response}")]
    Direction {
        /// The command.
        code: CommandCode,
        /// The response flag on the wire.
        response: bool,
    },
    /// A TLV header or value runs past the end of its list.
    #[error("TLV at payload offset {offset} is truncated")]
    TruncatedTlv {
        /// Offset of the TLV in its list.
        offset: usize,
    },
    /// More TLVs than [`crate::MAX_TLVS`] in one list.
    #[error("more than {limit} TLVs")]
    TooManyTlvs {
        /// The limit.
        limit: usize,
    },
    /// A non-repeatable TLV type appears twice.
    #[error("{0} appears twice")]
    DuplicateTlv(TlvType),
    /// A required TLV is absent.
    #[error("{code} lacks {tlv}")]
    MissingTlv {
        /// The command.
        code: CommandCode,
        /// The missing type.
        tlv: TlvType,
    },
    /// A known TLV type that this command does not carry.
    #[error("{code} does not carry {tlv}")]
    UnexpectedTlv {
        /// The command.
        code: CommandCode,
        /// The type.
        tlv: TlvType,
    },
    /// A fixed-size TLV with the wrong length.
    #[error("{tlv} is {found} bytes, must be {expected}")]
    TlvLength {
        /// The type.
        tlv: TlvType,
        /// Required length.
        expected: usize,
        /// Length on the wire.
        found: usize,
    },
    /// An invalid identifier or text value.
    #[error("{tlv} {error}")]
    BadString {
        /// The type.
        tlv: TlvType,
        /// What is wrong.
        error: StringError,
    },
    /// A reserved unit code.
    #[error("{tlv} has reserved unit code {unit:#06x}")]
    UnknownUnit {
        /// The type.
        tlv: TlvType,
        /// The code.
        unit: u16,
    },
    /// A unit of the wrong kind for the field (a dose in a rate field, say).
    #[error("{tlv} cannot be in {unit}")]
    WrongUnitKind {
        /// The type.
        tlv: TlvType,
        /// The unit on the wire.
        unit: Unit,
    },
    /// A quantity over [`crate::MAX_QUANTITY_MILLI`].
    #[error("{tlv} of {milli} thousandths is out of range")]
    QuantityOutOfRange {
        /// The type.
        tlv: TlvType,
        /// The value.
        milli: u32,
    },
    /// A reserved or out-of-range value in a coded field (state, severity, reason, duration).
    #[error("{tlv} has invalid value {value}")]
    BadValue {
        /// The type.
        tlv: TlvType,
        /// The value.
        value: u32,
    },
    /// CHANNEL-REPORTs not in strictly ascending channel order, or more than the channels.
    #[error("channel report for channel {channel} is out of order or duplicated")]
    ReportOrder {
        /// The offending channel.
        channel: u8,
    },
    /// The fields of an update chunk contradict each other.
    #[error("update chunk: {0}")]
    BadChunk(#[from] ChunkError),
}

impl ParseError {
    /// The NAK reason wardgate sends for this error (§4.4).
    pub fn nak_reason(&self) -> NakReason {
        match self {
            ParseError::Frame(FrameError::BadCrc { .. }) => NakReason::CRC,
            ParseError::Frame(FrameError::UnsupportedVersion(_)) => NakReason::UNSUPPORTED,
            ParseError::Frame(FrameError::TooLarge { .. }) | ParseError::TooManyTlvs { .. } => {
                NakReason::LIMIT_EXCEEDED
            }
            _ => NakReason::MALFORMED,
        }
    }
}

/// A value the encoder cannot put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// One value is longer than a TLV length (65535) can say.
    #[error("{tlv} value of {len} bytes does not fit a TLV")]
    ValueTooLong {
        /// The type.
        tlv: TlvType,
        /// Its length.
        len: usize,
    },
    /// The payload is over [`crate::MAX_PAYLOAD`].
    #[error("payload of {len} bytes is over the limit")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
    },
    /// The encoded frame would be refused by the parser.
    #[error("encoded frame is invalid: {0}")]
    Invalid(ParseError),
    /// The encoded frame parses, but not back to the same value (a known code in
    /// `Command::Unknown`, a header code that contradicts the command, a known type among the
    /// unknown TLVs).
    #[error("value has no canonical encoding")]
    NotCanonical,
}
