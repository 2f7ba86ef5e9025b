//! A sans-IO infusion pump: channel state machines driven by frames, time passed in.

use std::collections::BTreeMap;

use crate::command::{
    Alarm, AlarmCode, ChannelReport, ChannelState, Command, Identify, ProgramInfusion, Severity,
    StatusReport,
};
use crate::frame::Frame;
use crate::header::{DeviceId, Flags, Header};
use crate::limits::MAX_CHANNELS;
use crate::nak::{NakReason, ReplyTo, build_nak};
use crate::units::{Quantity, Unit};
use crate::update::{Progress, UpdateKind, UpdateTracker};

/// Milliseconds per hour: rates are per hour, time arrives in milliseconds.
const MS_PER_HOUR: u128 = 3_600_000;

/// A program loaded on a channel (owned copy of PROGRAM-INFUSION).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Drug code.
    pub drug_code: String,
    /// Order id.
    pub order_id: String,
    /// Care area.
    pub care_area: String,
    /// Flow rate (mL/h).
    pub rate: Quantity,
    /// Dose rate, in dose mode.
    pub dose_rate: Option<Quantity>,
    /// Volume to be infused (mL).
    pub vtbi: Quantity,
}

impl Program {
    fn from_command(p: &ProgramInfusion<'_>) -> Self {
        Program {
            drug_code: p.drug_code.to_owned(),
            order_id: p.order_id.to_owned(),
            care_area: p.care_area.to_owned(),
            rate: p.rate,
            dose_rate: p.dose_rate,
            vtbi: p.vtbi,
        }
    }
}

/// One channel of the simulated pump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSim {
    /// Current state.
    pub state: ChannelState,
    /// Loaded program.
    pub program: Option<Program>,
    /// Active alarm, when `state` is [`ChannelState::Alarm`].
    pub alarm: Option<AlarmCode>,
    /// Σ rate (thousandths of mL/h) × elapsed ms since the program was loaded.
    accrued: u128,
}

impl ChannelSim {
    fn idle() -> Self {
        ChannelSim {
            state: ChannelState::Idle,
            program: None,
            alarm: None,
            accrued: 0,
        }
    }

    /// Volume infused in thousandths of a mL, never more than the VTBI.
    pub fn volume_infused_milli(&self) -> u32 {
        let vtbi = self.program.as_ref().map_or(0, |p| p.vtbi.milli());
        let infused = self.accrued / MS_PER_HOUR;
        u32::try_from(infused).unwrap_or(u32::MAX).min(vtbi)
    }
}

/// Outcome of one command before it becomes bytes.
enum Outcome {
    /// Success: ACK when the request asked for one.
    Done,
    /// A data response (IDENTIFY, STATUS-REPORT), already encoded.
    Reply(Vec<u8>),
    /// Refusal.
    Refuse(NakReason, &'static str),
    /// Refusal with computed text.
    RefuseText(NakReason, String),
}

/// A simulated pump. Feed it frames with [`PumpSim::handle`], time with [`PumpSim::advance`];
/// it answers with frame bytes and queues unsolicited ALARM frames for [`PumpSim::take_events`].
#[derive(Debug, Clone)]
pub struct PumpSim {
    serial: DeviceId,
    model: String,
    firmware_version: String,
    drug_library_version: String,
    channels: Vec<ChannelSim>,
    config: BTreeMap<String, String>,
    updates: UpdateTracker,
    next_sequence: u32,
    events: Vec<Vec<u8>>,
}

/// Volume in mL; values past the maximum saturate (they cannot occur: volume <= VTBI).
fn ml(milli: u32) -> Quantity {
    Quantity::saturating(milli, Unit::Ml)
}

impl PumpSim {
    /// A pump with `channel_count` channels (clamped to `1..=MAX_CHANNELS`).
    pub fn new(serial: DeviceId, model: &str, channel_count: u8) -> Self {
        let n = channel_count.clamp(1, MAX_CHANNELS);
        PumpSim {
            serial,
            model: model.to_owned(),
            firmware_version: "1.0.0".to_owned(),
            drug_library_version: "DL-0".to_owned(),
            channels: (0..n).map(|_| ChannelSim::idle()).collect(),
            config: BTreeMap::new(),
            updates: UpdateTracker::new(),
            next_sequence: 1,
            events: Vec::new(),
        }
    }

