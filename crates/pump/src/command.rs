//! Typed command views borrowed from a frame (docs/pump-protocol.md §4).

use crate::header::CommandCode;
use crate::nak::NakReason;
use crate::tlv::Tlv;
use crate::units::Quantity;

/// State of one infusion channel (§4.3, CHANNEL-STATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelState {
    /// No program loaded.
    Idle,
    /// A program is loaded, not started.
    Programmed,
    /// Infusing.
    Infusing,
    /// Paused by the user or controller.
    Paused,
    /// Stopped by an alarm.
    Alarm,
}

impl ChannelState {
    /// The wire byte.
    pub const fn code(self) -> u8 {
        match self {
            ChannelState::Idle => 0,
            ChannelState::Programmed => 1,
            ChannelState::Infusing => 2,
            ChannelState::Paused => 3,
            ChannelState::Alarm => 4,
        }
    }

    /// The state for a wire byte; `None` for reserved values 5..=255.
    pub const fn from_code(code: u8) -> Option<ChannelState> {
        Some(match code {
            0 => ChannelState::Idle,
            1 => ChannelState::Programmed,
            2 => ChannelState::Infusing,
            3 => ChannelState::Paused,
            4 => ChannelState::Alarm,
            _ => return None,
        })
    }
}

/// Alarm severity (§4.3, ALARM-SEVERITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Advisory.
    Low,
    /// Needs attention soon.
    Medium,
    /// Infusion stopped, needs attention now.
    High,
}

impl Severity {
    /// The wire byte.
    pub const fn code(self) -> u8 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
        }
    }

    /// The severity for a wire byte; `None` for reserved values.
    pub const fn from_code(code: u8) -> Option<Severity> {
        Some(match code {
            1 => Severity::Low,
            2 => Severity::Medium,
            3 => Severity::High,
            _ => return None,
        })
    }
}

/// An alarm code (u16). Vendors define many; unknown codes stay raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlarmCode(pub u16);

impl AlarmCode {
    /// Downstream occlusion.
    pub const OCCLUSION_DOWNSTREAM: AlarmCode = AlarmCode(0x0001);
    /// Upstream occlusion.
    pub const OCCLUSION_UPSTREAM: AlarmCode = AlarmCode(0x0002);
    /// Air in line.
    pub const AIR_IN_LINE: AlarmCode = AlarmCode(0x0003);
    /// The volume to be infused has been delivered.
    pub const VTBI_COMPLETE: AlarmCode = AlarmCode(0x0004);
    /// Battery low.
    pub const LOW_BATTERY: AlarmCode = AlarmCode(0x0005);
    /// Door or cassette open.
    pub const DOOR_OPEN: AlarmCode = AlarmCode(0x0006);
    /// Internal fault.
    pub const SYSTEM_ERROR: AlarmCode = AlarmCode(0x0007);
}

/// HELLO: the controller asks the pump to identify itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello<'a> {
    /// CONTROLLER-ID, optional.
    pub controller_id: Option<&'a str>,
}

/// IDENTIFY: the pump's identity; its serial is the header's device field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identify<'a> {
    /// MODEL.
    pub model: &'a str,
    /// FIRMWARE-VERSION.
    pub firmware_version: &'a str,
    /// DRUG-LIBRARY-VERSION.
    pub drug_library_version: &'a str,
}

/// One CHANNEL-REPORT inside a STATUS-REPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReport<'a> {
    /// CHANNEL, `1..=MAX_CHANNELS`.
    pub channel: u8,
    /// CHANNEL-STATE.
    pub state: ChannelState,
    /// RATE (mL/h), zero when not infusing.
    pub rate: Quantity,
    /// VOLUME-INFUSED (volume).
    pub volume_infused: Quantity,
    /// VTBI-REMAINING (volume).
    pub vtbi_remaining: Quantity,
    /// DRUG-CODE of the loaded program.
    pub drug_code: Option<&'a str>,
    /// ORDER-ID of the loaded program.
    pub order_id: Option<&'a str>,
    /// TLVs of types v1 does not define, kept raw.
    pub unknown: Vec<Tlv<'a>>,
}

/// STATUS-REPORT: the pump's answer to STATUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport<'a> {
    /// One report per channel, ascending, at most `MAX_CHANNELS`.
    pub channels: Vec<ChannelReport<'a>>,
}

/// PROGRAM-INFUSION: load a program on the header's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfusion<'a> {
    /// DRUG-CODE.
    pub drug_code: &'a str,
    /// CONCENTRATION; required when a dose rate is given.
    pub concentration: Option<Quantity>,
    /// RATE (mL/h).
    pub rate: Quantity,
    /// VTBI (volume).
    pub vtbi: Quantity,
    /// DOSE-RATE (dose rate), for dose-mode programs.
    pub dose_rate: Option<Quantity>,
    /// CARE-AREA.
    pub care_area: &'a str,
    /// ORDER-ID.
    pub order_id: &'a str,
    /// PATIENT-WEIGHT (kg); required when the dose rate is per kg.
    pub patient_weight: Option<Quantity>,
}

/// CHANGE-RATE: titrate the program on the header's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRate<'a> {
    /// RATE (mL/h).
    pub rate: Quantity,
    /// DOSE-RATE (dose rate).
    pub dose_rate: Option<Quantity>,
    /// ORDER-ID of the program being changed.
    pub order_id: &'a str,
}

/// BOLUS: a bolus from the running infusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bolus<'a> {
    /// BOLUS-DOSE (dose or dose per kg).
    pub dose: Quantity,
    /// BOLUS-DURATION in seconds, `0..=MAX_BOLUS_DURATION_S` (0 = as fast as allowed).
    pub duration_s: u32,
    /// PARENT-ORDER-ID: the running infusion's order.
    pub parent_order_id: &'a str,
}

