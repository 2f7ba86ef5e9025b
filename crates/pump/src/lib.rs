//! The wardgate pump protocol (WPP v1): sans-IO framing, typed command views, encoder, NAK building, update tracking and a pump simulator.
//!
//! ```
//! use wardgate_pump::{Command, DeviceId, Flags, Frame, FrameDecoder};
//!
//! let device = DeviceId::new("PUMP-0001").map_err(|e| e.to_string())?;
//! let wire = Frame::new(Flags::request(true), 7, device, 1, Command::Start)
//!     .encode()
//!     .map_err(|e| e.to_string())?;
//! let info = FrameDecoder::default().next_frame(&wire).map_err(|e| e.to_string())?;
//! let info = info.ok_or("a whole frame")?;
//! let frame = Frame::parse(&wire[..info.consumed]).map_err(|e| e.to_string())?;
//! assert_eq!(frame.command, Command::Start);
//! assert_eq!(frame.header.sequence, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod command;
mod encode;
mod error;
mod frame;
mod framer;
pub mod fuzzing;
mod header;
mod limits;
mod nak;
mod parse;
pub mod sim;
mod tlv;
mod units;
mod update;
mod value;

pub use command::{
    Alarm, AlarmCode, Bolus, ChangeRate, ChannelReport, ChannelRule, ChannelState, ClearAlarm,
    Command, Hello, Identify, Nak, ProgramInfusion, SetConfig, Severity, StatusReport, UpdateChunk,
    command_rules,
};
pub use encode::encode_payload;
pub use error::{ChunkError, EncodeError, ParseError, StringError};
pub use frame::Frame;
pub use framer::{FrameDecoder, FrameError, FrameInfo};
pub use header::{
    CRC_LEN, CommandCode, DEVICE_ID_LEN, DeviceId, DeviceIdError, FLAG_ACK_REQUESTED,
    FLAG_RESPONSE, FLAGS_RESERVED, Flags, HEADER_LEN, Header, MAGIC, VERSION,
};
pub use limits::{
    MAX_BOLUS_DURATION_S, MAX_CHANNELS, MAX_CHUNK, MAX_CHUNK_COUNT, MAX_ID_LEN, MAX_IMAGE_SIZE,
    MAX_PAYLOAD, MAX_QUANTITY_MILLI, MAX_TEXT_LEN, MAX_TLVS,
};
pub use nak::{NakReason, ReplyTo, build_nak, sanitize_text};
pub use tlv::{TLV_HEADER_LEN, Tlv, TlvType};
pub use units::{Quantity, QuantityRangeError, Unit, UnitKind};
pub use update::{ChunkField, Progress, UpdateError, UpdateKind, UpdateTracker, image_digest};
pub use value::{check_id, check_key, check_text};