    /// The pump's serial.
    pub fn serial(&self) -> DeviceId {
        self.serial
    }

    /// Firmware version.
    pub fn firmware_version(&self) -> &str {
        &self.firmware_version
    }

    /// Drug library version.
    pub fn drug_library_version(&self) -> &str {
        &self.drug_library_version
    }

    /// A configuration value.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }

    /// One channel (`1..=channel count`).
    pub fn channel(&self, channel: u8) -> Option<&ChannelSim> {
        self.channels.get(usize::from(channel).checked_sub(1)?)
    }

    fn channel_mut(&mut self, channel: u8) -> Option<&mut ChannelSim> {
        self.channels.get_mut(usize::from(channel).checked_sub(1)?)
    }

    /// Unsolicited frames (ALARM) produced since the last call.
    pub fn take_events(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.events)
    }

    /// Let `elapsed_ms` pass: infusing channels accrue volume; reaching the VTBI raises a
    /// VTBI-COMPLETE alarm on that channel.
    pub fn advance(&mut self, elapsed_ms: u64) {
        let mut completed = Vec::new();
        for (i, ch) in self.channels.iter_mut().enumerate() {
            let Some(p) = ch
                .program
                .as_ref()
                .filter(|_| ch.state == ChannelState::Infusing)
            else {
                continue;
            };
            let (rate, vtbi) = (p.rate.milli(), p.vtbi.milli());
            ch.accrued = ch
                .accrued
                .saturating_add(u128::from(rate) * u128::from(elapsed_ms));
            if ch.volume_infused_milli() >= vtbi {
                completed.push(i);
            }
        }
        for i in completed {
            let channel = u8::try_from(i + 1).unwrap_or(0);
            self.raise_alarm(channel, AlarmCode::VTBI_COMPLETE, Severity::Medium);
        }
    }

    /// Raise an alarm (e.g. an occlusion in a test): a channel alarm stops that channel; an
    /// ALARM frame is queued.
    pub fn raise_alarm(&mut self, channel: u8, code: AlarmCode, severity: Severity) {
        if let Some(ch) = self.channel_mut(channel) {
            ch.state = ChannelState::Alarm;
            ch.alarm = Some(code);
        }
        let header = Header {
            flags: Flags::request(true),
            sequence: self.take_sequence(),
            device: self.serial,
            channel,
            code: crate::header::CommandCode::ALARM,
        };
        let frame = Frame {
            header,
            command: Command::Alarm(Alarm {
                code,
                severity,
                text: None,
            }),
            unknown: Vec::new(),
        };
        if let Ok(bytes) = frame.encode() {
            self.events.push(bytes);
        }
    }

    fn take_sequence(&mut self) -> u32 {
        let s = self.next_sequence;
        self.next_sequence = s.wrapping_add(1);
        s
    }

    /// Parse and handle raw frame bytes; malformed frames get a NAK (or nothing, when not
    /// even the header can be read).
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Vec<u8> {
        match Frame::parse(bytes) {
            Ok(frame) => self.handle(&frame),
            Err(e) => match Header::parse(bytes) {
                Ok(h) if !h.flags.response => {
                    let to = ReplyTo {
                        device: self.serial,
                        ..ReplyTo::from(&h)
                    };
                    build_nak(&to, e.nak_reason(), Some(&e.to_string()))
                }
                _ => Vec::new(),
            },
        }
    }

