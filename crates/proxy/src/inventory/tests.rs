//! Learning, bounds, unknown-device reports and the state file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use wardgate_hl7::{Message, ParseLimits};
use wardgate_pump::{Command, DeviceId, Flags, Frame, Identify};
use wardgate_rules::{RuleSet, Sender};

use super::*;
use crate::audit::AuditLog;
use crate::config::Config;
use crate::route::RouteSpec;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn unknown_devices(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter(|l| l.contains("\"unknown-device\""))
            .map(str::to_owned)
            .collect()
    }
}

fn test_route(protocol: &str, upstream: &str) -> (Route, Lines) {
    let text = format!(
        "[[route]]\nname = \"r\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nrules = [\"x.toml\"]\n"
    );
    let config = Config::parse(&text, "t.toml", None).unwrap();
    let lines = Lines::default();
    let audit = Arc::new(AuditLog::to_writer(Box::new(lines.clone())));
    let spec = RouteSpec {
        config: config.routes[0].clone(),
        rules: RuleSet::default(),
    };
    (Route::new(spec, audit).unwrap(), lines)
}

/// A client of `route` (listen mode: it addressed wardgate, which connects to the upstream).
fn peer(route: &Route, addr: &str) -> Peer {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let crate::config::UpstreamAddr::Fixed(upstream) = route.config.upstream else {
        panic!("test routes have a fixed upstream");
    };
    Peer {
        id: 1,
        addr,
        sender: Sender::from_address(addr.ip()),
        target: crate::transparent::Intercepted {
            client: addr,
            original_dst: None,
            upstream,
            upstream_source: None,
        },
    }
}

const ORDER: &[u8] = b"MSH|^~\\&|EHR_BCMA|EGH_NORTH|PUMP_GW|EGH_NORTH|20261129081500||RGV^O15^RGV_O15|1|P|2.6\rOBX|1|ST|69986^MDC_DEV_PUMP_INFUS_VMD^MDC|||||||||||||||PUMP-0042^EGH_NORTH\r";

fn approved() -> Arc<Inventory> {
    let src = wardgate_rules::RuleSource {
        name: Arc::from("devices.toml"),
        text: "[[device]]\nid = \"ehr\"\nkind = \"ehr\"\naddress = [\"10.20.30.40\"]\n\
               [[device]]\nid = \"gw\"\nkind = \"pump-gateway\"\naddress = [\"10.20.5.5\"]\n"
            .into(),
        dir: None,
    };
    wardgate_rules::compile(&[src]).unwrap().inventory
}

#[test]
fn hl7_orders_teach_sender_receiver_pumps_and_counts() {
    let (route, lines) = test_route("hl7", "10.20.5.5:2575");
    let inv = LearnedInventory::new(InventoryConfig::default(), Some(approved()));
    let ehr = peer(&route, "10.20.30.40:5000");
    inv.connection(&route, &ehr);
    let msg = Message::parse(ORDER, &ParseLimits::default()).unwrap();
    for _ in 0..3 {
        inv.hl7(&route, &ehr, &msg, true);
    }
    let snap = inv.snapshot();
    let keys: Vec<&str> = snap.devices.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        ["address:10.20.30.40", "address:10.20.5.5", "pump:PUMP-0042"]
    );
    let [client, gateway, pump] = &snap.devices[..] else {
        unreachable!()
    };
    assert_eq!(client.approved.as_deref(), Some("ehr"));
    assert_eq!(client.sent.get("hl7:RGV^O15"), Some(&3));
    assert_eq!(client.peers.get("address:10.20.5.5"), Some(&3));
    assert!(client.hl7_sending.contains("EHR_BCMA^EGH_NORTH"));
    assert_eq!(gateway.approved.as_deref(), Some("gw"));
    assert_eq!(gateway.received.get("hl7:RGV^O15"), Some(&3));
    assert!(gateway.hl7_receiving.contains("PUMP_GW^EGH_NORTH"));
    assert_eq!(pump.received.get("hl7:RGV^O15"), Some(&3));
    // The pump is in no approved entry: reported once, however often it is named.
    let reports = lines.unknown_devices();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("pump:PUMP-0042"), "{}", reports[0]);
}

