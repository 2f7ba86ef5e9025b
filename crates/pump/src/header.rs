//! The fixed 31-byte frame header (docs/pump-protocol.md §2).

use core::fmt;

/// Frame magic, ASCII `WP`.
pub const MAGIC: [u8; 2] = *b"WP";
/// The only protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Bytes before the payload: magic, version, flags, length, sequence, device, channel, command.
pub const HEADER_LEN: usize = 31;
/// Bytes of the trailing CRC-32.
pub const CRC_LEN: usize = 4;
/// Bytes of the device serial field.
pub const DEVICE_ID_LEN: usize = 16;

/// Flag bit 0: this frame answers a request and its sequence echoes the request's.
pub const FLAG_RESPONSE: u8 = 0x01;
/// Flag bit 1: the sender wants an ACK on success.
pub const FLAG_ACK_REQUESTED: u8 = 0x02;
/// Flag bits that must be zero in v1.
pub const FLAGS_RESERVED: u8 = !(FLAG_RESPONSE | FLAG_ACK_REQUESTED);

/// The two defined flag bits (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// Bit 0: the frame is a response (IDENTIFY, STATUS-REPORT, ACK, NAK).
    pub response: bool,
    /// Bit 1: the receiver must ACK a successful command.
    pub ack_requested: bool,
}

impl Flags {
    /// The flags of a request, optionally asking for an ACK.
    pub const fn request(ack_requested: bool) -> Flags {
        Flags {
            response: false,
            ack_requested,
        }
    }

    /// The flags of a response.
    pub const RESPONSE: Flags = Flags {
        response: true,
        ack_requested: false,
    };

    /// The wire byte.
    pub const fn to_byte(self) -> u8 {
        (self.response as u8) | ((self.ack_requested as u8) << 1)
    }

    /// Decode the wire byte; `None` when a reserved bit is set.
    pub const fn from_byte(byte: u8) -> Option<Flags> {
        if byte & FLAGS_RESERVED != 0 {
            return None;
        }
        Some(Flags {
            response: byte & FLAG_RESPONSE != 0,
            ack_requested: byte & FLAG_ACK_REQUESTED != 0,
        })
    }
}

/// A pump serial: 0 to 16 graphic ASCII bytes (0x21..=0x7E), NUL padded (§2.3).
///
/// Exactly one wire encoding per serial, so two spellings can never name one pump. The empty
/// serial ([`DeviceId::UNADDRESSED`]) is only valid in HELLO.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId([u8; DEVICE_ID_LEN]);

/// Why 16 bytes are not a valid serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceIdError {
    /// Longer than 16 bytes.
    #[error("device serial is longer than {DEVICE_ID_LEN} bytes")]
    TooLong,
    /// A byte that is not graphic ASCII, or a non-NUL byte after the padding started.
    #[error("device serial has byte {byte:#04x} at offset {offset}")]
    BadByte {
        /// Offset inside the serial field.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
}

impl DeviceId {
    /// The all-NUL serial a controller uses in HELLO before it knows the pump.
    pub const UNADDRESSED: DeviceId = DeviceId([0; DEVICE_ID_LEN]);

    /// A serial from text.
    pub fn new(serial: &str) -> Result<DeviceId, DeviceIdError> {
        let bytes = serial.as_bytes();
        if bytes.len() > DEVICE_ID_LEN {
            return Err(DeviceIdError::TooLong);
        }
        let mut field = [0u8; DEVICE_ID_LEN];
        for (offset, (slot, &byte)) in field.iter_mut().zip(bytes).enumerate() {
            if !byte.is_ascii_graphic() {
                return Err(DeviceIdError::BadByte { offset, byte });
            }
            *slot = byte;
        }
        Ok(DeviceId(field))
    }

    /// Check the 16 wire bytes.
    pub fn from_field(field: [u8; DEVICE_ID_LEN]) -> Result<DeviceId, DeviceIdError> {
        let mut padding = false;
        for (offset, &byte) in field.iter().enumerate() {
            match byte {
                0 => padding = true,
                b if b.is_ascii_graphic() && !padding => {}
                byte => return Err(DeviceIdError::BadByte { offset, byte }),
            }
        }
        Ok(DeviceId(field))
    }

