//! DIMSE command set view: a bounded parser of implicit VR little endian group 0000 elements
//! (PS3.7 §6.3.1, §E.1).

use core::fmt;

use nom::IResult;
use nom::number::complete::{le_u16, le_u32};

use crate::limits::{MAX_COMMAND_ELEMENT_LEN, MAX_COMMAND_ELEMENTS};
use crate::text::{ae_title, uid_str};

/// Command element numbers in group 0000 (PS3.7 §E.1, Table E.1-1).
pub mod tag {
    /// (0000,0000) Command Group Length, UL.
    pub const COMMAND_GROUP_LENGTH: u16 = 0x0000;
    /// (0000,0002) Affected SOP Class UID, UI.
    pub const AFFECTED_SOP_CLASS_UID: u16 = 0x0002;
    /// (0000,0003) Requested SOP Class UID, UI.
    pub const REQUESTED_SOP_CLASS_UID: u16 = 0x0003;
    /// (0000,0100) Command Field, US.
    pub const COMMAND_FIELD: u16 = 0x0100;
    /// (0000,0110) Message ID, US.
    pub const MESSAGE_ID: u16 = 0x0110;
    /// (0000,0120) Message ID Being Responded To, US.
    pub const MESSAGE_ID_BEING_RESPONDED_TO: u16 = 0x0120;
    /// (0000,0600) Move Destination, AE.
    pub const MOVE_DESTINATION: u16 = 0x0600;
    /// (0000,0700) Priority, US.
    pub const PRIORITY: u16 = 0x0700;
    /// (0000,0800) Command Data Set Type, US.
    pub const COMMAND_DATA_SET_TYPE: u16 = 0x0800;
    /// (0000,0900) Status, US.
    pub const STATUS: u16 = 0x0900;
    /// (0000,1000) Affected SOP Instance UID, UI.
    pub const AFFECTED_SOP_INSTANCE_UID: u16 = 0x1000;
    /// (0000,1001) Requested SOP Instance UID, UI.
    pub const REQUESTED_SOP_INSTANCE_UID: u16 = 0x1001;
}

/// Command Field (0000,0100) (PS3.7 §E.1). Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandField(pub u16);

impl CommandField {
    /// Bit set on every response.
    pub const RESPONSE_BIT: u16 = 0x8000;
    /// C-STORE-RQ.
    pub const C_STORE_RQ: Self = Self(0x0001);
    /// C-GET-RQ.
    pub const C_GET_RQ: Self = Self(0x0010);
    /// C-FIND-RQ.
    pub const C_FIND_RQ: Self = Self(0x0020);
    /// C-MOVE-RQ.
    pub const C_MOVE_RQ: Self = Self(0x0021);
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: Self = Self(0x0030);
    /// N-EVENT-REPORT-RQ.
    pub const N_EVENT_REPORT_RQ: Self = Self(0x0100);
    /// N-GET-RQ.
    pub const N_GET_RQ: Self = Self(0x0110);
    /// N-SET-RQ.
    pub const N_SET_RQ: Self = Self(0x0120);
    /// N-ACTION-RQ.
    pub const N_ACTION_RQ: Self = Self(0x0130);
    /// N-CREATE-RQ.
    pub const N_CREATE_RQ: Self = Self(0x0140);
    /// N-DELETE-RQ.
    pub const N_DELETE_RQ: Self = Self(0x0150);
    /// C-CANCEL-RQ.
    pub const C_CANCEL_RQ: Self = Self(0x0FFF);
    /// C-STORE-RSP.
    pub const C_STORE_RSP: Self = Self(0x8001);
    /// C-GET-RSP.
    pub const C_GET_RSP: Self = Self(0x8010);
    /// C-FIND-RSP.
    pub const C_FIND_RSP: Self = Self(0x8020);
    /// C-MOVE-RSP.
    pub const C_MOVE_RSP: Self = Self(0x8021);
    /// C-ECHO-RSP.
    pub const C_ECHO_RSP: Self = Self(0x8030);