#[test]
fn without_an_approved_inventory_nothing_is_reported() {
    let (route, lines) = test_route("hl7", "10.20.5.5:2575");
    let inv = LearnedInventory::new(InventoryConfig::default(), None);
    inv.connection(&route, &peer(&route, "10.9.9.9:1"));
    assert_eq!(inv.snapshot().devices.len(), 1);
    assert!(lines.unknown_devices().is_empty());
}

#[test]
fn devices_peers_and_message_types_are_bounded_and_overflow_is_counted() {
    let (route, _) = test_route("hl7", "10.20.5.5:2575");
    let config = InventoryConfig {
        max_devices: 3,
        max_peers_per_device: 2,
        max_message_types_per_device: 2,
        ..InventoryConfig::default()
    };
    let inv = LearnedInventory::new(config, None);
    for i in 1..=10 {
        inv.connection(&route, &peer(&route, &format!("10.0.0.{i}:1")));
    }
    let snap = inv.snapshot();
    assert_eq!(snap.devices.len(), 3);
    assert_eq!(snap.overflow_devices, 7);
    // One device, many message types and many (pump) peers.
    let (route, _) = test_route("hl7", "10.20.5.5:2575");
    let inv = LearnedInventory::new(
        InventoryConfig {
            max_peers_per_device: 2,
            max_message_types_per_device: 2,
            ..InventoryConfig::default()
        },
        None,
    );
    let ehr = peer(&route, "10.20.30.40:1");
    for t in ["A01", "A02", "A03", "A04"] {
        let text = format!("MSH|^~\\&|E|F|G|H|20261129081500||ADT^{t}|1|P|2.6\r");
        let msg = Message::parse(text.as_bytes(), &ParseLimits::default()).unwrap();
        inv.hl7(&route, &ehr, &msg, true);
    }
    let snap = inv.snapshot();
    let client = snap
        .devices
        .iter()
        .find(|d| d.key == "address:10.20.30.40")
        .unwrap();
    assert_eq!(client.sent.len(), 2);
    assert_eq!(client.overflow, 2);
}

/// The pump's IDENTIFY answer, naming `serial`.
fn identify_frame(serial: DeviceId) -> Frame<'static> {
    Frame::new(
        Flags::RESPONSE,
        1,
        serial,
        0,
        Command::Identify(Identify {
            model: "WP-Sim-2",
            firmware_version: "2.4.1",
            drug_library_version: "EGH-2026-11",
        }),
    )
}

#[test]
fn identify_answers_fill_in_the_pump() {
    let (route, _) = test_route("pump", "10.60.1.42:2581");
    let inv = LearnedInventory::new(InventoryConfig::default(), None);
    let gw = peer(&route, "10.20.5.5:4000");
    let serial = DeviceId::new("PUMP-0042").unwrap();
    let identify = identify_frame(serial);
    let bytes = identify.encode().unwrap();
    let frame = Frame::parse(&bytes).unwrap();
    inv.pump(&route, &gw, &frame, false);
    let snap = inv.snapshot();
    let pump = snap
        .devices
        .iter()
        .find(|d| d.key == "pump:PUMP-0042")
        .unwrap();
    let id = pump.pump.as_ref().unwrap();
    assert_eq!(
        (
            id.model.as_str(),
            id.firmware.as_str(),
            id.drug_library.as_str()
        ),
        ("WP-Sim-2", "2.4.1", "EGH-2026-11")
    );
    assert!(pump.addresses.contains("10.60.1.42"));
    assert_eq!(pump.sent.get("pump:IDENTIFY"), Some(&1));
}

/// One pump frame from `bytes` through the inventory.
fn observe(inv: &LearnedInventory, route: &Route, gw: &Peer, frame: &Frame<'_>, inbound: bool) {
    let bytes = frame.encode().unwrap();
    inv.pump(route, gw, &Frame::parse(&bytes).unwrap(), inbound);
}