    /// The serial text (empty when unaddressed).
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(DEVICE_ID_LEN);
        let bytes = self.0.get(..len).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// True for the all-NUL serial.
    pub fn is_unaddressed(&self) -> bool {
        self.0 == [0; DEVICE_ID_LEN]
    }

    /// The 16 wire bytes.
    pub const fn field(&self) -> [u8; DEVICE_ID_LEN] {
        self.0
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({:?})", self.as_str())
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command code (u16, §4). Unknown codes stay raw numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandCode(pub u16);

impl CommandCode {
    /// HELLO: controller asks the pump to identify itself.
    pub const HELLO: CommandCode = CommandCode(0x0001);
    /// IDENTIFY: the pump's answer to HELLO.
    pub const IDENTIFY: CommandCode = CommandCode(0x0002);
    /// STATUS: controller asks for channel status.
    pub const STATUS: CommandCode = CommandCode(0x0010);
    /// STATUS-REPORT: the pump's answer to STATUS.
    pub const STATUS_REPORT: CommandCode = CommandCode(0x0011);
    /// PROGRAM-INFUSION: load an infusion program on a channel.
    pub const PROGRAM_INFUSION: CommandCode = CommandCode(0x0020);
    /// CHANGE-RATE: titrate the program on a channel.
    pub const CHANGE_RATE: CommandCode = CommandCode(0x0021);
    /// BOLUS: deliver a bolus from the running infusion.
    pub const BOLUS: CommandCode = CommandCode(0x0022);
    /// START: start (or resume) the programmed infusion.
    pub const START: CommandCode = CommandCode(0x0030);
    /// PAUSE: pause the running infusion.
    pub const PAUSE: CommandCode = CommandCode(0x0031);
    /// STOP: stop and clear the program.
    pub const STOP: CommandCode = CommandCode(0x0032);
    /// ALARM: an alarm event raised by the pump.
    pub const ALARM: CommandCode = CommandCode(0x0040);
    /// CLEAR-ALARM: acknowledge and clear an alarm.
    pub const CLEAR_ALARM: CommandCode = CommandCode(0x0041);
    /// SET-CONFIG: set one configuration key.
    pub const SET_CONFIG: CommandCode = CommandCode(0x0050);
    /// DRUG-LIBRARY-UPDATE: one chunk of a drug library image.
    pub const DRUG_LIBRARY_UPDATE: CommandCode = CommandCode(0x0060);
    /// FIRMWARE-UPDATE: one chunk of a firmware image.
    pub const FIRMWARE_UPDATE: CommandCode = CommandCode(0x0061);
    /// ACK: the request succeeded.
    pub const ACK: CommandCode = CommandCode(0x00F0);
    /// NAK: the request was refused.
    pub const NAK: CommandCode = CommandCode(0x00F1);

    /// The spec name of a known code.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::HELLO => "HELLO",
            Self::IDENTIFY => "IDENTIFY",
            Self::STATUS => "STATUS",
            Self::STATUS_REPORT => "STATUS-REPORT",
            Self::PROGRAM_INFUSION => "PROGRAM-INFUSION",
            Self::CHANGE_RATE => "CHANGE-RATE",
            Self::BOLUS => "BOLUS",
            Self::START => "START",
            Self::PAUSE => "PAUSE",
            Self::STOP => "STOP",
            Self::ALARM => "ALARM",
            Self::CLEAR_ALARM => "CLEAR-ALARM",
            Self::SET_CONFIG => "SET-CONFIG",
            Self::DRUG_LIBRARY_UPDATE => "DRUG-LIBRARY-UPDATE",
            Self::FIRMWARE_UPDATE => "FIRMWARE-UPDATE",
            Self::ACK => "ACK",
            Self::NAK => "NAK",
            _ => return None,
        })
    }

    /// True for a code defined by v1.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for CommandCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "command {:#06x}", self.0),
        }
    }
}

/// The decoded header of a frame whose envelope (magic, version, flags, length, CRC) is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Flags byte.
    pub flags: Flags,
    /// Sender's sequence number; a response echoes the request's.
    pub sequence: u32,
    /// Pump serial the frame is addressed to (requests) or comes from (responses, alarms).
    pub device: DeviceId,
    /// 0 = the device, `1..=MAX_CHANNELS` = an infusion channel.
    pub channel: u8,
    /// Command code.
    pub code: CommandCode,
}