    /// Whether the response bit is set.
    pub const fn is_response(self) -> bool {
        self.0 & Self::RESPONSE_BIT != 0
    }

    /// The request this field is or answers (response bit cleared).
    pub const fn request(self) -> Self {
        Self(self.0 & !Self::RESPONSE_BIT)
    }

    /// The response to this request (response bit set).
    pub const fn response(self) -> Self {
        Self(self.0 | Self::RESPONSE_BIT)
    }

    /// The PS3.7 service name ("C-STORE"), or `None` for an unknown value.
    pub const fn service(self) -> Option<&'static str> {
        Some(match self.request().0 {
            0x0001 => "C-STORE",
            0x0010 => "C-GET",
            0x0020 => "C-FIND",
            0x0021 => "C-MOVE",
            0x0030 => "C-ECHO",
            0x0100 => "N-EVENT-REPORT",
            0x0110 => "N-GET",
            0x0120 => "N-SET",
            0x0130 => "N-ACTION",
            0x0140 => "N-CREATE",
            0x0150 => "N-DELETE",
            0x0FFF => "C-CANCEL",
            _ => return None,
        })
    }
}

impl fmt::Display for CommandField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.service() {
            Some(s) if self.is_response() => write!(f, "{s}-RSP"),
            Some(s) => write!(f, "{s}-RQ"),
            None => write!(f, "command field {:#06x}", self.0),
        }
    }
}

/// Status (0000,0900) (PS3.7 Annex C). Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

impl Status {
    /// 0x0000: success.
    pub const SUCCESS: Self = Self(0x0000);
    /// 0x0122: SOP class not supported (refused).
    pub const SOP_CLASS_NOT_SUPPORTED: Self = Self(0x0122);
    /// 0x0124: not authorized (refused, PS3.7 §C.5.x).
    pub const NOT_AUTHORIZED: Self = Self(0x0124);
    /// 0xA700: out of resources (C-STORE/C-FIND refusal).
    pub const OUT_OF_RESOURCES: Self = Self(0xA700);
    /// 0xA801: move destination unknown (C-MOVE refusal).
    pub const MOVE_DESTINATION_UNKNOWN: Self = Self(0xA801);
    /// 0xC000: cannot understand (failure).
    pub const CANNOT_UNDERSTAND: Self = Self(0xC000);
    /// 0xFE00: cancelled.
    pub const CANCEL: Self = Self(0xFE00);
    /// 0xFF00: pending.
    pub const PENDING: Self = Self(0xFF00);
    /// 0xFF01: pending, optional keys not supported.
    pub const PENDING_WARNING: Self = Self(0xFF01);

    /// Whether this is a pending status (0xFF00, 0xFF01).
    pub const fn is_pending(self) -> bool {
        matches!(self.0, 0xFF00 | 0xFF01)
    }

    /// Whether this is a failure status: 0xA000–0xAFFF, 0xC000–0xCFFF and the 01xx/02xx
    /// failures (PS3.7 §C.1–§C.5).
    pub const fn is_failure(self) -> bool {
        matches!(self.0, 0xA000..=0xAFFF | 0xC000..=0xCFFF | 0x0100..=0x0106 | 0x0108..=0x0115 | 0x0117..=0x02FF)
    }
}

/// Priority (0000,0700) (PS3.7 §E.1): 0 medium, 1 high, 2 low. Unknown values stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Priority(pub u16);

impl Priority {
    /// 0x0000: medium.
    pub const MEDIUM: Self = Self(0);
    /// 0x0001: high.
    pub const HIGH: Self = Self(1);
    /// 0x0002: low.
    pub const LOW: Self = Self(2);
}

/// Command Data Set Type (0000,0800) value meaning "no data set" (PS3.7 §E.1).
pub const DATA_SET_TYPE_NONE: u16 = 0x0101;

