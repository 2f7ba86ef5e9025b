//! One pump, one entry: a pump first heard through unaddressed frames (HELLO before it has said
//! who it is) is keyed by its address; once a frame names its serial, that address entry is
//! folded into the pump's entry and later unaddressed frames go straight to it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::model::LearnedDevice;
use super::{InventoryConfig, State, address_key, put};

impl State {
    /// The key unaddressed pump frames to `ip` are recorded under: the pump's own entry once a
    /// serial was seen there, else the address.
    pub(super) fn unaddressed_pump_key(&self, ip: IpAddr) -> String {
        self.pump_at
            .get(&ip)
            .cloned()
            .unwrap_or_else(|| address_key(ip))
    }

    /// A frame named the pump `key` behind `ip`: remember it, and fold into it the entry its
    /// unaddressed frames were recorded under, if that entry holds nothing but pump traffic (an
    /// address that also spoke HL7 or DICOM is some other role of the host and stays apart).
    pub(super) fn adopt_pump_address(&mut self, ip: IpAddr, key: &str, cfg: &InventoryConfig) {
        if self.pump_at.get(&ip).is_some_and(|k| k == key) {
            return;
        }
        if self.pump_at.len() < cfg.max_devices {
            self.pump_at.insert(ip, key.to_owned());
        }
        let address = address_key(ip);
        let only_pump_traffic = self.devices.get(&address).is_some_and(|d| {
            !d.sent.is_empty() || !d.received.is_empty()
        } && d
            .sent
            .keys()
            .chain(d.received.keys())
            .all(|k| k.starts_with("pump:")));
        if !only_pump_traffic || !self.devices.contains_key(key) {
            return;
        }
        let Some(from) = self.devices.remove(&address) else {
            return;
        };
        if let Some(into) = self.devices.get_mut(key) {
            fold(into, from, cfg);
        }
        // Whoever talked to the address talked to this pump.
        for device in self.devices.values_mut() {
            if let Some(n) = device.peers.remove(&address) {
                add(
                    &mut device.peers,
                    key,
                    n,
                    cfg.max_peers_per_device,
                    &mut device.overflow,
                );
            }
        }
        self.dirty = true;
    }
}

/// Everything learned under `from` added to `into`, within `into`'s bounds.
fn fold(into: &mut LearnedDevice, from: LearnedDevice, cfg: &InventoryConfig) {
    if from.first_seen < into.first_seen {
        into.first_seen = from.first_seen;
    }
    if from.last_seen > into.last_seen {
        into.last_seen = from.last_seen;
    }
    if into.approved.is_none() {
        into.approved = from.approved;
    }
    if into.pump.is_none() {
        into.pump = from.pump;
    }
    let overflow = &mut into.overflow;
    *overflow = overflow.saturating_add(from.overflow);
    for (set, other) in [
        (&mut into.routes, from.routes),
        (&mut into.addresses, from.addresses),
        (&mut into.cert_subjects, from.cert_subjects),
        (&mut into.hl7_sending, from.hl7_sending),
        (&mut into.hl7_receiving, from.hl7_receiving),
    ] {
        union(set, other, overflow);
    }
    for (map, other, cap) in [
        (&mut into.peers, from.peers, cfg.max_peers_per_device),
        (&mut into.sent, from.sent, cfg.max_message_types_per_device),
        (
            &mut into.received,
            from.received,
            cfg.max_message_types_per_device,
        ),
    ] {
        for (k, n) in other {
            add(map, &k, n, cap, overflow);
        }
    }
    for (ae, identity) in from.ae_titles {
        into.ae_titles.entry(ae).or_insert(identity);
    }
}

fn union(set: &mut BTreeSet<String>, other: BTreeSet<String>, overflow: &mut u64) {
    for v in other {
        put(set, &v, overflow);
    }
}

fn add(map: &mut BTreeMap<String, u64>, key: &str, n: u64, cap: usize, overflow: &mut u64) {
    if let Some(have) = map.get_mut(key) {
        *have = have.saturating_add(n);
    } else if map.len() < cap {
        map.insert(key.to_owned(), n);
    } else {
        *overflow = overflow.saturating_add(1);
    }
}
