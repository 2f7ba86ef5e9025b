//! Judging infusion-pump commands (wardgate pump protocol): who may send which command to which
//! pump, the drug library, and the stateful clinical rules (rate of change, frequency, sequence,
//! integrity of updates, configuration only while not infusing). Time is passed in.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use wardgate_pump::{ChannelState, Command, CommandCode, DeviceId, Frame, Quantity, UpdateTracker};

use crate::breakglass::{Outcome, Overrides};
use crate::druglib::{DoseOrder, Given, Slot, Violation, hl7_error, piv};
use crate::ruleset::{Protocol, Rule, RuleSet};
use crate::sender::Sender;
use crate::units::{self, Kind, Unit};
use crate::verdict::{Action, Denial, Mode, Permit, Verdict};

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

/// The last program wardgate let through to a channel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    order_id: String,
    pub(crate) drug_code: String,
    pub(crate) care_area: String,
    rate_ml_h: f64,
    pub(crate) weight_kg: Option<f64>,
    pub(crate) concentration: Option<(Kind, f64)>,
}

/// What wardgate knows about one pump channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct Channel {
    pub(crate) program: Option<Program>,
    /// Times (ms) of accepted program changes, newest last, bounded by the policy.
    changes: VecDeque<u64>,
    /// Whether the channel is infusing, as last reported by the pump or commanded through wardgate.
    infusing: bool,
    /// The drug-library or firmware transfer in progress (device level, channel 0): chunks must
    /// come in order, for one image, and add up to its digest.
    /// Boxed and absent until the first chunk: only a pump's channel 0 ever carries one.
    updates: Option<Box<UpdateTracker>>,
}

pub(crate) type Key = ([u8; 16], u8);

/// Per-(pump, channel) state, bounded: the least recently used channel is forgotten first.
/// It lives outside the rule set, so it survives a rule reload.
#[derive(Debug)]
pub struct PumpState {
    channels: HashMap<Key, (u64, Channel)>,
    recency: BTreeMap<u64, Key>,
    tick: u64,
    capacity: usize,
    /// What a channel was before each permitted command, until the pump answers it: a NAK (or
    /// a command that never reached the pump) puts the channel back.
    undo: VecDeque<(Key, u32, Option<Channel>)>,
}

/// Most permitted commands awaiting the pump's answer whose effect can still be undone.
pub const MAX_UNDO: usize = 4096;

/// Most frequency timestamps kept per channel, whatever the policy says.
pub const MAX_CHANGE_HISTORY: usize = 256;

impl PumpState {
    /// State for at most `max_tracked_channels` channels (at least 1).
    pub fn new(max_tracked_channels: usize) -> Self {
        PumpState {
            channels: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
            capacity: max_tracked_channels.max(1),
            undo: VecDeque::new(),
        }
    }

    /// Remember a channel's state before a command changes it.
    fn save(&mut self, key: Key, sequence: u32) {
        let before = self.get(&key).cloned();
        if self.undo.len() >= MAX_UNDO {
            self.undo.pop_front();
        }
        self.undo.push_back((key, sequence, before));
    }

    /// Put the channel back as it was before the command `sequence` (refused by the pump or
    /// never delivered); forget the snapshot when the pump accepted it.
    fn settle(&mut self, device: &DeviceId, sequence: u32, accepted: bool) {
        let Some(i) = self
            .undo
            .iter()
            .position(|(k, s, _)| k.0 == device.field() && *s == sequence)
        else {
            return;
        };
        let Some((key, _, before)) = self.undo.remove(i) else {
            return;
        };
        if accepted {
            return;
        }
        match before {
            Some(channel) => *self.entry(key) = channel,
            None => {
                if let Some((stamp, _)) = self.channels.remove(&key) {
                    self.recency.remove(&stamp);
                }
            }
        }
    }

