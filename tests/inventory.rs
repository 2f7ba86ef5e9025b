#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The device inventory and micro-segmentation end to end, through the `wardgate` binary on
//! loopback: 127.0.0.2 is the pump gateway, 127.0.0.4 the pump, 127.0.0.3 the EHR (approved),
//! 127.0.0.5 the pump controller and 127.0.0.6 a host no flow lists. Linux routes all of
//! 127.0.0.0/8 to the loopback interface, so each can be a source or a listener.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::fixture;
use wardgate_pump::{DeviceId, Flags, Frame, Hello};

const EHR: &str = "127.0.0.3";
const CONTROLLER: &str = "127.0.0.5";
const STRANGER: &str = "127.0.0.6";

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP connection from a chosen loopback source address.
fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let s = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))?;
        socket.connect(to).await
    })?;
    let s = s.into_std()?;
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// Read until `done` says the bytes are complete, or the peer closes.
fn read_until(s: &mut std::net::TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn send_order(from: &str, route: SocketAddr) -> Vec<u8> {
    let mut s = connect_from(from, route).unwrap();
    s.write_all(&wardgate_hl7::wrap(&fixture("pcd03-heparin-icu-safe.hl7")))
        .unwrap();
    read_until(&mut s, |b| b.ends_with(&[0x1C, 0x0D]))
}

struct Instance {
    child: Child,
    config: PathBuf,
    dir: PathBuf,
}

impl Instance {
    fn start(dir: &Path, config: &Path, admin: SocketAddr) -> Instance {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_wardgate"))
            .args(["run", "--config"])
            .arg(config)
            .stderr(log)
            .spawn()
            .unwrap();
        let mut instance = Instance {
            child,
            config: config.to_owned(),
            dir: dir.to_owned(),
        };
        for _ in 0..400 {
            if let Ok(mut s) = std::net::TcpStream::connect(admin) {
                s.write_all(b"GET /readyz HTTP/1.1\r\n\r\n").unwrap();
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                if text.starts_with("HTTP/1.1 200") {
                    return instance;
                }
            }
            assert!(
                instance.child.try_wait().unwrap().is_none(),
                "wardgate exited: {}",
                instance.stderr()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("wardgate did not become ready: {}", instance.stderr());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// `wardgate inventory --config ...` (asking the running instance), parsed.
    fn inventory(&self, offline: bool) -> serde_json::Value {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardgate"));
        cmd.args(["inventory", "--config"]).arg(&self.config);
        if offline {
            cmd.arg("--offline");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// SIGTERM: a graceful stop, which saves the state file.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{}", self.stderr());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn device<'a>(inv: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    inv["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == key)
        .unwrap_or_else(|| panic!("no device {key} in {inv:#}"))
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_owned()
}

#[test]
fn the_inventory_learns_from_traffic_reports_unknown_devices_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt
        .block_on(wardgate_proxy::sim::PumpGateway::start(
            "127.0.0.2:0".parse().unwrap(),
            None,
            wardgate_proxy::sim::Behaviour::Acknowledge,
        ))
        .unwrap();
    let pump = rt
        .block_on(wardgate_proxy::sim::PumpDevice::start(
            "127.0.0.4:0".parse().unwrap(),
            None,
            wardgate_pump::sim::PumpSim::new(DeviceId::new("PUMP-0042").unwrap(), "WP-Sim-2", 2),
            wardgate_proxy::sim::PumpBehaviour::Answer,
        ))
        .unwrap();
    write(
        &d.join("devices.toml"),
        &format!(
            "[[device]]\nid = \"ehr\"\nkind = \"bcma\"\naddress = [\"{EHR}\"]\n\n\
             [[device]]\nid = \"gateway\"\nkind = \"pump-gateway\"\naddress = [\"127.0.0.2\"]\n"
        ),
    );
    write(&d.join("allow.toml"), "[policy]\ndefault = \"allow\"\n");
    let (hl7_port, pump_port) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let config = write(
        &d.join("wardgate.toml"),
        &format!(
            "[admin]\nlisten = \"{admin}\"\n\n[audit]\npath = \"audit.jsonl\"\n\n\
             [inventory]\napproved = \"devices.toml\"\nstate_file = \"inventory.json\"\nsave_interval = \"1h\"\n\n\
             [[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:{hl7_port}\"\nupstream = \"{}\"\nrules = [\"allow.toml\"]\n\n\
             [[route]]\nname = \"pumps\"\nprotocol = \"pump\"\nlisten = \"127.0.0.1:{pump_port}\"\nupstream = \"{}\"\nrules = [\"allow.toml\"]\n",
            gateway.addr(),
            pump.addr()
        ),
    );
    let wardgate = Instance::start(d, &config, admin);
    let hl7_route: SocketAddr = format!("127.0.0.1:{hl7_port}").parse().unwrap();
    for _ in 0..2 {
        let ack = String::from_utf8_lossy(&send_order(EHR, hl7_route)).into_owned();
        assert!(ack.contains("MSA|AA"), "{ack}");
    }
    let hello = Frame::new(
        Flags::request(false),
        7,
        DeviceId::new("PUMP-0042").unwrap(),
        0,
        wardgate_pump::Command::Hello(Hello {
            controller_id: Some("GW-ICU-1"),
        }),
    )
    .encode()
    .unwrap();
    let mut s = connect_from(
        CONTROLLER,
        format!("127.0.0.1:{pump_port}").parse().unwrap(),
    )
    .unwrap();
    s.write_all(&hello).unwrap();
    let reply = read_until(&mut s, |b| Frame::parse(b).is_ok());
    let identify = Frame::parse(&reply).unwrap();
    assert_eq!(identify.header.code, wardgate_pump::CommandCode::IDENTIFY);
    drop(s);

    let inv = wardgate.inventory(false);
    assert_eq!(inv["approved_inventory"], true);
    let ehr = device(&inv, &format!("address:{EHR}"));
    assert_eq!(ehr["approved"], "ehr");
    assert_eq!(ehr["sent"]["hl7:RGV^O15"], 2);
    // Two orders and their two acknowledgements.
    assert_eq!(ehr["peers"]["address:127.0.0.2"], 4);
    assert_eq!(ehr["hl7_sending"][0], "EHR_BCMA^EGH_NORTH");
    let gw = device(&inv, "address:127.0.0.2");
    assert_eq!(gw["approved"], "gateway");
    assert_eq!(gw["received"]["hl7:RGV^O15"], 2);
    assert_eq!(gw["sent"]["hl7:ACK^O15"], 2, "{gw:#}");
    let p = device(&inv, "pump:PUMP-0042");
    assert_eq!(p["approved"], serde_json::Value::Null);
    assert_eq!(
        p["received"]["hl7:RGV^O15"], 2,
        "the order's OBX-18 names it"
    );
    assert_eq!(p["received"]["pump:HELLO"], 1);
    assert_eq!(p["sent"]["pump:IDENTIFY"], 1);
    assert_eq!(p["pump"]["model"], "WP-Sim-2");
    assert_eq!(p["pump"]["serial"], "PUMP-0042");
    assert!(
        p["pump"]["firmware"]
            .as_str()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(
        device(&inv, &format!("address:{CONTROLLER}"))["sent"]["pump:HELLO"],
        1
    );

    // Unknown devices are reported once each: the pump (named by orders and the pump route)
    // and the controller, never the approved EHR or gateway.
    let audit = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let unknown: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"unknown-device\""))
        .collect();
    assert_eq!(unknown.len(), 2, "{unknown:#?}");
    assert!(unknown.iter().any(|l| l.contains("pump:PUMP-0042")));
    assert!(
        unknown
            .iter()
            .any(|l| l.contains(&format!("address:{CONTROLLER}")))
    );
    assert!(wardgate.stderr().contains("unknown device"));

    // A graceful stop saves the state; the offline view and a restarted instance show it.
    let before = inv["devices"].clone();
    let config_path = wardgate.config.clone();
    wardgate.stop();
    assert!(d.join("inventory.json").exists());
    let offline = Instance {
        child: Command::new("true").spawn().unwrap(),
        config: config_path.clone(),
        dir: d.to_owned(),
    };
    assert_eq!(offline.inventory(true)["devices"], before);
    drop(offline);
    let restarted = Instance::start(d, &config_path, admin);
    let after = restarted.inventory(false);
    assert_eq!(
        after["devices"], before,
        "the learned inventory did not survive a restart"
    );
    // Restored devices are not reported as new.
    let audit = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    assert_eq!(audit.matches("\"unknown-device\"").count(), 2);
    restarted.stop();
}

#[test]
fn a_corrupt_state_file_is_reported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("inventory.json"), "{\"version\": 1, \"devices\": [");
    write(&d.join("allow.toml"), "[policy]\ndefault = \"allow\"\n");
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let config = write(
        &d.join("wardgate.toml"),
        &format!(
            "[admin]\nlisten = \"{admin}\"\n[audit]\npath = \"audit.jsonl\"\n[inventory]\nstate_file = \"inventory.json\"\n\
             [[route]]\nname = \"r\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:{}\"\nupstream = \"127.0.0.2:9\"\nrules = [\"allow.toml\"]\n",
            free_port("127.0.0.1")
        ),
    );
    let wardgate = Instance::start(d, &config, admin);
    assert!(
        wardgate.stderr().contains("inventory state file ignored"),
        "{}",
        wardgate.stderr()
    );
    assert_eq!(wardgate.inventory(false)["devices"], serde_json::json!([]));
    wardgate.stop();
}

#[test]
fn segmentation_closes_an_unlisted_client_at_accept_and_lets_a_listed_one_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt
        .block_on(wardgate_proxy::sim::PumpGateway::start(
            "127.0.0.2:0".parse().unwrap(),
            None,
            wardgate_proxy::sim::Behaviour::Acknowledge,
        ))
        .unwrap();
    write(
        &d.join("devices.toml"),
        &format!("[[device]]\nid = \"ehr\"\nkind = \"bcma\"\naddress = [\"{EHR}\"]\n"),
    );
    write(
        &d.join("segmentation.toml"),
        &format!(
            "include = [\"devices.toml\"]\n[[flow]]\nid = \"ehr-to-gateway\"\ndescription = \"orders\"\n\
             from = {{ device = [\"ehr\"] }}\nto = {{ address = [\"127.0.0.2\"] }}\nports = [{}]\nprotocols = [\"hl7\"]\n",
            gateway.addr().port()
        ),
    );
    write(&d.join("allow.toml"), "[policy]\ndefault = \"allow\"\n");
    let port = free_port("127.0.0.1");
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let config = write(
        &d.join("wardgate.toml"),
        &format!(
            "[admin]\nlisten = \"{admin}\"\n[audit]\npath = \"audit.jsonl\"\n[segmentation]\npolicy = \"segmentation.toml\"\n\
             [[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\nrules = [\"allow.toml\"]\n",
            gateway.addr()
        ),
    );
    let wardgate = Instance::start(d, &config, admin);
    let route: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The stranger is closed before anything is read: no reply, nothing reaches the gateway.
    let refused = send_order(STRANGER, route);
    assert!(refused.is_empty(), "{}", String::from_utf8_lossy(&refused));
    assert!(gateway.received().is_empty());
    let ok = String::from_utf8_lossy(&send_order(EHR, route)).into_owned();
    assert!(ok.contains("MSA|AA"), "{ok}");
    assert_eq!(gateway.received().len(), 1);
    let audit = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("\"verdict\":\"segmentation\""))
        .expect("no segmentation audit line");
    assert!(line.contains(STRANGER), "{line}");
    assert!(
        line.contains(&format!(
            "{STRANGER} (not in the device inventory) reach {}",
            gateway.addr()
        )),
        "{line}"
    );
    let mut s = std::net::TcpStream::connect(admin).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut metrics = String::new();
    let _ = s.read_to_string(&mut metrics);
    assert!(
        metrics.contains(
            "wardgate_segmentation_refusals_total{route=\"pcd03\",reason=\"unknown-client\"} 1"
        ),
        "{metrics}"
    );
    wardgate.stop();
}
