//! The learned device inventory: what wardgate sees on the wire, kept in memory (bounded),
//! served as JSON on the admin address and saved to a state file so it survives restarts.
//!
//! Drivers call one small function per observation (a connection, an HL7 message, a pump frame,
//! an A-ASSOCIATE-RQ); everything else is here. A device is keyed by its client or upstream
//! address (`address:10.20.30.40`) or, for pumps named inside messages, by pump id / serial
//! (`pump:PUMP-0042`). With an approved inventory configured, a device that matches none of its
//! entries is reported the first time it is seen: an `unknown-device` audit line, a warning and
//! `wardgate_unknown_devices_total`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use wardgate_hl7::Message;
use wardgate_rules::{Inventory, Observed, RuleSet};

use crate::audit::AuditRecord;
use crate::hl7_conn::Peer;
use crate::route::Route;

/// `[inventory]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// The approved inventory (a `[[device]]` file); devices it does not list are reported.
    pub approved: Option<PathBuf>,
    /// Where the learned inventory is saved (JSON; written atomically), and loaded from at start.
    pub state_file: Option<PathBuf>,
    /// How often the state file is written (when something changed), e.g. `"60s"`.
    #[serde(with = "crate::config::duration")]
    pub save_interval: Duration,
    /// Most devices remembered; further devices are only counted (`overflow_devices`).
    pub max_devices: usize,
    /// Most peers remembered per device; further peers are only counted (`overflow`).
    pub max_peers_per_device: usize,
    /// Most message types remembered per device; further types are only counted (`overflow`).
    pub max_message_types_per_device: usize,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            approved: None,
            state_file: None,
            save_interval: Duration::from_secs(60),
            max_devices: 10_000,
            max_peers_per_device: 64,
            max_message_types_per_device: 64,
        }
    }
}

/// Most values kept in each of a device's identity lists (addresses, certificate subjects, HL7
/// applications, AE titles); more are counted in its `overflow`.
pub const MAX_IDENTITIES: usize = 16;
/// Longest identity value kept (an AE title is 16, a serial 16; certificate names are longer).
const MAX_VALUE_LEN: usize = 256;

const STATE_VERSION: u32 = 1;

mod fold;
mod model;
mod state;
#[cfg(test)]
mod tests;

pub use model::{AeIdentity, LearnedDevice, PumpIdentity, Snapshot};
pub use state::{MAX_STATE_BYTES, StateError, read_state, save_periodically};

#[derive(Default)]
struct State {
    devices: HashMap<String, LearnedDevice>,
    /// The pump entry behind an upstream address, once a frame to or from it named a serial.
    pump_at: HashMap<IpAddr, String>,
    overflow_devices: u64,
    dirty: bool,
}

/// The learned inventory of one proxy instance, shared by every route.
pub struct LearnedInventory {
    config: InventoryConfig,
    /// Swapped whole when the approved inventory file is reloaded.
    approved: arc_swap::ArcSwapOption<Inventory>,
    state: Mutex<State>,
    /// Held while the state file is written: the periodic save and the one at shutdown never
    /// write the temporary file at the same time.
    saving: Mutex<()>,
}

impl std::fmt::Debug for LearnedInventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnedInventory").finish_non_exhaustive()
    }
}

/// How a device talked to another in one observation.
struct Contact {
    /// `protocol:type`, e.g. `hl7:RGV^O15`.
    kind: String,
}

/// One side of a connection, and how to find it in the approved inventory.
enum Side {
    /// The client: by its address, certificate (and, on DICOM, calling AE title).
    Client(IpAddr, Option<wardgate_rules::CertIdentity>, Option<String>),
    /// The route's upstream: by address.
    Upstream(IpAddr),
}

impl Side {
    fn of(peer: &Peer) -> Side {
        Side::Client(peer.addr.ip(), peer.sender.certificate.clone(), None)
    }

    fn key(&self) -> String {
        match self {
            Side::Client(ip, _, _) | Side::Upstream(ip) => address_key(*ip),
        }
    }

    fn approve(&self, inv: &Inventory) -> Option<String> {
        let found = match self {
            Side::Client(ip, cert, ae) => inv.resolve_sender(&Observed {
                address: *ip,
                certificate: cert.as_ref(),
                hl7: None,
                calling_ae: ae.as_deref(),
            }),
            Side::Upstream(ip) => inv.by_address(*ip),
        };
        found.map(|d| d.id.clone())
    }
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_VALUE_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

fn put(set: &mut BTreeSet<String>, value: &str, overflow: &mut u64) {
    if value.is_empty() || set.contains(value) {
        return;
    }
    if set.len() < MAX_IDENTITIES {
        set.insert(cut(value));
    } else {
        *overflow += 1;
    }
}

fn count(map: &mut BTreeMap<String, u64>, key: &str, cap: usize, overflow: &mut u64) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_add(1);
    } else if map.len() < cap {
        map.insert(cut(key), 1);
    } else {
        *overflow += 1;
    }
}