/// A DIMSE command set, borrowing its strings from the command bytes (PS3.7 §9.3, §10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandSet<'a> {
    /// Command Field (mandatory).
    pub command_field: CommandField,
    /// Message ID (requests).
    pub message_id: Option<u16>,
    /// Message ID Being Responded To (responses).
    pub message_id_being_responded_to: Option<u16>,
    /// Affected SOP Class UID.
    pub affected_sop_class_uid: Option<&'a str>,
    /// Requested SOP Class UID (N-services).
    pub requested_sop_class_uid: Option<&'a str>,
    /// Affected SOP Instance UID.
    pub affected_sop_instance_uid: Option<&'a str>,
    /// Requested SOP Instance UID (N-services).
    pub requested_sop_instance_uid: Option<&'a str>,
    /// Move Destination AE title, spaces trimmed (C-MOVE-RQ).
    pub move_destination: Option<&'a str>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Command Data Set Type.
    pub data_set_type: Option<u16>,
    /// Status (responses).
    pub status: Option<Status>,
    /// Group 0000 elements this view does not name (skipped after their length was checked).
    pub other_elements: usize,
}

impl CommandSet<'_> {
    /// Whether a data set follows: Command Data Set Type present and not 0x0101.
    pub fn has_data_set(&self) -> bool {
        self.data_set_type.is_some_and(|t| t != DATA_SET_TYPE_NONE)
    }
}

/// A command set that breaks PS3.7 §6.3.1/§E.1 or a wardgate limit. Every variant is the
/// sender's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// An element header runs past the end of the command set.
    #[error("element header at offset {offset} is truncated")]
    TruncatedHeader {
        /// Offset in the command set.
        offset: usize,
    },
    /// An element's value length runs past the end of the command set.
    #[error("element (0000,{element:04x}) declares {length} bytes, {remaining} remain")]
    TruncatedValue {
        /// Element number.
        element: u16,
        /// Declared length.
        length: u32,
        /// Bytes left.
        remaining: usize,
    },
    /// An element value over [`MAX_COMMAND_ELEMENT_LEN`].
    #[error("element (0000,{element:04x}) declares {length} bytes, limit is {limit}")]
    ElementTooLong {
        /// Element number.
        element: u16,
        /// Declared length.
        length: u32,
        /// The limit.
        limit: u32,
    },
    /// An element outside group 0000.
    #[error("element ({group:04x},{element:04x}) is not in the command group")]
    NotCommandGroup {
        /// Group number.
        group: u16,
        /// Element number.
        element: u16,
    },
    /// Elements not in strictly ascending order, or one repeated (PS3.5 §7.1).
    #[error("element (0000,{element:04x}) is out of order or repeated")]
    OutOfOrder {
        /// Element number.
        element: u16,
    },
    /// More than [`MAX_COMMAND_ELEMENTS`] elements.
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// (0000,0000) disagrees with the bytes that follow it.
    #[error("command group length says {declared}, {actual} bytes follow")]
    GroupLength {
        /// Declared group length.
        declared: u32,
        /// Bytes after the group length element.
        actual: usize,
    },
    /// A value of the wrong size for its VR (US must be 2 bytes, UL 4).
    #[error("element (0000,{element:04x}) has {length} bytes, must be {expected}")]
    BadValueLength {
        /// Element number.
        element: u16,
        /// Length on the wire.
        length: u32,
        /// Required length.
        expected: u32,
    },
    /// A UID or AE title that is not valid.
    #[error("element (0000,{element:04x}) holds an invalid value")]
    BadValue {
        /// Element number.
        element: u16,
    },
    /// No Command Field.
    #[error("command set has no command field")]
    MissingCommandField,
}

type Res<'a, T> = IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

/// Element header: group, element (LE), 4-byte LE value length (PS3.5 §7.1.3).
fn element_header(input: &[u8]) -> Res<'_, (u16, u16, u32)> {
    let (input, group) = le_u16(input)?;
    let (input, element) = le_u16(input)?;
    let (input, length) = le_u32(input)?;
    Ok((input, (group, element, length)))
}