    /// Handle one request; returns the response bytes (empty when none is due: a response
    /// frame, a frame for another pump, or a success without ack-requested).
    pub fn handle(&mut self, frame: &Frame<'_>) -> Vec<u8> {
        let h = &frame.header;
        if h.flags.response || (!h.device.is_unaddressed() && h.device != self.serial) {
            return Vec::new();
        }
        let to = ReplyTo {
            device: self.serial,
            ..ReplyTo::from(h)
        };
        let outcome = if usize::from(h.channel) > self.channels.len() {
            Outcome::Refuse(NakReason::UNSUPPORTED, "no such channel")
        } else {
            self.dispatch(h, &frame.command)
        };
        match outcome {
            Outcome::Done if h.flags.ack_requested => self.reply(&to, Command::Ack),
            Outcome::Done => Vec::new(),
            Outcome::Reply(bytes) => bytes,
            Outcome::Refuse(reason, text) => build_nak(&to, reason, Some(text)),
            Outcome::RefuseText(reason, text) => build_nak(&to, reason, Some(&text)),
        }
    }

    fn reply(&self, to: &ReplyTo, command: Command<'_>) -> Vec<u8> {
        let frame = Frame::new(Flags::RESPONSE, to.sequence, to.device, to.channel, command);
        frame.encode().unwrap_or_else(|e| {
            build_nak(
                to,
                NakReason::MALFORMED,
                Some(&format!("pump cannot encode reply: {e}")),
            )
        })
    }

    fn dispatch(&mut self, h: &Header, command: &Command<'_>) -> Outcome {
        let to = ReplyTo {
            device: self.serial,
            ..ReplyTo::from(h)
        };
        match command {
            Command::Hello(_) => Outcome::Reply(self.reply(
                &to,
                Command::Identify(Identify {
                    model: &self.model,
                    firmware_version: &self.firmware_version,
                    drug_library_version: &self.drug_library_version,
                }),
            )),
            Command::Status => Outcome::Reply(self.status_report(&to)),
            Command::SetConfig(c) => {
                self.config.insert(c.key.to_owned(), c.value.to_owned());
                Outcome::Done
            }
            Command::DrugLibraryUpdate(_) | Command::FirmwareUpdate(_) => self.update(command),
            Command::Alarm(_) => Outcome::Refuse(NakReason::UNSUPPORTED, "pumps raise alarms"),
            Command::Unknown { .. } => {
                Outcome::Refuse(NakReason::UNSUPPORTED, "unsupported command")
            }
            Command::Identify(_) | Command::StatusReport(_) | Command::Ack | Command::Nak(_) => {
                Outcome::Refuse(NakReason::MALFORMED, "response sent as a request")
            }
            Command::ClearAlarm(_) if h.channel == 0 => {
                Outcome::Refuse(NakReason::SEQUENCE_ERROR, "no device alarm active")
            }
            _ => {
                let Some(ch) = self.channel_mut(h.channel) else {
                    return Outcome::Refuse(NakReason::UNSUPPORTED, "no such channel");
                };
                channel_command(ch, command)
            }
        }
    }

    fn status_report(&self, to: &ReplyTo) -> Vec<u8> {
        let channels = self
            .channels
            .iter()
            .enumerate()
            .filter_map(|(i, ch)| {
                let channel = u8::try_from(i + 1).ok()?;
                if to.channel != 0 && to.channel != channel {
                    return None;
                }
                let vtbi = ch.program.as_ref().map_or(0, |p| p.vtbi.milli());
                let infused = ch.volume_infused_milli();
                let rate = match (&ch.program, ch.state) {
                    (Some(p), ChannelState::Infusing) => p.rate,
                    _ => Quantity::zero(Unit::MlPerH),
                };
                Some(ChannelReport {
                    channel,
                    state: ch.state,
                    rate,
                    volume_infused: ml(infused),
                    vtbi_remaining: ml(vtbi.saturating_sub(infused)),
                    drug_code: ch.program.as_ref().map(|p| p.drug_code.as_str()),
                    order_id: ch.program.as_ref().map(|p| p.order_id.as_str()),
                    unknown: Vec::new(),
                })
            })
            .collect();
        self.reply(to, Command::StatusReport(StatusReport { channels }))
    }