/// ALARM: an alarm raised by the pump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm<'a> {
    /// ALARM-CODE.
    pub code: AlarmCode,
    /// ALARM-SEVERITY.
    pub severity: Severity,
    /// ALARM-TEXT, optional.
    pub text: Option<&'a str>,
}

/// CLEAR-ALARM: clear one alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearAlarm {
    /// ALARM-CODE of the alarm to clear.
    pub code: AlarmCode,
}

/// SET-CONFIG: set one configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetConfig<'a> {
    /// CONFIG-KEY: `[A-Za-z0-9._-]`, 1 to `MAX_ID_LEN` bytes.
    pub key: &'a str,
    /// CONFIG-VALUE (text).
    pub value: &'a str,
}

/// One chunk of a drug-library or firmware image (§6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateChunk<'a> {
    /// TRANSFER-ID, the same in every chunk of one image.
    pub transfer_id: u32,
    /// CHUNK-INDEX, `0..count`.
    pub index: u32,
    /// CHUNK-COUNT, `1..=MAX_CHUNK_COUNT`.
    pub count: u32,
    /// TOTAL-SIZE of the whole image in bytes.
    pub total_size: u32,
    /// IMAGE-DIGEST: SHA-256 of the whole image, in every chunk.
    pub digest: [u8; 32],
    /// TARGET-VERSION the image installs, in every chunk.
    pub version: &'a str,
    /// CHUNK-DATA, `1..=MAX_CHUNK` bytes.
    pub data: &'a [u8],
}

/// NAK: the request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nak<'a> {
    /// NAK-REASON.
    pub reason: NakReason,
    /// NAK-TEXT, e.g. the id of the rule that refused.
    pub text: Option<&'a str>,
}

/// A command, typed by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// HELLO.
    Hello(Hello<'a>),
    /// IDENTIFY.
    Identify(Identify<'a>),
    /// STATUS.
    Status,
    /// STATUS-REPORT.
    StatusReport(StatusReport<'a>),
    /// PROGRAM-INFUSION.
    ProgramInfusion(ProgramInfusion<'a>),
    /// CHANGE-RATE.
    ChangeRate(ChangeRate<'a>),
    /// BOLUS.
    Bolus(Bolus<'a>),
    /// START.
    Start,
    /// PAUSE.
    Pause,
    /// STOP.
    Stop,
    /// ALARM.
    Alarm(Alarm<'a>),
    /// CLEAR-ALARM.
    ClearAlarm(ClearAlarm),
    /// SET-CONFIG.
    SetConfig(SetConfig<'a>),
    /// DRUG-LIBRARY-UPDATE.
    DrugLibraryUpdate(UpdateChunk<'a>),
    /// FIRMWARE-UPDATE.
    FirmwareUpdate(UpdateChunk<'a>),
    /// ACK.
    Ack,
    /// NAK.
    Nak(Nak<'a>),
    /// A code v1 does not define, with all its TLVs raw.
    Unknown {
        /// The code.
        code: CommandCode,
        /// Its TLVs, in wire order.
        tlvs: Vec<Tlv<'a>>,
    },
}

impl Command<'_> {
    /// The command code.
    pub fn code(&self) -> CommandCode {
        match self {
            Command::Hello(_) => CommandCode::HELLO,
            Command::Identify(_) => CommandCode::IDENTIFY,
            Command::Status => CommandCode::STATUS,
            Command::StatusReport(_) => CommandCode::STATUS_REPORT,
            Command::ProgramInfusion(_) => CommandCode::PROGRAM_INFUSION,
            Command::ChangeRate(_) => CommandCode::CHANGE_RATE,
            Command::Bolus(_) => CommandCode::BOLUS,
            Command::Start => CommandCode::START,
            Command::Pause => CommandCode::PAUSE,
            Command::Stop => CommandCode::STOP,
            Command::Alarm(_) => CommandCode::ALARM,
            Command::ClearAlarm(_) => CommandCode::CLEAR_ALARM,
            Command::SetConfig(_) => CommandCode::SET_CONFIG,
            Command::DrugLibraryUpdate(_) => CommandCode::DRUG_LIBRARY_UPDATE,
            Command::FirmwareUpdate(_) => CommandCode::FIRMWARE_UPDATE,
            Command::Ack => CommandCode::ACK,
            Command::Nak(_) => CommandCode::NAK,
            Command::Unknown { code, .. } => *code,
        }
    }
}

/// Which channels a command may address (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRule {
    /// Channel 0 only.
    Device,
    /// `1..=MAX_CHANNELS` only.
    Infusion,
    /// Any of `0..=MAX_CHANNELS`.
    Any,
}

/// Whether a command is a response, and which channels it may address; `None` for unknown codes.
pub fn command_rules(code: CommandCode) -> Option<(bool, ChannelRule)> {
    use ChannelRule::{Any, Device, Infusion};
    Some(match code {
        CommandCode::HELLO => (false, Device),
        CommandCode::IDENTIFY => (true, Device),
        CommandCode::STATUS => (false, Any),
        CommandCode::STATUS_REPORT => (true, Any),
        CommandCode::PROGRAM_INFUSION
        | CommandCode::CHANGE_RATE
        | CommandCode::BOLUS
        | CommandCode::START
        | CommandCode::PAUSE
        | CommandCode::STOP => (false, Infusion),
        CommandCode::ALARM | CommandCode::CLEAR_ALARM => (false, Any),
        CommandCode::SET_CONFIG
        | CommandCode::DRUG_LIBRARY_UPDATE
        | CommandCode::FIRMWARE_UPDATE => (false, Device),
        CommandCode::ACK | CommandCode::NAK => (true, Any),
        _ => return None,
    })
}