impl<'a> CommandSet<'a> {
    /// Parse a complete command set (the reassembled command fragments).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CommandError> {
        let mut cmd = CommandSet {
            command_field: CommandField(0),
            message_id: None,
            message_id_being_responded_to: None,
            affected_sop_class_uid: None,
            requested_sop_class_uid: None,
            affected_sop_instance_uid: None,
            requested_sop_instance_uid: None,
            move_destination: None,
            priority: None,
            data_set_type: None,
            status: None,
            other_elements: 0,
        };
        let mut command_field = None;
        let mut last: Option<u16> = None;
        let mut count = 0usize;
        let mut rest = bytes;
        while !rest.is_empty() {
            let offset = bytes.len() - rest.len();
            count += 1;
            if count > MAX_COMMAND_ELEMENTS {
                return Err(CommandError::TooManyElements {
                    limit: MAX_COMMAND_ELEMENTS,
                });
            }
            let (after, (group, element, length)) =
                element_header(rest).map_err(|_| CommandError::TruncatedHeader { offset })?;
            if group != 0 {
                return Err(CommandError::NotCommandGroup { group, element });
            }
            if last.is_some_and(|prev| element <= prev) {
                return Err(CommandError::OutOfOrder { element });
            }
            last = Some(element);
            if length > MAX_COMMAND_ELEMENT_LEN {
                return Err(CommandError::ElementTooLong {
                    element,
                    length,
                    limit: MAX_COMMAND_ELEMENT_LEN,
                });
            }
            // length <= MAX_COMMAND_ELEMENT_LEN, so the cast cannot truncate.
            let Some((value, after)) = after.split_at_checked(length as usize) else {
                return Err(CommandError::TruncatedValue {
                    element,
                    length,
                    remaining: after.len(),
                });
            };
            rest = after;
            let us = || -> Result<u16, CommandError> {
                match *value {
                    [a, b] => Ok(u16::from_le_bytes([a, b])),
                    _ => Err(CommandError::BadValueLength {
                        element,
                        length,
                        expected: 2,
                    }),
                }
            };
            let ui = || uid_str(value).ok_or(CommandError::BadValue { element });
            match element {
                tag::COMMAND_GROUP_LENGTH => {
                    let [a, b, c, d] = *value else {
                        return Err(CommandError::BadValueLength {
                            element,
                            length,
                            expected: 4,
                        });
                    };
                    let declared = u32::from_le_bytes([a, b, c, d]);
                    if u64::from(declared) != rest.len() as u64 {
                        return Err(CommandError::GroupLength {
                            declared,
                            actual: rest.len(),
                        });
                    }
                }
                tag::AFFECTED_SOP_CLASS_UID => cmd.affected_sop_class_uid = Some(ui()?),
                tag::REQUESTED_SOP_CLASS_UID => cmd.requested_sop_class_uid = Some(ui()?),
                tag::COMMAND_FIELD => command_field = Some(CommandField(us()?)),
                tag::MESSAGE_ID => cmd.message_id = Some(us()?),
                tag::MESSAGE_ID_BEING_RESPONDED_TO => {
                    cmd.message_id_being_responded_to = Some(us()?);
                }
                tag::MOVE_DESTINATION => {
                    let ae = ae_title(value).map_err(|_| CommandError::BadValue { element })?;
                    cmd.move_destination = Some(ae);
                }
                tag::PRIORITY => cmd.priority = Some(Priority(us()?)),
                tag::COMMAND_DATA_SET_TYPE => cmd.data_set_type = Some(us()?),
                tag::STATUS => cmd.status = Some(Status(us()?)),
                tag::AFFECTED_SOP_INSTANCE_UID => cmd.affected_sop_instance_uid = Some(ui()?),
                tag::REQUESTED_SOP_INSTANCE_UID => cmd.requested_sop_instance_uid = Some(ui()?),
                _ => cmd.other_elements += 1,
            }
        }
        cmd.command_field = command_field.ok_or(CommandError::MissingCommandField)?;
        Ok(cmd)
    }
}
