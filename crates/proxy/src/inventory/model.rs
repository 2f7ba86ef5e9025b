//! What the learned inventory records about each device, as served at `/inventory` and saved.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A DICOM application entity as its A-ASSOCIATE-RQ describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AeIdentity {
    /// Implementation class UID (PS3.7 D.3.3.2).
    pub implementation_class_uid: Option<String>,
    /// Implementation version name.
    pub implementation_version_name: Option<String>,
}

/// What an infusion pump says about itself in IDENTIFY (its answer to HELLO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PumpIdentity {
    /// Serial (the frame's device field).
    pub serial: String,
    /// MODEL.
    pub model: String,
    /// FIRMWARE-VERSION.
    pub firmware: String,
    /// DRUG-LIBRARY-VERSION.
    pub drug_library: String,
}

/// One learned device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnedDevice {
    /// `address:<ip>` or `pump:<id>`.
    pub key: String,
    /// The approved inventory's id for it, when it matches an entry.
    pub approved: Option<String>,
    /// First and last time seen (RFC 3339, UTC).
    pub first_seen: String,
    /// Last time seen.
    pub last_seen: String,
    /// Routes it was seen on.
    pub routes: BTreeSet<String>,
    /// Addresses it was seen at.
    pub addresses: BTreeSet<String>,
    /// Its client certificates' subjects (`CN=...`).
    pub cert_subjects: BTreeSet<String>,
    /// HL7 MSH-3^MSH-4 it sent as.
    pub hl7_sending: BTreeSet<String>,
    /// HL7 MSH-5^MSH-6 messages to it named.
    pub hl7_receiving: BTreeSet<String>,
    /// DICOM AE titles, with what its association requests said about the implementation.
    pub ae_titles: BTreeMap<String, AeIdentity>,
    /// Pump identity from IDENTIFY.
    pub pump: Option<PumpIdentity>,
    /// Messages exchanged per peer device key.
    pub peers: BTreeMap<String, u64>,
    /// Messages it sent, per `protocol:type` (`hl7:RGV^O15`, `pump:PROGRAM-INFUSION`).
    pub sent: BTreeMap<String, u64>,
    /// Messages sent to it, per `protocol:type`.
    pub received: BTreeMap<String, u64>,
    /// Observations not kept because a bound was reached.
    pub overflow: u64,
}

/// The whole learned inventory, as served and saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version of the state file.
    pub version: u32,
    /// Whether an approved inventory is configured (else `approved` is always absent).
    pub approved_inventory: bool,
    /// Devices, ordered by key.
    pub devices: Vec<LearnedDevice>,
    /// Devices seen but not kept because `max_devices` was reached.
    pub overflow_devices: u64,
}
