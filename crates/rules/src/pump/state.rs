//! What wardgate remembers about each pump channel between commands, bounded and undoable.

use std::collections::{BTreeMap, HashMap, VecDeque};

use wardgate_pump::{DeviceId, UpdateTracker};

use crate::units::Kind;

/// The last program wardgate let through to a channel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    pub(super) order_id: String,
    pub(crate) drug_code: String,
    pub(crate) care_area: String,
    pub(super) rate_ml_h: f64,
    pub(crate) weight_kg: Option<f64>,
    pub(crate) concentration: Option<(Kind, f64)>,
}

/// What wardgate knows about one pump channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct Channel {
    pub(crate) program: Option<Program>,
    /// Times (ms) of accepted program changes, newest last, bounded by the policy.
    pub(super) changes: VecDeque<u64>,
    /// Whether the channel is infusing, as last reported by the pump or commanded through wardgate.
    pub(super) infusing: bool,
    /// The drug-library or firmware transfer in progress (device level, channel 0): chunks must
    /// come in order, for one image, and add up to its digest.
    /// Boxed and absent until the first chunk: only a pump's channel 0 ever carries one.
    pub(super) updates: Option<Box<UpdateTracker>>,
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
    pub(super) fn save(&mut self, key: Key, sequence: u32) {
        let before = self.get(&key).cloned();
        if self.undo.len() >= MAX_UNDO {
            self.undo.pop_front();
        }
        self.undo.push_back((key, sequence, before));
    }

    /// Put the channel back as it was before the command `sequence` (refused by the pump or
    /// never delivered); forget the snapshot when the pump accepted it.
    pub(super) fn settle(&mut self, device: &DeviceId, sequence: u32, accepted: bool) {
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
    pub(super) fn entry(&mut self, key: Key) -> &mut Channel {
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