    fn update(&mut self, command: &Command<'_>) -> Outcome {
        if matches!(command, Command::FirmwareUpdate(_))
            && self.channels.iter().any(|c| c.state != ChannelState::Idle)
        {
            return Outcome::Refuse(NakReason::BUSY, "firmware update needs all channels idle");
        }
        match self.updates.accept_command(command) {
            Some(Ok(Progress::Complete { kind, version, .. })) => {
                match kind {
                    UpdateKind::DrugLibrary => self.drug_library_version = version,
                    UpdateKind::Firmware => self.firmware_version = version,
                }
                Outcome::Done
            }
            Some(Ok(Progress::InProgress { .. })) => Outcome::Done,
            Some(Err(e)) => Outcome::RefuseText(NakReason::SEQUENCE_ERROR, e.to_string()),
            None => Outcome::Refuse(NakReason::MALFORMED, "not an update"),
        }
    }
}

/// The per-channel state machine (docs/pump-protocol.md §9).
fn channel_command(ch: &mut ChannelSim, command: &Command<'_>) -> Outcome {
    use ChannelState::{Alarm as InAlarm, Idle, Infusing, Paused, Programmed};
    let busy = Outcome::Refuse(NakReason::BUSY, "channel is in alarm");
    match (command, ch.state) {
        (_, InAlarm) if !matches!(command, Command::ClearAlarm(_) | Command::Stop) => busy,
        (Command::ProgramInfusion(p), Idle | Programmed) => {
            *ch = ChannelSim {
                state: Programmed,
                program: Some(Program::from_command(p)),
                alarm: None,
                accrued: 0,
            };
            Outcome::Done
        }
        (Command::ProgramInfusion(_), _) => {
            Outcome::Refuse(NakReason::BUSY, "channel is running; stop it first")
        }
        (Command::ChangeRate(c), Programmed | Infusing | Paused) => match ch.program.as_mut() {
            Some(p) if p.order_id == c.order_id => {
                p.rate = c.rate;
                p.dose_rate = c.dose_rate;
                Outcome::Done
            }
            _ => Outcome::Refuse(NakReason::SEQUENCE_ERROR, "order id does not match program"),
        },
        (Command::ChangeRate(_), _) => {
            Outcome::Refuse(NakReason::SEQUENCE_ERROR, "no program on channel")
        }
        (Command::Bolus(b), Infusing) => match ch.program.as_ref() {
            Some(p) if p.order_id == b.parent_order_id => Outcome::Done,
            _ => Outcome::Refuse(NakReason::SEQUENCE_ERROR, "parent order is not running"),
        },
        (Command::Bolus(_), _) => {
            Outcome::Refuse(NakReason::SEQUENCE_ERROR, "bolus needs a running infusion")
        }
        (Command::Start, Programmed | Paused) => {
            ch.state = Infusing;
            Outcome::Done
        }
        (Command::Start, Idle) => {
            Outcome::Refuse(NakReason::SEQUENCE_ERROR, "no program on channel")
        }
        (Command::Start, _) => Outcome::Refuse(NakReason::SEQUENCE_ERROR, "already infusing"),
        (Command::Pause, Infusing) => {
            ch.state = Paused;
            Outcome::Done
        }
        (Command::Pause, _) => Outcome::Refuse(NakReason::SEQUENCE_ERROR, "not infusing"),
        (Command::Stop, _) => {
            *ch = ChannelSim::idle();
            Outcome::Done
        }
        (Command::ClearAlarm(c), InAlarm) if ch.alarm == Some(c.code) => {
            ch.alarm = None;
            ch.state = if ch.program.is_some() { Paused } else { Idle };
            Outcome::Done
        }
        (Command::ClearAlarm(_), _) => {
            Outcome::Refuse(NakReason::SEQUENCE_ERROR, "no such alarm active")
        }
        _ => Outcome::Refuse(NakReason::UNSUPPORTED, "not a channel command"),
    }
}
