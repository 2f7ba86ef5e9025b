//! `wardgate demo`: the newcomer's first five minutes. Everything runs on loopback: the proxy on the
//! embedded default (mutual TLS, shipped PCD-03 rules), a simulated pump gateway behind it, and a
//! simulated EHR sending a scripted mix of safe, unsafe and malformed orders.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use wardgate_hl7::{Message, ParseLimits, Path};
use wardgate_proxy::audit::{AuditLog, SharedBuffer};
use wardgate_proxy::config::Config;
use wardgate_proxy::pki::{DevCa, Pem};
use wardgate_proxy::sim::{
    Behaviour, MllpClient, PumpBehaviour, PumpClient, PumpDevice, PumpGateway, client_tls,
};
use wardgate_proxy::{Proxy, RouteSpec};
use wardgate_pump::sim::PumpSim;
use wardgate_pump::{Command, DeviceId, Frame};

use crate::commands::route_specs;
use crate::defaults;

/// What a scenario should end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The gateway's acknowledgement with this MSA-1 code reaches the EHR.
    Ack(&'static str),
    /// wardgate's refusal with this MSA-1 code.
    Refusal(&'static str),
    /// The connection is closed (TLS refused, or input that cannot be answered).
    Closed,
}

struct Scenario {
    name: &'static str,
    /// Client certificate CN, or None for a client without a certificate.
    client: Option<&'static str>,
    /// What is written to the socket (already MLLP-framed where it should be).
    bytes: Vec<u8>,
    expect: Expect,
}

fn framed(payload: &[u8]) -> Vec<u8> {
    wardgate_hl7::wrap(payload)
}

fn scenarios() -> Vec<Scenario> {
    let f = |name: &'static str, client: Option<&'static str>, payload: &[u8], expect| Scenario {
        name,
        client,
        bytes: framed(payload),
        expect,
    };
    let ehr = Some(defaults::EHR_CN);
    vec![
        f("safe heparin order, 14.4 mL/h in ICU", ehr,
          include_bytes!("../fixtures/hl7/pcd03-heparin-icu-safe.hl7"), Expect::Ack("AA")),
        f("heparin 144 mL/h: a tenfold decimal slip", ehr,
          include_bytes!("../fixtures/hl7/pcd03-heparin-icu-10x.hl7"), Expect::Refusal("AR")),
        f("same slip, enhanced acknowledgement mode", ehr,
          include_bytes!("../fixtures/hl7/pcd03-heparin-icu-10x-enhanced.hl7"), Expect::Refusal("CR")),
        f("heparin as a dose rate, 18 units/kg/h", ehr,
          include_bytes!("../fixtures/hl7/pcd03-heparin-icu-dose-rate.hl7"), Expect::Ack("AA")),
        f("norepinephrine 5 mcg/kg/min (hard max 3)", ehr,
          include_bytes!("../fixtures/hl7/pcd03-norepinephrine-icu-overdose.hl7"), Expect::Refusal("AR")),
        f("propofol ordered on a med-surg ward", ehr,
          include_bytes!("../fixtures/hl7/pcd03-propofol-medsurg.hl7"), Expect::Refusal("AR")),
        f("drug that is not in the library", ehr,
          include_bytes!("../fixtures/hl7/pcd03-unknown-drug.hl7"), Expect::Refusal("AR")),
        f("order from an unknown sending facility", ehr,
          include_bytes!("../fixtures/hl7/pcd03-unknown-facility.hl7"), Expect::Refusal("AR")),
        f("safe order from a certificate that is not the EHR", Some("lab-system.egh.example"),
          include_bytes!("../fixtures/hl7/pcd03-heparin-icu-safe.hl7"), Expect::Refusal("AR")),
        f("safe order from a client without a certificate", None,
          include_bytes!("../fixtures/hl7/pcd03-heparin-icu-safe.hl7"), Expect::Closed),
        f("malformed: a segment id that is not a segment id", ehr,
          b"MSH|^~\\&|EHR_BCMA|EGH_NORTH|PUMP_GW|EGH_NORTH|20261129081500||RGV^O15^RGV_O15|BAD-0001|P|2.6\rP!D|||x\r",
          Expect::Refusal("AE")),
        Scenario {
            name: "binary garbage outside any MLLP envelope",
            client: ehr,
            bytes: vec![0x16, 0x03, 0x01, 0xff, 0x00, 0x42, 0x0b],
            expect: Expect::Closed,
        },
    ]
}

/// What the EHR saw.
fn describe(reply: &[u8]) -> (String, String) {
    let Ok(msg) = Message::parse(reply, &ParseLimits::default()) else {
        return ("?".into(), String::from_utf8_lossy(reply).into_owned());
    };
    let get = |p: &str| {
        Path::parse(p)
            .ok()
            .and_then(|p| msg.get(&p))
            .map(|v| v.to_text())
            .unwrap_or_default()
    };
    (get("MSA-1"), get("ERR-8"))
}

async fn play(
    proxy: std::net::SocketAddr,
    ca_pem: &str,
    certs: &[(&str, Pem)],
    s: &Scenario,
) -> Result<(Option<String>, String)> {
    let client_pem = s
        .client
        .and_then(|cn| certs.iter().find(|(c, _)| *c == cn).map(|(_, p)| p));
    let tls = client_tls(ca_pem, client_pem).map_err(anyhow::Error::msg)?;
    let mut client = match MllpClient::connect(proxy, Some((tls, "localhost"))).await {
        Ok(c) => c,
        Err(e) => return Ok((None, format!("connection refused: {e}"))),
    };
    if let Err(e) = client.send_raw(&s.bytes).await {
        return Ok((None, format!("connection closed: {e}")));
    }
    match client.recv(Duration::from_secs(5)).await {
        Ok(Some(reply)) => {
            let (code, text) = describe(&reply);
            Ok((Some(code), text))
        }
        Ok(None) => Ok((None, "connection closed by wardgate".into())),
        Err(e) => Ok((None, format!("connection closed: {e}"))),
    }
}

/// A pump-route scenario: frames sent in order on one connection; the last reply is judged.
struct PumpScenario {
    name: &'static str,
    client: &'static str,
    frames: Vec<&'static [u8]>,
    /// `None` = the pump's ACK; `Some(reason)` = wardgate's NAK with this reason code.
    expect_nak: Option<u16>,
}

fn pump_scenarios() -> Vec<PumpScenario> {
    let gw = defaults::PUMP_GATEWAY_CN;
    let biomed = defaults::BIOMED_CN;
    let program: &[u8] = include_bytes!("../fixtures/pump/program-heparin-safe.wpp");
    vec![
        PumpScenario {
            name: "PROGRAM-INFUSION heparin 14.4 mL/h on PUMP-0042",
            client: gw,
            frames: vec![program],
            expect_nak: None,
        },
        PumpScenario {
            name: "PROGRAM-INFUSION heparin 144 mL/h: the tenfold slip",
            client: gw,
            frames: vec![include_bytes!("../fixtures/pump/program-heparin-10x.wpp")],
            expect_nak: Some(5),
        },
        PumpScenario {
            name: "CHANGE-RATE to 40 mL/h: more than twice the running rate",
            client: gw,
            frames: vec![include_bytes!("../fixtures/pump/change-rate-jump.wpp")],
            expect_nak: Some(5),
        },
        PumpScenario {
            name: "BOLUS naming an order that is not running",
            client: gw,
            frames: vec![include_bytes!("../fixtures/pump/bolus-without-parent.wpp")],
            expect_nak: Some(4),
        },
        PumpScenario {
            name: "DRUG-LIBRARY-UPDATE nobody approved (biomed console)",
            client: biomed,
            frames: vec![include_bytes!(
                "../fixtures/pump/drug-library-unapproved.wpp"
            )],
            expect_nak: Some(4),
        },
        PumpScenario {
            name: "FIRMWARE-UPDATE with an unapproved digest (biomed console)",
            client: biomed,
            frames: vec![include_bytes!("../fixtures/pump/firmware-wrong-digest.wpp")],
            expect_nak: Some(4),
        },
        PumpScenario {
            name: "PROGRAM-INFUSION from a certificate the policy does not know",
            client: "intruder.egh.example",
            frames: vec![program],
            expect_nak: Some(4),
        },
    ]
}

/// Play a pump scenario; what the controller saw: (NAK reason or None for ACK, text).
async fn play_pump(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    client: &Pem,
    s: &PumpScenario,
) -> Result<(Option<u16>, String)> {
    let tls = client_tls(ca_pem, Some(client)).map_err(anyhow::Error::msg)?;
    let mut c = PumpClient::connect(addr, Some((tls, "localhost"))).await?;
    let mut last = (Some(0), "no reply".to_owned());
    for f in &s.frames {
        let reply = c.request(f, Duration::from_secs(5)).await?;
        last = match reply.as_deref().map(Frame::parse) {
            Some(Ok(frame)) => match frame.command {
                Command::Ack => (None, "ACK from the pump".into()),
                Command::Nak(n) => (
                    Some(n.reason.0),
                    format!(
                        "NAK {} ({}): {}",
                        n.reason.0,
                        n.reason.name().unwrap_or("?"),
                        n.text.unwrap_or("")
                    ),
                ),
                other => (Some(0), format!("unexpected {:?}", other.code())),
            },
            Some(Err(e)) => (Some(0), format!("unreadable reply: {e}")),
            None => (Some(0), "connection closed".into()),
        };
    }
    Ok(last)
}

/// Run the demo; exit status 1 if any scenario did not end as expected.
pub async fn run() -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("wardgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = DevCa::new("wardgate demo CA")?;
    let server = ca.server(&["localhost", "127.0.0.1"])?;
    for (name, text) in [
        ("ca.pem", ca.cert_pem()),
        ("server.pem", server.cert.clone()),
        ("server-key.pem", server.key.clone()),
    ] {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    let certs = vec![
        (defaults::EHR_CN, ca.client(defaults::EHR_CN)?),
        (
            "lab-system.egh.example",
            ca.client("lab-system.egh.example")?,
        ),
        (
            defaults::PUMP_GATEWAY_CN,
            ca.client(defaults::PUMP_GATEWAY_CN)?,
        ),
        (defaults::BIOMED_CN, ca.client(defaults::BIOMED_CN)?),
        ("intruder.egh.example", ca.client("intruder.egh.example")?),
    ];

    let gateway = PumpGateway::start("127.0.0.1:0".parse()?, None, Behaviour::Acknowledge).await?;
    let pump = PumpDevice::start(
        "127.0.0.1:0".parse()?,
        None,
        PumpSim::new(
            DeviceId::new("PUMP-0042").map_err(anyhow::Error::msg)?,
            "WP-Sim-2",
            2,
        ),
        PumpBehaviour::Answer,
    )
    .await?;
    let text = defaults::default_config(
        &dir,
        &defaults::Addresses {
            hl7_listen: "127.0.0.1:0".into(),
            hl7_upstream: gateway.addr().to_string(),
            pump_listen: "127.0.0.1:0".into(),
            pump_upstream: pump.addr().to_string(),
        },
    );
    let config = Config::parse(&text, "embedded default", None)?;
    let specs: Vec<RouteSpec> = route_specs(&config)?;
    let audit_buf = SharedBuffer::default();
    let audit = Arc::new(AuditLog::to_writer(Box::new(audit_buf.clone())));
    let proxy = Proxy::bind(specs, audit).await?;
    let addrs = proxy.local_addrs();
    let addr_of = |name: &str| {
        addrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .with_context(|| format!("the default {name} route did not bind"))
    };
    let proxy_addr = addr_of("pcd03")?;
    let pump_route = addr_of("pump")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(proxy.run(async {
        let _ = stop_rx.await;
    }));

    println!("wardgate demo");
    println!(
        "  proxy            {proxy_addr}  (TLS, client certificate required, shipped rules/pcd03)"
    );
    println!(
        "  pump gateway     {}  (simulated, plaintext behind wardgate)",
        gateway.addr()
    );
    println!(
        "  EHR              simulated, certificate CN {}\n",
        defaults::EHR_CN
    );

    let mut as_expected = 0;
    let list = scenarios();
    for (i, s) in list.iter().enumerate() {
        let seen_before = audit_buf.records().len();
        let (code, text) = play(proxy_addr, &ca.cert_pem(), &certs, s).await?;
        // Give the audit line of a closed connection a moment to land before reading it.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ok = match (s.expect, code.as_deref()) {
            (Expect::Ack(want), Some(got)) | (Expect::Refusal(want), Some(got)) => want == got,
            (Expect::Closed, None) => true,
            _ => false,
        };
        if ok {
            as_expected += 1;
        }
        let shown = match &code {
            Some(c) if text.is_empty() => format!("{c} from the pump gateway"),
            Some(c) => format!("{c} from wardgate: {text}"),
            None => text.clone(),
        };
        println!("{:>2}. {}", i + 1, s.name);
        println!("    EHR sees : {shown}");
        for rec in audit_buf.records().iter().skip(seen_before) {
            if rec["direction"] == "inbound" {
                let verdict = rec["verdict"].as_str().unwrap_or("?");
                let detail = match verdict {
                    "closed" | "malformed" => rec["reason"].as_str().map(|r| format!(" ({r})")),
                    _ => None,
                };
                println!(
                    "    audit    : {verdict} {}{}{}{}",
                    rec["message_type"].as_str().unwrap_or(""),
                    rec["rule"]
                        .as_str()
                        .map(|r| format!(" rule={r}"))
                        .unwrap_or_default(),
                    rec["code"]
                        .as_u64()
                        .map(|c| format!(" code={c}"))
                        .unwrap_or_default(),
                    detail.unwrap_or_default(),
                );
            }
        }
        println!(
            "    {}\n",
            if ok { "as expected" } else { "NOT AS EXPECTED" }
        );
    }
    println!("== wardgate pump protocol: pump gateway -> wardgate -> infusion pump ==\n");
    let pump_list = pump_scenarios();
    let mut pump_ok = 0;
    for (i, s) in pump_list.iter().enumerate() {
        let pem = certs
            .iter()
            .find(|(cn, _)| *cn == s.client)
            .map(|(_, p)| p)
            .context("demo certificate")?;
        let (nak, text) = play_pump(pump_route, &ca.cert_pem(), pem, s).await?;
        let ok = nak == s.expect_nak;
        if ok {
            pump_ok += 1;
        }
        println!("{:>2}. {} (as {})", i + 1, s.name, s.client);
        println!("    controller sees : {text}");
        println!(
            "    {}\n",
            if ok { "as expected" } else { "NOT AS EXPECTED" }
        );
    }
    let pump_received = pump.received();
    let pump_allowed = pump_list.iter().filter(|s| s.expect_nak.is_none()).count();
    let _ = stop_tx.send(());
    let _ = running.await;
    let received = gateway.received();
    let allowed: usize = list
        .iter()
        .filter(|s| matches!(s.expect, Expect::Ack(_)))
        .count();
    println!(
        "summary: {as_expected} of {} HL7 scenarios as expected; the pump gateway received {} message(s) ({} expected), each byte-identical to what the EHR sent",
        list.len(),
        received.len(),
        allowed
    );
    println!(
        "         {pump_ok} of {} pump scenarios as expected; the pump received {} command(s) ({} expected): refused commands never reached it",
        pump_list.len(),
        pump_received.len(),
        pump_allowed
    );
    let identical = received.iter().all(|r| list.iter().any(|s| &s.bytes == r));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(
        if as_expected == list.len() && received.len() == allowed && identical {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
