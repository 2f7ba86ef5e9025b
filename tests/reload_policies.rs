#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hot reload of the approved inventory and the segmentation policy, through the `wardgate`
//! binary on loopback: 127.0.0.2 is the pump gateway, 127.0.0.3 the EHR (approved, with a flow
//! from the start) and 127.0.0.5 a nurse-station workstation that gets its flow while wardgate
//! runs. Linux routes all of 127.0.0.0/8 to the loopback interface.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::fixture;

const EHR: &str = "127.0.0.3";
const STATION: &str = "127.0.0.5";

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP connection from a chosen loopback source address.
fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))?;
            socket.connect(to).await
        })
        .unwrap();
    let s = s.into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Send the safe order on `s`; the reply, or nothing when wardgate closed the connection.
fn order_on(s: &mut TcpStream) -> String {
    let _ = s.write_all(&wardgate_hl7::wrap(&fixture("pcd03-heparin-icu-safe.hl7")));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(&[0x1C, 0x0D]) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn order_from(source: &str, route: SocketAddr) -> String {
    order_on(&mut connect_from(source, route))
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

struct Instance {
    child: Child,
    dir: PathBuf,
}

impl Instance {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn reloads(&self, policy: &str) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["verdict"] == "reload" && r["rule"] == policy)
            .collect()
    }

    /// Wait (bounded) until `done` holds.
    fn wait_for(&self, what: &str, done: impl Fn(&Instance) -> bool) {
        for _ in 0..800 {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("{what} did not happen: {}", self.stderr());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn devices(station: bool) -> String {
    let mut text = format!("[[device]]\nid = \"ehr\"\nkind = \"ehr\"\naddress = [\"{EHR}\"]\n");
    if station {
        text.push_str(&format!(
            "\n[[device]]\nid = \"station-3\"\nkind = \"workstation\"\naddress = [\"{STATION}\"]\n"
        ));
    }
    text
}

fn flow(id: &str, device: &str, gateway: SocketAddr) -> String {
    format!(
        "\n[[flow]]\nid = \"{id}\"\ndescription = \"orders to the pump gateway\"\n\
         from = {{ device = [\"{device}\"] }}\nto = {{ address = [\"{}\"] }}\nports = [{}]\nprotocols = [\"hl7\"]\n",
        gateway.ip(),
        gateway.port()
    )
}

#[test]
fn a_changed_segmentation_policy_and_inventory_take_effect_without_restart_and_a_broken_one_is_not_used()
 {
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
    let gw = gateway.addr();
    let policy = d.join("segmentation.toml");
    write(&d.join("devices.toml"), &devices(false));
    let one_flow = format!(
        "include = [\"devices.toml\"]\n{}",
        flow("ehr-to-gateway", "ehr", gw)
    );
    write(&policy, &one_flow);
    write(&d.join("allow.toml"), "[policy]\ndefault = \"allow\"\n");
    let port = free_port("127.0.0.1");
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let config = d.join("wardgate.toml");
    write(
        &config,
        &format!(
            "[admin]\nlisten = \"{admin}\"\n[audit]\npath = \"audit.jsonl\"\n\
             [inventory]\napproved = \"devices.toml\"\n[segmentation]\npolicy = \"segmentation.toml\"\n\
             [[route]]\nname = \"pcd03\"\nprotocol = \"hl7\"\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{gw}\"\nrules = [\"allow.toml\"]\n"
        ),
    );
    let log = std::fs::File::create(d.join("stderr.log")).unwrap();
    let wardgate = Instance {
        child: Command::new(env!("CARGO_BIN_EXE_wardgate"))
            .args(["run", "--config"])
            .arg(&config)
            .stderr(log)
            .spawn()
            .unwrap(),
        dir: d.to_owned(),
    };
    wardgate.wait_for("readiness", |_| {
        TcpStream::connect(admin).is_ok() && http_get(admin, "/readyz").starts_with("HTTP/1.1 200")
    });
    let route: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // Before: the EHR's connection (kept open across the reloads) is admitted, the station's not.
    let mut held = connect_from(EHR, route);
    assert!(order_on(&mut held).contains("MSA|AA"));
    assert_eq!(
        order_from(STATION, route),
        "",
        "no flow lets the station in yet"
    );
    assert_eq!(gateway.received().len(), 1);

    // The station and its flow are added to the files; no signal: the change is noticed.
    write(&d.join("devices.toml"), &devices(true));
    write(
        &policy,
        &format!("{one_flow}{}", flow("station-to-gateway", "station-3", gw)),
    );
    wardgate.wait_for("both reloads", |w| {
        !w.reloads("segmentation").is_empty() && !w.reloads("inventory").is_empty()
    });
    let reload = &wardgate.reloads("segmentation")[0];
    assert_eq!(reload["route"], "*", "{reload}");
    assert!(
        reload["reason"]
            .as_str()
            .unwrap()
            .starts_with("segmentation policy "),
        "{reload}"
    );
    // New connections are judged by the new policy; the open one was never dropped.
    assert!(order_from(STATION, route).contains("MSA|AA"));
    assert!(
        order_on(&mut held).contains("MSA|AA"),
        "the EHR's connection survived"
    );
    assert_eq!(gateway.received().len(), 3);
    // The learned inventory was kept, and judged against the reloaded approved inventory.
    let inventory: serde_json::Value = serde_json::from_str(
        http_get(admin, "/inventory")
            .split_once("\r\n\r\n")
            .unwrap()
            .1,
    )
    .unwrap();
    let approved = |key: &str| {
        inventory["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["key"] == key)
            .unwrap_or_else(|| panic!("{key} not in {inventory:#}"))["approved"]
            .clone()
    };
    assert_eq!(approved(&format!("address:{EHR}")), "ehr");
    assert_eq!(approved(&format!("address:{STATION}")), "station-3");

    // A broken policy (a protocol no route speaks) on SIGHUP: reported at its place, not used.
    write(
        &policy,
        &format!("{one_flow}{}", flow("station-to-gateway", "station-3", gw)).replace(
            "protocols = [\"hl7\"]\n\n[[flow]]\nid = \"station",
            "protocols = [\"hl8\"]\n\n[[flow]]\nid = \"station",
        ),
    );
    let ok = Command::new("kill")
        .args(["-HUP", &wardgate.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wardgate.wait_for("the error report", |w| {
        w.stderr().contains("segmentation.toml:9:14")
    });
    assert!(
        order_from(STATION, route).contains("MSA|AA"),
        "the previous policy stays in force"
    );
    assert!(order_on(&mut held).contains("MSA|AA"));
    assert_eq!(wardgate.reloads("segmentation").len(), 1);
    let metrics = http_get(admin, "/metrics");
    for line in [
        "wardgate_reloads_total{policy=\"segmentation\",result=\"error\"} 1",
        "wardgate_reloads_total{policy=\"segmentation\",result=\"ok\"} 1",
        "wardgate_reloads_total{policy=\"inventory\",result=\"ok\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
}
