//! Judging infusion-pump commands (wardgate pump protocol): who may send which command to which
//! pump, the drug library, and the stateful clinical rules (rate of change, frequency, sequence,
//! integrity of updates, configuration only while not infusing). Time is passed in.

use wardgate_pump::{CommandCode, Frame, Quantity};

use crate::druglib::{Given, Slot, Violation, hl7_error, piv};
use crate::ruleset::Rule;
use crate::sender::Sender;
use crate::units::{self, Kind, Unit};
use crate::verdict::Action;

mod checks;
mod evaluate;
mod state;

pub(crate) use state::{Channel, key};
pub use state::{MAX_CHANGE_HISTORY, MAX_UNDO, PumpState};

/// Pump-protocol settings of a rule set (`[pump]` in a rule file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PumpPolicy {
    /// Refuse (or alert on) a new rate more than this many times the last accepted rate.
    pub max_rate_factor: Option<f64>,
    /// Refuse (or alert on) a rate change larger than this many mL/h.
    pub max_rate_step: Option<f64>,
    /// `Deny` refuses a rate change beyond the limits; `Allow` lets it pass with an alert.
    pub rate_change_action: Option<Action>,
    /// At most this many PROGRAM-INFUSION / CHANGE-RATE / BOLUS per channel per window.
    pub max_changes: Option<usize>,
    /// The frequency window in milliseconds.
    pub change_window_ms: u64,
    /// SHA-256 digests of approved drug-library images.
    pub approved_drug_libraries: Vec<[u8; 32]>,
    /// SHA-256 digests of approved firmware images.
    pub approved_firmware: Vec<[u8; 32]>,
    /// Configuration keys SET-CONFIG may change (none listed: none may be changed).
    pub config_keys: Vec<String>,
}

pub(super) fn refuse(reason: String, application_code: Option<u16>) -> Violation {
    Violation {
        reason,
        hl7_error: hl7_error::APPLICATION_ERROR,
        application_code,
    }
}

pub(crate) fn given(q: &Quantity, slot: Slot) -> Result<Given<'static>, Violation> {
    let text = q.unit().ucum();
    let unit =
        units::parse_ucum(text).map_err(|e| refuse(e.to_string(), Some(piv::UNITS_MISMATCH)))?;
    Ok(Given {
        slot,
        value: q.value(),
        unit,
        written: text.into(),
    })
}

/// A concentration quantity such as `mg/mL` as (kind, canonical amount per mL).
pub(crate) fn concentration(q: &Quantity) -> Option<(Kind, f64)> {
    let amount = q.unit().ucum().strip_suffix("/mL")?;
    let unit: Unit = units::parse_ucum(amount).ok()?;
    (unit.is_dose() && !unit.per_kg).then(|| (unit.kind, q.value() * unit.factor))
}

pub(crate) fn weight(q: &Option<Quantity>) -> Option<f64> {
    let q = q.as_ref()?;
    let unit = units::parse_ucum(q.unit().ucum()).ok()?;
    (unit.kind == Kind::Weight).then(|| q.value() * unit.factor)
}

impl Rule {
    pub(super) fn matches_pump(&self, frame: &Frame<'_>, sender: &Sender) -> bool {
        let h = &frame.header;
        if !self.commands.is_empty() && !self.commands.contains(&h.code) {
            return false;
        }
        if let Some(devices) = &self.devices {
            let serial = h.device.as_str();
            if !devices.holds((!serial.is_empty()).then_some(serial.as_bytes())) {
                return false;
            }
        }
        if let Some(channels) = &self.channels {
            if !channels.contains(&h.channel) {
                return false;
            }
        }
        self.matches_sender(sender)
    }
}

/// Command codes by spec name, for rule files.
pub(crate) fn command_by_name(name: &str) -> Option<CommandCode> {
    ALL_COMMANDS
        .iter()
        .copied()
        .find(|c| c.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

/// Every command v1 defines.
pub(crate) const ALL_COMMANDS: &[CommandCode] = &[
    CommandCode::HELLO,
    CommandCode::IDENTIFY,
    CommandCode::STATUS,
    CommandCode::STATUS_REPORT,
    CommandCode::PROGRAM_INFUSION,
    CommandCode::CHANGE_RATE,
    CommandCode::BOLUS,
    CommandCode::START,
    CommandCode::PAUSE,
    CommandCode::STOP,
    CommandCode::ALARM,
    CommandCode::CLEAR_ALARM,
    CommandCode::SET_CONFIG,
    CommandCode::DRUG_LIBRARY_UPDATE,
    CommandCode::FIRMWARE_UPDATE,
    CommandCode::ACK,
    CommandCode::NAK,
];