#[test]
fn a_pump_greeted_before_it_said_its_serial_is_listed_once() {
    let (route, _) = test_route("pump", "10.60.1.42:2581");
    let inv = LearnedInventory::new(InventoryConfig::default(), None);
    let gw = peer(&route, "10.20.5.5:4000");
    let serial = DeviceId::new("PUMP-0042").unwrap();
    let hello = Frame::new(
        Flags::request(false),
        1,
        DeviceId::UNADDRESSED,
        0,
        Command::Hello(wardgate_pump::Hello {
            controller_id: Some("GW-1"),
        }),
    );
    let identify = identify_frame(serial);
    // HELLO (unaddressed), IDENTIFY (names the serial), STATUS to the serial, HELLO again.
    observe(&inv, &route, &gw, &hello, true);
    observe(&inv, &route, &gw, &identify, false);
    observe(
        &inv,
        &route,
        &gw,
        &Frame::new(Flags::request(false), 2, serial, 1, Command::Status),
        true,
    );
    observe(&inv, &route, &gw, &hello, true);
    let snap = inv.snapshot();
    let keys: Vec<&str> = snap.devices.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["address:10.20.5.5", "pump:PUMP-0042"]);
    let pump = &snap.devices[1];
    assert_eq!(pump.received.get("pump:HELLO"), Some(&2));
    assert_eq!(pump.received.get("pump:STATUS"), Some(&1));
    assert_eq!(pump.sent.get("pump:IDENTIFY"), Some(&1));
    assert!(pump.addresses.contains("10.60.1.42"));
    assert_eq!(
        pump.pump.as_ref().map(|p| p.model.as_str()),
        Some("WP-Sim-2")
    );
    let gateway = &snap.devices[0];
    let peers: Vec<(&str, u64)> = gateway
        .peers
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(peers, [("pump:PUMP-0042", 4)]);
}

#[test]
fn the_state_file_round_trips_and_a_corrupt_one_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.json");
    let config = InventoryConfig {
        state_file: Some(path.clone()),
        ..InventoryConfig::default()
    };
    let (route, _) = test_route("hl7", "10.20.5.5:2575");
    let inv = LearnedInventory::new(config.clone(), None);
    assert!(!inv.save().unwrap(), "nothing learned, nothing written");
    inv.connection(&route, &peer(&route, "10.20.30.40:1"));
    assert!(inv.save().unwrap());
    assert!(!inv.save().unwrap(), "unchanged since the last write");
    let again = LearnedInventory::new(config.clone(), None);
    assert_eq!(again.load().unwrap(), 1);
    assert_eq!(again.snapshot().devices, inv.snapshot().devices);
    std::fs::write(&path, b"{\"version\": 1, \"devi").unwrap();
    let fresh = LearnedInventory::new(config, None);
    let err = fresh.load().unwrap_err().to_string();
    assert!(err.contains("not a wardgate inventory state file"), "{err}");
    assert!(fresh.snapshot().devices.is_empty());
}

#[test]
fn a_reloaded_approved_inventory_keeps_what_was_learned_and_judges_it_afresh() {
    let (route, lines) = test_route("hl7", "10.20.5.5:2575");
    let inv = LearnedInventory::new(InventoryConfig::default(), Some(approved()));
    inv.connection(&route, &peer(&route, "10.20.30.40:1"));
    inv.connection(&route, &peer(&route, "10.9.9.9:1"));
    assert_eq!(lines.unknown_devices().len(), 1);
    // The EHR's entry is gone, the unknown host is now the nurse station.
    let src = wardgate_rules::RuleSource {
        name: Arc::from("devices.toml"),
        text: "[[device]]\nid = \"station\"\nkind = \"workstation\"\naddress = [\"10.9.9.9\"]\n\
               [[device]]\nid = \"gw\"\nkind = \"pump-gateway\"\naddress = [\"10.20.5.5\"]\n"
            .into(),
        dir: None,
    };
    let reloaded = wardgate_rules::compile(&[src]).unwrap().inventory;
    inv.replace_approved(Arc::unwrap_or_clone(reloaded));
    let snap = inv.snapshot();
    let approved: Vec<(&str, Option<&str>)> = snap
        .devices
        .iter()
        .map(|d| (d.key.as_str(), d.approved.as_deref()))
        .collect();
    assert_eq!(
        approved,
        [
            ("address:10.20.30.40", None),
            ("address:10.9.9.9", Some("station")),
        ]
    );
    // Known devices are not reported again; a new stranger is, against the new inventory.
    inv.connection(&route, &peer(&route, "10.20.30.40:2"));
    inv.connection(&route, &peer(&route, "10.8.8.8:1"));
    let reports = lines.unknown_devices();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports[1].contains("10.8.8.8"), "{}", reports[1]);
}