/// The address key of a peer (IPv4-mapped IPv6 counts as IPv4).
fn address_key(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    format!("address:{ip}")
}

fn text(v: Option<wardgate_hl7::Value<'_>>) -> String {
    v.map(|v| String::from_utf8_lossy(&v.decoded()).into_owned())
        .unwrap_or_default()
}

impl LearnedInventory {
    /// An empty inventory with these bounds, judging against `approved` when given.
    pub fn new(config: InventoryConfig, approved: Option<Arc<Inventory>>) -> Self {
        LearnedInventory {
            config,
            approved: arc_swap::ArcSwapOption::new(approved),
            state: Mutex::new(State::default()),
            saving: Mutex::new(()),
        }
    }

    /// Compile the approved inventory file named in the configuration (and what it includes).
    pub fn load_approved(path: &Path) -> Result<Inventory, String> {
        let sources = wardgate_rules::load_rule_files(&[path.to_path_buf()])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let set: RuleSet = wardgate_rules::compile(&sources).map_err(|d| d.to_string())?;
        Ok(Arc::unwrap_or_clone(set.inventory))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that the device `key` did something, creating it (and reporting it when the
    /// approved inventory does not know it) on first sight. `approve` finds its approved entry.
    fn touch(
        &self,
        now: &str,
        route: &Route,
        key: &str,
        peer: SocketAddr,
        approve: impl FnOnce(&Inventory) -> Option<String>,
        update: impl FnOnce(&mut LearnedDevice, &InventoryConfig),
    ) {
        let mut state = self.lock();
        state.dirty = true;
        let limit = self.config.max_devices;
        let len = state.devices.len();
        let State {
            devices,
            overflow_devices,
            ..
        } = &mut *state;
        let fresh = !devices.contains_key(key);
        if fresh && len >= limit {
            *overflow_devices += 1;
            metrics::counter!("wardgate_inventory_overflow_total", "what" => "devices")
                .increment(1);
            return;
        }
        let device = devices
            .entry(key.to_owned())
            .or_insert_with(|| LearnedDevice {
                key: key.to_owned(),
                first_seen: now.to_owned(),
                ..LearnedDevice::default()
            });
        device.last_seen.clear();
        device.last_seen.push_str(now);
        if !device.routes.contains(route.name()) {
            put(&mut device.routes, route.name(), &mut device.overflow);
        }
        update(device, &self.config);
        if !fresh {
            return;
        }
        let Some(approved) = self.approved.load_full() else {
            return;
        };
        device.approved = approve(&approved);
        if device.approved.is_some() {
            return;
        }
        let reason = format!(
            "device {key} (first seen on route {}) is not in the approved inventory",
            route.name()
        );
        drop(state);
        metrics::counter!("wardgate_unknown_devices_total", "route" => route.name().to_owned())
            .increment(1);
        tracing::warn!(route = %route.name(), device = %key, %peer, "unknown device: not in the approved inventory");
        route.audit(AuditRecord {
            peer: peer.to_string(),
            direction: "inventory",
            verdict: "unknown-device",
            reason: Some(reason),
            ..AuditRecord::default()
        });
    }

    fn contact(&self, d: &mut LearnedDevice, other: &str, c: &Contact, sent: bool) {
        let cfg = &self.config;
        count(
            &mut d.peers,
            other,
            cfg.max_peers_per_device,
            &mut d.overflow,
        );
        let map = if sent { &mut d.sent } else { &mut d.received };
        count(
            map,
            &c.kind,
            cfg.max_message_types_per_device,
            &mut d.overflow,
        );
    }

    /// One message from `from` to `to`: both sides learn of it (and `on_from` / `on_to` of
    /// what it says about each).
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        now: &str,
        route: &Route,
        peer: &Peer,
        (from, to): (&Side, &Side),
        c: &Contact,
        on_from: impl FnOnce(&mut LearnedDevice),
        on_to: impl FnOnce(&mut LearnedDevice),
    ) {
        let (from_key, to_key) = (from.key(), to.key());
        self.touch(
            now,
            route,
            &from_key,
            peer.addr,
            |inv| from.approve(inv),
            |d, _| {
                self.contact(d, &to_key, c, true);
                on_from(d);
            },
        );
        self.touch(
            now,
            route,
            &to_key,
            peer.addr,
            |inv| to.approve(inv),
            |d, _| {
                self.contact(d, &from_key, c, false);
                on_to(d);
            },
        );
    }

    /// A client connected (after its TLS handshake): its address and certificate subject.
    pub fn connection(&self, route: &Route, peer: &Peer) {
        let now = &crate::clock::rfc3339(SystemTime::now());
        let key = address_key(peer.addr.ip());
        let cert = peer.sender.certificate.clone();
        let ip = peer.addr.ip();
        self.touch(
            now,
            route,
            &key,
            peer.addr,
            |inv| {
                inv.resolve_sender(&Observed::address(ip, cert.as_ref()))
                    .map(|d| d.id.clone())
            },
            |d, _| {
                put(&mut d.addresses, &ip.to_string(), &mut d.overflow);
                if let Some(cn) = cert.as_ref().and_then(|c| c.common_name.as_deref()) {
                    put(&mut d.cert_subjects, &format!("CN={cn}"), &mut d.overflow);
                }
            },
        );
    }

    /// An HL7 message: from the client (`inbound`) or the upstream's reply (`outbound`).
    /// Learns sending/receiving applications, message types, peers and PCD-03 pump ids.
    pub fn hl7(&self, route: &Route, peer: &Peer, msg: &Message<'_>, inbound: bool) {
        let now = &crate::clock::rfc3339(SystemTime::now());
        let h = msg.header();
        let c = Contact {
            kind: format!("hl7:{}^{}", text(h.message_code()), text(h.trigger_event())),
        };
        let sending = format!(
            "{}^{}",
            text(h.sending_application()),
            text(h.sending_facility())
        );
        let receiving = format!(
            "{}^{}",
            text(h.receiving_application()),
            text(h.receiving_facility())
        );
        let client = Side::of(peer);
        let upstream = Side::Upstream(peer.target.upstream.ip());
        let sides = if inbound {
            (&client, &upstream)
        } else {
            (&upstream, &client)
        };
        self.exchange(
            now,
            route,
            peer,
            sides,
            &c,
            |d| put(&mut d.hl7_sending, &sending, &mut d.overflow),
            |d| put(&mut d.hl7_receiving, &receiving, &mut d.overflow),
        );
        if !inbound {
            return;
        }
        // PCD-03: the pump each order is for (OBX-3 69986, OBX-18), bounded by the segment count.
        let client_key = client.key();
        for seg in msg.segments().filter(|s| s.id() == b"OBX") {
            let code = seg.field(3).and_then(|f| f.component(1)).map(|c| c.value());
            if code.is_none_or(|c| c.decoded().as_ref() != b"69986") {
                continue;
            }
            let id = text(
                seg.field(18)
                    .and_then(|f| f.component(1))
                    .map(|c| c.value()),
            );
            if id.is_empty() {
                continue;
            }
            self.touch(
                now,
                route,
                &format!("pump:{}", cut(&id)),
                peer.addr,
                |inv| {
                    inv.by_pump_id(&id)
                        .or_else(|| inv.by_serial(&id))
                        .map(|d| d.id.clone())
                },
                |d, _| self.contact(d, &client_key, &c, false),
            );
        }
    }

    /// A pump-protocol frame: a command from the controller (`inbound`) or the pump's frame
    /// (`outbound`); IDENTIFY (the answer to HELLO) fills in the pump's identity. The pump is
    /// keyed by its serial (an unaddressed HELLO by the route's upstream address).
    pub fn pump(
        &self,
        route: &Route,
        peer: &Peer,
        frame: &wardgate_pump::Frame<'_>,
        inbound: bool,
    ) {
        let now = &crate::clock::rfc3339(SystemTime::now());
        let h = &frame.header;
        let serial = h.device.as_str().to_owned();
        let c = Contact {
            kind: match h.code.name() {
                Some(name) => format!("pump:{name}"),
                None => format!("pump:0x{:04x}", h.code.0),
            },
        };
        let client_key = address_key(peer.addr.ip());
        let up_ip = peer.target.upstream.ip();
        let named = !h.device.is_unaddressed();
        let pump_key = if named {
            format!("pump:{}", cut(&serial))
        } else {
            self.lock().unaddressed_pump_key(up_ip)
        };
        let identify = match &frame.command {
            wardgate_pump::Command::Identify(i) if !inbound => Some(PumpIdentity {
                serial: cut(&serial),
                model: cut(i.model),
                firmware: cut(i.firmware_version),
                drug_library: cut(i.drug_library_version),
            }),
            _ => None,
        };
        self.touch(
            now,
            route,
            &pump_key,
            peer.addr,
            |inv| {
                inv.by_serial(&serial)
                    .or_else(|| inv.by_pump_id(&serial))
                    .or_else(|| inv.by_address(up_ip))
                    .map(|d| d.id.clone())
            },
            |d, _| {
                put(&mut d.addresses, &up_ip.to_string(), &mut d.overflow);
                self.contact(d, &client_key, &c, !inbound);
                if identify.is_some() {
                    d.pump = identify;
                }
            },
        );
        if named {
            self.lock()
                .adopt_pump_address(up_ip, &pump_key, &self.config);
        }
        let client = Side::of(peer);
        self.touch(
            now,
            route,
            &client_key,
            peer.addr,
            |inv| client.approve(inv),
            |d, _| self.contact(d, &pump_key, &c, inbound),
        );
    }

    /// An A-ASSOCIATE-RQ: the calling AE (the client) with its implementation class UID and
    /// version name, and the called AE (the upstream).
    pub fn dicom_associate(&self, route: &Route, peer: &Peer, rq: &wardgate_dicom::AssociateRq) {
        let now = &crate::clock::rfc3339(SystemTime::now());
        let head = &rq.header;
        let calling = head.calling_ae_title.trim().to_owned();
        let called = head.called_ae_title.trim().to_owned();
        let ae = AeIdentity {
            implementation_class_uid: head.user_info.implementation_class_uid.as_deref().map(cut),
            implementation_version_name: head
                .user_info
                .implementation_version_name
                .as_deref()
                .map(cut),
        };
        let c = Contact {
            kind: "dicom:A-ASSOCIATE-RQ".to_owned(),
        };
        let client = Side::Client(
            peer.addr.ip(),
            peer.sender.certificate.clone(),
            Some(calling.clone()),
        );
        let upstream = Side::Upstream(peer.target.upstream.ip());
        let title = |d: &mut LearnedDevice, title: &str, value: Option<AeIdentity>| {
            if d.ae_titles.contains_key(title) && value.is_none() {
                return;
            }
            if d.ae_titles.contains_key(title) || d.ae_titles.len() < MAX_IDENTITIES {
                d.ae_titles.insert(cut(title), value.unwrap_or_default());
            } else {
                d.overflow += 1;
            }
        };
        self.exchange(
            now,
            route,
            peer,
            (&client, &upstream),
            &c,
            |d| title(d, &calling, Some(ae)),
            |d| title(d, &called, None),
        );
    }

    /// Everything learned, ordered by device key.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        let mut devices: Vec<LearnedDevice> = state.devices.values().cloned().collect();
        devices.sort_by(|a, b| a.key.cmp(&b.key));
        Snapshot {
            version: STATE_VERSION,
            approved_inventory: self.approved.load().is_some(),
            devices,
            overflow_devices: state.overflow_devices,
        }
    }

