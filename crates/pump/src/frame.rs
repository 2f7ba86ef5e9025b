//! A whole parsed frame: header, typed command and unknown TLVs (docs/pump-protocol.md §2-§4).

use nom::{
    IResult, Parser,
    bytes::complete::{tag, take},
    number::complete::{be_u16, be_u32, u8 as byte},
};

use crate::command::{ChannelRule, Command, command_rules};
use crate::error::ParseError;
use crate::framer::{FrameDecoder, FrameError};
use crate::header::{
    CommandCode, DEVICE_ID_LEN, DeviceId, Flags, HEADER_LEN, Header, MAGIC, VERSION,
};
use crate::limits::MAX_CHANNELS;
use crate::parse::parse_command;
use crate::tlv::{Tlv, parse_list};

/// One frame, borrowed from the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub header: Header,
    /// The typed command (its code is `header.code`).
    pub command: Command<'a>,
    /// TLVs of types v1 does not define, kept raw in wire order (empty for `Command::Unknown`,
    /// which keeps all its TLVs itself).
    pub unknown: Vec<Tlv<'a>>,
}

/// Raw header fields as they sit on the wire.
struct RawHeader {
    flags: u8,
    sequence: u32,
    device: [u8; DEVICE_ID_LEN],
    channel: u8,
    code: u16,
}

fn raw_header(input: &[u8]) -> IResult<&[u8], RawHeader> {
    let (rest, (_, _, flags, _len, sequence, device, channel, code)) = (
        tag(&MAGIC[..]),
        tag(&[VERSION][..]),
        byte,
        be_u32,
        be_u32,
        take(DEVICE_ID_LEN),
        byte,
        be_u16,
    )
        .parse(input)?;
    let mut field = [0u8; DEVICE_ID_LEN];
    field.copy_from_slice(device);
    Ok((
        rest,
        RawHeader {
            flags,
            sequence,
            device: field,
            channel,
            code,
        },
    ))
}

impl Header {
    /// Decode and check the header at the start of a frame (envelope already framed).
    ///
    /// Checks the serial, the channel range, and for known codes the response flag and the
    /// channel rule (§4.2). Useful to address a NAK when the body is malformed.
    pub fn parse(frame: &[u8]) -> Result<Header, ParseError> {
        // The framer has checked magic, version, flags and length; re-check cheaply here so
        // this function is safe on any input.
        FrameDecoder::default()
            .next_frame(frame.get(..HEADER_LEN.min(frame.len())).unwrap_or(&[]))?;
        let (_, raw) = raw_header(frame).map_err(|_| ParseError::Incomplete)?;
        let flags = Flags::from_byte(raw.flags)
            .ok_or(ParseError::Frame(FrameError::ReservedFlags(raw.flags)))?;
        let device = DeviceId::from_field(raw.device)?;
        let code = CommandCode(raw.code);
        if raw.channel > MAX_CHANNELS {
            return Err(ParseError::BadChannel(raw.channel));
        }
        if device.is_unaddressed() && code != CommandCode::HELLO {
            return Err(ParseError::Unaddressed { code });
        }
        if let Some((response, rule)) = command_rules(code) {
            if flags.response != response {
                return Err(ParseError::Direction {
                    code,
                    response: flags.response,
                });
            }
            let allowed = match rule {
                ChannelRule::Device => raw.channel == 0,
                ChannelRule::Infusion => raw.channel != 0,
                ChannelRule::Any => true,
            };
            if !allowed {
                return Err(ParseError::ChannelNotAllowed {
                    code,
                    channel: raw.channel,
                });
            }
        }
        Ok(Header {
            flags,
            sequence: raw.sequence,
            device,
            channel: raw.channel,
            code,
        })
    }
}

impl<'a> Frame<'a> {
    /// Parse exactly one complete frame (as delimited by [`FrameDecoder::next_frame`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Frame<'a>, ParseError> {
        let info = FrameDecoder::default()
            .next_frame(bytes)?
            .ok_or(ParseError::Incomplete)?;
        if info.consumed != bytes.len() {
            return Err(ParseError::TrailingBytes {
                extra: bytes.len() - info.consumed,
            });
        }
        let header = Header::parse(bytes)?;
        let payload = bytes.get(info.payload).ok_or(ParseError::Incomplete)?;
        let tlvs = parse_list(payload)?;
        let (command, unknown) = parse_command(header.code, tlvs)?;
        Ok(Frame {
            header,
            command,
            unknown,
        })
    }
}