    /// How many channels are tracked.
    pub fn tracked(&self) -> usize {
        self.channels.len()
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Channel> {
        self.channels.get(key).map(|(_, c)| c)
    }

    /// The channel's state, created (evicting the least recently used) if new.
    fn entry(&mut self, key: Key) -> &mut Channel {
        self.tick += 1;
        let tick = self.tick;
        if let Some((stamp, _)) = self.channels.get(&key) {
            self.recency.remove(stamp);
        } else if self.channels.len() >= self.capacity {
            if let Some((_, oldest)) = self.recency.pop_first() {
                self.channels.remove(&oldest);
            }
        }
        self.recency.insert(tick, key);
        let slot = self.channels.entry(key).or_default();
        slot.0 = tick;
        &mut slot.1
    }
}

pub(crate) fn key(device: &DeviceId, channel: u8) -> Key {
    (device.field(), channel)
}

fn refuse(reason: String, application_code: Option<u16>) -> Violation {
    Violation {
        reason,
        hl7_error: hl7_error::APPLICATION_ERROR,
        application_code,
    }
}

pub(crate) fn given(q: &Quantity, slot: Slot) -> Result<Given, Violation> {
    let text = q.unit().ucum();
    let unit =
        units::parse_ucum(text).map_err(|e| refuse(e.to_string(), Some(piv::UNITS_MISMATCH)))?;
    Ok(Given {
        slot,
        value: q.value(),
        unit,
        written: text.to_owned(),
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

fn digest_listed(list: &[[u8; 32]], digest: &[u8; 32]) -> bool {
    list.iter().any(|d| d == digest)
}

impl RuleSet {
    /// Judge a command from a controller to a pump. Rules with `protocol = "pump"` are tried in
    /// order as for HL7; an allow rule's command must also pass the built-in clinical checks.
    /// `now_ms` is any monotonic clock in milliseconds; the state changes only when permitted.
    pub fn evaluate_pump(
        &self,
        frame: &Frame<'_>,
        sender: &Sender,
        now_ms: u64,
        state: &mut PumpState,
    ) -> Verdict {
        self.evaluate_pump_with(frame, sender, now_ms, state, &Overrides::default())
    }

    /// [`RuleSet::evaluate_pump`] under break-glass: refusals the overrides cover are recorded in
    /// the permit instead of enforced (the command then counts as sent for the stateful checks);
    /// `never_override` rules still refuse.
    pub fn evaluate_pump_with(
        &self,
        frame: &Frame<'_>,
        sender: &Sender,
        now_ms: u64,
        state: &mut PumpState,
        overrides: &Overrides,
    ) -> Verdict {
        let mut audit = Vec::new();
        for rule in self.rules.iter().filter(|r| r.protocol == Protocol::Pump) {
            if !rule.matches_pump(frame, sender) {
                continue;
            }
            let verdict = match rule.action {
                Action::Deny => Verdict::Deny(rule.denial_for(rule.description.clone())),
                Action::Allow => match self.pump_checks(rule, frame, now_ms, state) {
                    Ok(alerts) => Verdict::Permit(Permit {
                        rule: Some(rule.id.clone()),
                        alerts,
                        audit: Vec::new(),
                    }),
                    Err(v) => Verdict::Deny(Denial {
                        rule: rule.id.clone(),
                        reason: v.reason,
                        hl7_error: v.hl7_error,
                        application_code: v.application_code,
                    }),
                },
            };
            let verdict = match overrides.set_aside(rule, rule.mode == Mode::Audit, verdict) {
                Outcome::Decides(v) => v,
                Outcome::Recorded(d) => {
                    audit.push(d);
                    continue;
                }
                Outcome::Skipped => continue,
            };
            return match verdict {
                Verdict::Permit(mut p) => {
                    if !overrides.is_empty() {
                        if let Err(d) = self.pin_pump(frame, state) {
                            return Verdict::Deny(d);
                        }
                    }
                    self.record(frame, now_ms, state);
                    p.audit = audit;
                    Verdict::Permit(p)
                }
                deny => deny,
            };
        }
        let default = match self.policy.default {
            Action::Allow => Verdict::Permit(Permit {
                rule: None,
                alerts: Vec::new(),
                audit: Vec::new(),
            }),
            Action::Deny => Verdict::Deny(Denial {
                rule: Arc::from("default"),
                reason: format!(
                    "no rule allows {} from this sender",
                    frame.header.code.name().unwrap_or("this command")
                ),
                hl7_error: hl7_error::APPLICATION_ERROR,
                application_code: None,
            }),
        };
        let verdict = overrides.settle_default(default, audit);
        if !verdict.forwards() {
            return verdict;
        }
        if !overrides.is_empty() {
            if let Err(d) = self.pin_pump(frame, state) {
                return Verdict::Deny(d);
            }
        }
        self.record(frame, now_ms, state);
        verdict
    }

    /// Feed what a pump says (STATUS-REPORT, ACK/NAK, ALARM) into the state.
    pub fn observe_pump(&self, frame: &Frame<'_>, _now_ms: u64, state: &mut PumpState) {
        match &frame.command {
            Command::Ack if frame.header.flags.response => {
                state.settle(&frame.header.device, frame.header.sequence, true);
            }
            Command::Nak(_) if frame.header.flags.response => {
                state.settle(&frame.header.device, frame.header.sequence, false);
            }
            _ => {}
        }
        if let Command::StatusReport(report) = &frame.command {
            for ch in &report.channels {
                let c = state.entry(key(&frame.header.device, ch.channel));
                c.infusing = ch.state == ChannelState::Infusing;
                if ch.state == ChannelState::Idle {
                    c.program = None;
                }
            }
        }
    }

    fn pump_checks(
        &self,
        rule: &Rule,
        frame: &Frame<'_>,
        now_ms: u64,
        state: &PumpState,
    ) -> Result<Vec<String>, Violation> {
        let h = &frame.header;
        let channel = state.get(&key(&h.device, h.channel));
        let policy = &self.pump;
        let mut alerts = Vec::new();
        match &frame.command {
            Command::ProgramInfusion(p) => {
                self.frequency(channel, now_ms)?;
                if rule.drug_library {
                    let mut given_values =
                        vec![given(&p.rate, Slot::Rate)?, given(&p.vtbi, Slot::Vtbi)?];
                    if let Some(d) = &p.dose_rate {
                        given_values.push(given(d, Slot::Rate)?);
                    }
                    let order = DoseOrder {
                        codes: [p.drug_code, ""],
                        names: ["", ""],
                        care_area: p.care_area,
                        bolus: false,
                        given: given_values,
                        weight_kg: weight(&p.patient_weight),
                        concentration: p.concentration.as_ref().and_then(concentration),
                    };
                    alerts = self.library.check_dose(&order)?;
                }
            }
            Command::ChangeRate(c) => {
                let program = channel.and_then(|c| c.program.as_ref()).ok_or_else(|| {
                    refuse(
                        format!(
                            "CHANGE-RATE for order {} on a channel with no accepted program",
                            c.order_id
                        ),
                        None,
                    )
                })?;
                if program.order_id != c.order_id {
                    return Err(refuse(
                        format!(
                            "CHANGE-RATE names order {} but the channel runs order {}",
                            c.order_id, program.order_id
                        ),
                        None,
                    ));
                }
                self.frequency(channel, now_ms)?;
                let new_rate = c.rate.value();
                if let Some(why) = rate_jump(policy, program.rate_ml_h, new_rate) {
                    match policy.rate_change_action.unwrap_or(Action::Deny) {
                        Action::Deny => {
                            return Err(refuse(why, Some(piv::OUTSIDE_ALLOWABLE_RANGE)));
                        }
                        Action::Allow => alerts.push(why),
                    }
                }
                if rule.drug_library {
                    let mut given_values = vec![given(&c.rate, Slot::Rate)?];
                    if let Some(d) = &c.dose_rate {
                        given_values.push(given(d, Slot::Rate)?);
                    }
                    let order = DoseOrder {
                        codes: [&program.drug_code, ""],
                        names: ["", ""],
                        care_area: &program.care_area,
                        bolus: false,
                        given: given_values,
                        weight_kg: program.weight_kg,
                        concentration: program.concentration,
                    };
                    alerts.extend(self.library.check_dose(&order)?);
                }
            }
            Command::Bolus(b) => {
                let program = channel.and_then(|c| c.program.as_ref());
                match program {
                    Some(p) if p.order_id == b.parent_order_id => {}
                    Some(p) => {
                        return Err(refuse(
                            format!(
                                "BOLUS names parent order {:?} but the channel runs order {}",
                                b.parent_order_id, p.order_id
                            ),
                            None,
                        ));
                    }
                    None => {
                        return Err(refuse(
                            "BOLUS on a channel with no accepted program: a bolus must name its running parent order".into(),
                            None,
                        ));
                    }
                }
                self.frequency(channel, now_ms)?;
                if let (true, Some(p)) = (rule.drug_library, program) {
                    let order = DoseOrder {
                        codes: [&p.drug_code, ""],
                        names: ["", ""],
                        care_area: &p.care_area,
                        bolus: true,
                        given: vec![given(&b.dose, Slot::Bolus)?],
                        weight_kg: p.weight_kg,
                        concentration: p.concentration,
                    };
                    alerts = self.library.check_dose(&order)?;
                }
            }
            Command::SetConfig(c) => {
                if !policy.config_keys.iter().any(|k| k == c.key) {
                    return Err(refuse(
                        format!(
                            "SET-CONFIG of {:?}: not a key the policy lets controllers change",
                            c.key
                        ),
                        None,
                    ));
                }
                let infusing = (0..=wardgate_pump::MAX_CHANNELS)
                    .filter_map(|ch| state.get(&key(&h.device, ch)))
                    .any(|c| c.infusing);
                if infusing {
                    return Err(refuse(
                        format!("SET-CONFIG of {:?} while the pump is infusing", c.key),
                        None,
                    ));
                }
            }
            Command::DrugLibraryUpdate(u) | Command::FirmwareUpdate(u) => {
                let (approved, what) = match frame.command {
                    Command::DrugLibraryUpdate(_) => {
                        (&policy.approved_drug_libraries, "drug library")
                    }
                    _ => (&policy.approved_firmware, "firmware"),
                };
                if !digest_listed(approved, &u.digest) {
                    return Err(refuse(
                        format!(
                            "{what} image {} (version {:?}) is not approved",
                            hex::encode(u.digest),
                            u.version
                        ),
                        None,
                    ));
                }
                // Try the chunk on a copy of the transfer: out of order, mixed images or a
                // digest that the received bytes do not add up to are refused.
                let mut tracker = state
                    .get(&key(&h.device, 0))
                    .and_then(|c| c.updates.as_deref().cloned())
                    .unwrap_or_default();
                if let Some(Err(e)) = tracker.accept_command(&frame.command) {
                    return Err(refuse(format!("{what} update refused: {e}"), None));
                }
            }
            _ => {}
        }
        Ok(alerts)
    }

    fn frequency(&self, channel: Option<&Channel>, now_ms: u64) -> Result<(), Violation> {
        let Some(max) = self.pump.max_changes else {
            return Ok(());
        };
        let window = self.pump.change_window_ms;
        let recent = channel.map_or(0, |c| {
            c.changes
                .iter()
                .filter(|&&t| now_ms.saturating_sub(t) < window)
                .count()
        });
        if recent >= max {
            return Err(refuse(
                format!(
                    "{recent} program changes on this channel in the last {} s; at most {max} allowed",
                    window / 1000
                ),
                Some(piv::OUTSIDE_ALLOWABLE_RANGE),
            ));
        }
        Ok(())
    }

    /// The proxy could not deliver a permitted command: undo what it changed in the state.
    pub fn pump_undelivered(&self, header: &wardgate_pump::Header, state: &mut PumpState) {
        state.settle(&header.device, header.sequence, false);
    }

    /// Remember what a permitted command changes.
    fn record(&self, frame: &Frame<'_>, now_ms: u64, state: &mut PumpState) {
        let h = &frame.header;
        if matches!(
            frame.command,
            Command::ProgramInfusion(_)
                | Command::ChangeRate(_)
                | Command::Bolus(_)
                | Command::Start
                | Command::Pause
                | Command::Stop
        ) {
            state.save(key(&h.device, h.channel), h.sequence);
        } else if matches!(
            frame.command,
            Command::DrugLibraryUpdate(_) | Command::FirmwareUpdate(_)
        ) {
            state.save(key(&h.device, 0), h.sequence);
        }
        let history = self
            .pump
            .max_changes
            .unwrap_or(0)
            .clamp(1, MAX_CHANGE_HISTORY);
        let push_change = |c: &mut Channel| {
            c.changes.push_back(now_ms);
            while c.changes.len() > history {
                c.changes.pop_front();
            }
        };
        match &frame.command {
            Command::ProgramInfusion(p) => {
                let c = state.entry(key(&h.device, h.channel));
                c.program = Some(Program {
                    order_id: p.order_id.to_owned(),
                    drug_code: p.drug_code.to_owned(),
                    care_area: p.care_area.to_owned(),
                    rate_ml_h: p.rate.value(),
                    weight_kg: weight(&p.patient_weight),
                    concentration: p.concentration.as_ref().and_then(concentration),
                });
                push_change(c);
            }
            Command::ChangeRate(r) => {
                let c = state.entry(key(&h.device, h.channel));
                if let Some(p) = c.program.as_mut() {
                    p.rate_ml_h = r.rate.value();
                }
                push_change(c);
            }
            Command::Bolus(_) => push_change(state.entry(key(&h.device, h.channel))),
            Command::DrugLibraryUpdate(_) | Command::FirmwareUpdate(_) => {
                let c = state.entry(key(&h.device, 0));
                let updates = c.updates.get_or_insert_with(Box::default);
                if let Some(Err(_)) = updates.accept_command(&frame.command) {
                    // Checked before the permit; a failure here means the chunk was judged
                    // without a check (default allow): start over rather than keep a bad transfer.
                    updates.abandon();
                }
            }
            Command::Start => state.entry(key(&h.device, h.channel)).infusing = true,
            Command::Pause => state.entry(key(&h.device, h.channel)).infusing = false,
            Command::Stop => {
                let c = state.entry(key(&h.device, h.channel));
                c.infusing = false;
                c.program = None;
            }
            _ => {}
        }
    }
}

/// Why a rate change is too large, if it is.
fn rate_jump(policy: &PumpPolicy, last: f64, new: f64) -> Option<String> {
    if let Some(f) = policy.max_rate_factor {
        if last > 0.0 && new > last * f {
            return Some(format!(
                "new rate {new} mL/h is more than {f} times the last accepted rate of {last} mL/h"
            ));
        }
    }
    if let Some(step) = policy.max_rate_step {
        if (new - last).abs() > step {
            return Some(format!(
                "rate change from {last} to {new} mL/h is larger than the allowed step of {step} mL/h"
            ));
        }
    }
    None
}

impl Rule {
    fn matches_pump(&self, frame: &Frame<'_>, sender: &Sender) -> bool {
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