    /// Replace what is known by a saved snapshot (at start), within the configured bounds. Saved
    /// devices are not reported as unknown again; their approval is looked up afresh.
    pub fn restore(&self, snapshot: Snapshot) {
        let approved = self.approved.load_full();
        let mut state = self.lock();
        state.overflow_devices = snapshot.overflow_devices;
        for mut d in snapshot.devices {
            if state.devices.len() >= self.config.max_devices {
                state.overflow_devices += 1;
                continue;
            }
            if let Some(inv) = &approved {
                d.approved = approved_for_key(inv, &d);
            }
            state.devices.insert(d.key.clone(), d);
        }
    }
}

impl LearnedInventory {
    /// Put a reloaded approved inventory in force. What was learned is kept; each learned
    /// device's approved entry is looked up afresh, so a device just added to the file shows as
    /// approved (devices already reported as unknown are not reported again), and one whose
    /// entry was removed no longer does.
    pub fn replace_approved(&self, approved: Inventory) {
        let approved = Arc::new(approved);
        self.approved.store(Some(approved.clone()));
        let mut state = self.lock();
        for d in state.devices.values_mut() {
            // An entry found by certificate or AE title at first sight is kept while it exists.
            let kept = d.approved.take().filter(|id| approved.device(id).is_some());
            d.approved = approved_for_key(&approved, d).or(kept);
        }
        state.dirty = true;
    }
}

/// The approved entry for a restored device, from its key and what it learned.
fn approved_for_key(inv: &Inventory, d: &LearnedDevice) -> Option<String> {
    if let Some(id) = d.key.strip_prefix("pump:") {
        return inv
            .by_pump_id(id)
            .or_else(|| inv.by_serial(id))
            .map(|x| x.id.clone());
    }
    let ip: IpAddr = d.key.strip_prefix("address:")?.parse().ok()?;
    inv.by_address(ip).map(|x| x.id.clone())
}
