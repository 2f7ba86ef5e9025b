//! End to end through a pump route: mutual TLS from the pump controller, plaintext to a simulated
//! infusion pump, real sockets on 127.0.0.1. The pump's received log proves what it never saw.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::REPLY;
use common::pump::*;
use wardgate_proxy::sim::PumpBehaviour;
use wardgate_pump::sim::Controller;
use wardgate_pump::{
    Bolus, ChangeRate, ChannelState, Command, Frame, NakReason, ProgramInfusion, Quantity,
    SetConfig, Unit, UpdateChunk, image_digest,
};

fn q(value: f64, unit: Unit) -> Quantity {
    Quantity::new((value * 1000.0).round() as u32, unit).unwrap()
}

/// Heparin 100 units/mL for an 80 kg patient in the ICU: 14.4 mL/h is 18 units/kg/h.
fn heparin(rate_ml_h: f64) -> Command<'static> {
    Command::ProgramInfusion(ProgramInfusion {
        drug_code: "HEP100",
        concentration: Some(q(100.0, Unit::UnitsPerMl)),
        rate: q(rate_ml_h, Unit::MlPerH),
        vtbi: q(250.0, Unit::Ml),
        dose_rate: None,
        care_area: "ICU",
        order_id: "ORD-2001",
        patient_weight: Some(q(80.0, Unit::Kg)),
    })
}

fn change_rate(rate_ml_h: f64) -> Command<'static> {
    Command::ChangeRate(ChangeRate {
        rate: q(rate_ml_h, Unit::MlPerH),
        dose_rate: None,
        order_id: "ORD-2001",
    })
}

fn controller() -> Controller {
    Controller::new(device())
}

/// Send one command and return its sequence, bytes and the reply.
async fn exchange(
    client: &mut wardgate_proxy::sim::PumpClient,
    ctl: &mut Controller,
    channel: u8,
    command: Command<'_>,
) -> (u32, Vec<u8>, Vec<u8>) {
    let (seq, bytes) = ctl.command(channel, command).unwrap();
    let reply = client
        .request(&bytes, REPLY)
        .await
        .unwrap()
        .expect("a reply");
    (seq, bytes, reply)
}

/// The connection was closed by wardgate (EOF or reset), not left hanging.
async fn expect_closed(client: &mut wardgate_proxy::sim::PumpClient) {
    let got = client.recv(REPLY).await;
    assert!(
        matches!(got, Ok(None))
            || got
                .as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::TimedOut),
        "expected the connection to close, got {got:?}"
    );
}

#[tokio::test]
async fn a_safe_program_arrives_byte_identical_and_the_pumps_ack_reaches_the_controller() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let (seq, bytes, reply) = exchange(&mut gw, &mut ctl, 1, heparin(14.4)).await;
    expect_ack(&reply, seq);
    assert_eq!(bed.pump_saw(), vec![bytes.clone()]);
    let programmed = bed
        .pump
        .as_ref()
        .unwrap()
        .with_sim(|p| p.channel(1).unwrap().state);
    assert_eq!(programmed, ChannelState::Programmed);
    let audit = bed.audit_records(2).await;
    let inbound = &audit[0];
    assert_eq!(inbound["direction"], "inbound");
    assert_eq!(inbound["verdict"], "allow");
    assert_eq!(inbound["rule"], "test-gateway-commands");
    assert_eq!(inbound["cert_subject"], GATEWAY_CN);
    assert_eq!(inbound["message_type"], "PROGRAM-INFUSION");
    assert_eq!(inbound["control_id"], format!("{SERIAL}/1#{seq}"));
    assert_eq!(inbound["forwarded"], true);
    assert_eq!(inbound["bytes"], bytes.len());
    assert_eq!(audit[1]["direction"], "outbound");
    assert_eq!(audit[1]["message_type"], "ACK");
    assert_eq!(audit[1]["verdict"], "allow");
    assert_eq!(audit[1]["control_id"], format!("{SERIAL}/1#{seq}"));
}

#[tokio::test]
async fn a_command_from_an_unknown_certificate_gets_a_nak_and_never_reaches_the_pump() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut intruder = bed.controller("intruder.example").await;
    let mut ctl = controller();
    let (seq, _, reply) = exchange(&mut intruder, &mut ctl, 1, heparin(14.4)).await;
    let text = expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(text.starts_with("default: "), "{text}");
    assert!(
        bed.pump_saw().is_empty(),
        "the refused command reached the pump"
    );
    // The connection stays usable: the next refusal comes on the same connection.
    let (seq, _, reply) = exchange(&mut intruder, &mut ctl, 1, Command::Start).await;
    expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(bed.pump_saw().is_empty());
    let audit = bed.audit_records(2).await;
    assert_eq!(audit[0]["verdict"], "deny");
    assert_eq!(audit[0]["rule"], "default");
    assert_eq!(audit[0]["cert_subject"], "intruder.example");
    assert_eq!(audit[0]["forwarded"], false);
}

#[tokio::test]
async fn a_frame_with_a_bad_crc_is_answered_nak_crc_then_the_connection_closes() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut gw = bed.gateway().await;
    let (seq, mut bytes) = controller().command(1, heparin(14.4)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    gw.send(&bytes).await.unwrap();
    let reply = gw.recv(REPLY).await.unwrap().expect("NAK 2");
    expect_nak(&reply, seq, NakReason::CRC);
    expect_closed(&mut gw).await;
    assert!(bed.pump_saw().is_empty(), "a corrupted frame was forwarded");
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "closed");
    assert!(
        audit[0]["reason"].as_str().unwrap().contains("CRC"),
        "{audit:?}"
    );
    // Another connection is still served.
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, heparin(14.4)).await;
    expect_ack(&reply, seq);
    assert_eq!(bed.pump_saw().len(), 1);
}

#[tokio::test]
async fn a_four_gib_declared_length_is_refused_on_sight() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut gw = bed.gateway().await;
    // Eight bytes: magic, version, flags and a length of 0xFFFFFFFF. Nothing else is sent, so
    // only refusing on sight (not waiting for the payload) closes the connection.
    gw.send(b"WP\x01\x02\xff\xff\xff\xff").await.unwrap();
    expect_closed(&mut gw).await;
    assert!(bed.pump_saw().is_empty());
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "closed");
    assert!(
        audit[0]["reason"].as_str().unwrap().contains("4294967295"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_frame_over_the_routes_limit_is_refused_on_sight() {
    let bed = PumpBed::start(PumpOptions {
        tables: "[route.limits]\nmax_message_bytes = 64\n".into(),
        ..PumpOptions::default()
    })
    .await;
    let mut gw = bed.gateway().await;
    let (_, bytes) = controller().command(1, heparin(14.4)).unwrap();
    assert!(bytes.len() > 64);
    gw.send(&bytes).await.unwrap();
    expect_closed(&mut gw).await;
    assert!(bed.pump_saw().is_empty());
}

#[tokio::test]
async fn a_frame_that_frames_but_does_not_parse_gets_a_malformed_nak() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut gw = bed.gateway().await;
    // A sound envelope (correct CRC) around a START that carries a stray TLV it may not carry.
    let mut ctl = controller();
    let (seq, start) = ctl.command(1, Command::Start).unwrap();
    let mut body = start[..start.len() - 4].to_vec();
    body.extend_from_slice(&[0x00, 0x26, 0x00, 0x02, b'X', b'Y']); // ORDER-ID "XY"
    let len = (body.len() - 31) as u32;
    body[4..8].copy_from_slice(&len.to_be_bytes());
    let crc = crc32(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    assert!(Frame::parse(&body).is_err());
    let reply = gw.request(&body, REPLY).await.unwrap().expect("a NAK");
    let text = expect_nak(&reply, seq, NakReason::MALFORMED);
    assert!(text.contains("could not parse"), "{text}");
    assert!(bed.pump_saw().is_empty());
    // The connection stays usable.
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, heparin(14.4)).await;
    expect_ack(&reply, seq);
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "malformed");
    assert_eq!(audit[0]["message_type"], "START");
}

/// CRC-32/IEEE, as the protocol uses (so the test does not depend on the crate's encoder).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn an_unreachable_pump_is_answered_busy_never_with_an_ack() {
    let bed = PumpBed::start(PumpOptions {
        pump: None,
        ..PumpOptions::default()
    })
    .await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, heparin(14.4)).await;
    let text = expect_nak(&reply, seq, NakReason::BUSY);
    assert!(text.contains("could not deliver"), "{text}");
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "upstream-unavailable");
}

#[tokio::test]
async fn a_pump_lost_with_a_command_outstanding_closes_the_controller_connection() {
    let bed = PumpBed::start(PumpOptions {
        pump: Some(PumpBehaviour::CloseWithoutReply),
        ..PumpOptions::default()
    })
    .await;
    let mut gw = bed.gateway().await;
    let (_, bytes) = controller().command(1, heparin(14.4)).unwrap();
    gw.send(&bytes).await.unwrap();
    expect_closed(&mut gw).await;
    let audit = bed.audit_records(2).await;
    assert!(
        audit.iter().any(|r| r["verdict"] == "upstream-lost"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_status_round_trip_feeds_the_routes_pump_state() {
    let mut bed = PumpBed::start(PumpOptions {
        rules: shipped_pump_rules(),
        ..PumpOptions::default()
    })
    .await;
    // A nurse programs and starts channel 1 at the bedside: wardgate sees none of it.
    let pump = bed.pump.as_ref().unwrap();
    let mut bedside = controller();
    for cmd in [heparin(14.4), Command::Start] {
        let (_, bytes) = bedside.command(1, cmd).unwrap();
        pump.with_sim(|p| p.handle_bytes(&bytes));
    }
    assert_eq!(bed.route.pump_tracked(), Some(0));

    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    ctl.set_ack_requested(false);
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 0, Command::Status).await;
    let report = Frame::parse(&reply).unwrap();
    assert_eq!(report.header.sequence, seq);
    match report.command {
        Command::StatusReport(r) => assert_eq!(r.channels[0].state, ChannelState::Infusing),
        other => panic!("{other:?}"),
    }
    assert_eq!(bed.route.pump_tracked(), Some(2), "both channels reported");
    let audit = bed.audit_records(2).await;
    assert_eq!(audit[1]["message_type"], "STATUS-REPORT");
    assert_eq!(audit[1]["verdict"], "allow");

    // What the pump reported decides: no SET-CONFIG while it infuses.
    let mut biomed = bed.controller(BIOMED_CN).await;
    let mut ctl = controller();
    let config = Command::SetConfig(SetConfig {
        key: "alarm-volume",
        value: "5",
    });
    let (seq, _, reply) = exchange(&mut biomed, &mut ctl, 0, config).await;
    let text = expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(text.contains("while the pump is infusing"), "{text}");
    assert_eq!(bed.pump_saw().len(), 1, "only the STATUS reached the pump");
    bed.shutdown().await;
}

// ---- the shipped clinical policy (rules/pump/policy.toml) -------------------------------------

async fn shipped() -> PumpBed {
    PumpBed::start(PumpOptions {
        rules: shipped_pump_rules(),
        ..PumpOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_tenfold_decimal_slip_is_refused_as_a_limit_and_never_reaches_the_pump() {
    let bed = shipped().await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, heparin(144.0)).await;
    let text = expect_nak(&reply, seq, NakReason::LIMIT_EXCEEDED);
    assert!(text.starts_with("gateway-programs-pumps: "), "{text}");
    assert!(
        bed.pump_saw().is_empty(),
        "the tenfold program reached the pump"
    );
    // The clinician corrects the rate on the same connection: it goes through.
    let (seq, bytes, reply) = exchange(&mut gw, &mut ctl, 1, heparin(14.4)).await;
    expect_ack(&reply, seq);
    assert_eq!(bed.pump_saw(), vec![bytes]);
    let audit = bed.audit_records(1).await;
    assert_eq!(audit[0]["verdict"], "deny");
    assert_eq!(audit[0]["code"], 9024);
}

/// Program and start heparin at 14.4 mL/h through wardgate; returns what the pump saw.
async fn running_heparin(
    gw: &mut wardgate_proxy::sim::PumpClient,
    ctl: &mut Controller,
) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    for cmd in [heparin(14.4), Command::Start] {
        let (seq, bytes, reply) = exchange(gw, ctl, 1, cmd).await;
        expect_ack(&reply, seq);
        sent.push(bytes);
    }
    sent
}

#[tokio::test]
async fn a_rate_jump_beyond_the_allowed_step_is_refused() {
    let bed = shipped().await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let sent = running_heparin(&mut gw, &mut ctl).await;
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, change_rate(40.0)).await;
    let text = expect_nak(&reply, seq, NakReason::LIMIT_EXCEEDED);
    assert!(text.contains("times the last accepted rate"), "{text}");
    assert_eq!(bed.pump_saw(), sent, "the rate jump reached the pump");
    // A modest titration is fine.
    let (seq, bytes, reply) = exchange(&mut gw, &mut ctl, 1, change_rate(18.0)).await;
    expect_ack(&reply, seq);
    assert_eq!(bed.pump_saw().last(), Some(&bytes));
}

#[tokio::test]
async fn ten_rate_changes_in_a_minute_are_cut_off_at_the_policys_limit() {
    let bed = shipped().await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let mut sent = running_heparin(&mut gw, &mut ctl).await;
    let mut refused = 0;
    for i in 0..10 {
        let rate = if i % 2 == 0 { 18.0 } else { 14.4 };
        let (seq, bytes, reply) = exchange(&mut gw, &mut ctl, 1, change_rate(rate)).await;
        let f = Frame::parse(&reply).unwrap();
        if f.command == Command::Ack {
            assert_eq!(refused, 0, "a change was allowed after the limit was hit");
            sent.push(bytes);
        } else {
            let text = expect_nak(&reply, seq, NakReason::LIMIT_EXCEEDED);
            assert!(text.contains("program changes"), "{text}");
            refused += 1;
        }
    }
    // At most five program changes per minute, the program itself included: four changes pass.
    assert_eq!(refused, 6);
    assert_eq!(bed.pump_saw(), sent, "a refused change reached the pump");
}

#[tokio::test]
async fn a_bolus_without_its_parent_order_is_refused() {
    let bed = shipped().await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let sent = running_heparin(&mut gw, &mut ctl).await;
    let bolus = Command::Bolus(Bolus {
        dose: q(4000.0, Unit::Units),
        duration_s: 60,
        parent_order_id: "ORD-9999",
    });
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, bolus).await;
    let text = expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(text.contains("parent order"), "{text}");
    assert_eq!(bed.pump_saw(), sent, "the orphan bolus reached the pump");
}

fn update_chunk<'a>(image: &'a [u8], version: &'a str) -> UpdateChunk<'a> {
    UpdateChunk {
        transfer_id: 7,
        index: 0,
        count: 1,
        total_size: image.len() as u32,
        digest: image_digest(image),
        version,
        data: image,
    }
}

#[tokio::test]
async fn an_unapproved_drug_library_is_refused_and_an_approved_one_installs() {
    let bed = shipped().await;
    let mut biomed = bed.controller(BIOMED_CN).await;
    let mut ctl = controller();
    let rogue = update_chunk(b"drug library from an unknown source", "666");
    let (seq, _, reply) =
        exchange(&mut biomed, &mut ctl, 0, Command::DrugLibraryUpdate(rogue)).await;
    let text = expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(text.starts_with("biomed-maintains-pumps: "), "{text}");
    assert!(text.contains("not approved"), "{text}");
    assert!(bed.pump_saw().is_empty());
    let approved: &[u8] = b"EGH drug library v42: heparin, insulin, propofol, norepinephrine";
    let chunk = update_chunk(approved, "42");
    let (seq, bytes, reply) =
        exchange(&mut biomed, &mut ctl, 0, Command::DrugLibraryUpdate(chunk)).await;
    expect_ack(&reply, seq);
    assert_eq!(bed.pump_saw(), vec![bytes]);
    let version = bed
        .pump
        .as_ref()
        .unwrap()
        .with_sim(|p| p.drug_library_version().to_owned());
    assert_eq!(version, "42");
}

#[tokio::test]
async fn a_firmware_image_with_a_wrong_digest_is_refused() {
    let bed = shipped().await;
    let mut biomed = bed.controller(BIOMED_CN).await;
    let mut ctl = controller();
    let chunk = update_chunk(b"firmware image 9.9.9 that nobody approved", "9.9.9");
    let (seq, _, reply) = exchange(&mut biomed, &mut ctl, 0, Command::FirmwareUpdate(chunk)).await;
    let text = expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(text.contains("firmware"), "{text}");
    assert!(bed.pump_saw().is_empty());
    let firmware = bed
        .pump
        .as_ref()
        .unwrap()
        .with_sim(|p| p.firmware_version().to_owned());
    assert_eq!(firmware, "1.0.0");
}

#[tokio::test]
async fn set_config_during_an_infusion_started_through_wardgate_is_refused() {
    let bed = shipped().await;
    let mut gw = bed.gateway().await;
    let mut gw_ctl = controller();
    let mut expected = running_heparin(&mut gw, &mut gw_ctl).await;
    let mut biomed = bed.controller(BIOMED_CN).await;
    let mut biomed_ctl = controller();
    let config = Command::SetConfig(SetConfig {
        key: "alarm-volume",
        value: "5",
    });
    let (seq, _, reply) = exchange(&mut biomed, &mut biomed_ctl, 0, config.clone()).await;
    let text = expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(text.contains("infusing"), "{text}");
    assert_eq!(
        bed.pump_saw(),
        expected,
        "SET-CONFIG reached an infusing pump"
    );
    // Once the gateway stops the infusion, the same setting may change.
    let (seq, bytes, reply) = exchange(&mut gw, &mut gw_ctl, 1, Command::Stop).await;
    expect_ack(&reply, seq);
    expected.push(bytes);
    let (seq, bytes, reply) = exchange(&mut biomed, &mut biomed_ctl, 0, config).await;
    expect_ack(&reply, seq);
    expected.push(bytes);
    assert_eq!(bed.pump_saw(), expected);
    let volume = bed
        .pump
        .as_ref()
        .unwrap()
        .with_sim(|p| p.config("alarm-volume").map(str::to_owned));
    assert_eq!(volume.as_deref(), Some("5"));
}

#[tokio::test]
async fn a_pump_alarm_reaches_the_controller_and_its_ack_reaches_the_pump() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    // Open the upstream connection with a first command.
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 0, Command::Status).await;
    assert_eq!(Frame::parse(&reply).unwrap().header.sequence, seq);
    bed.pump.as_ref().unwrap().with_sim(|p| {
        p.raise_alarm(
            2,
            wardgate_pump::AlarmCode::OCCLUSION_DOWNSTREAM,
            wardgate_pump::Severity::High,
        )
    });
    let alarm = gw.recv(REPLY).await.unwrap().expect("the alarm");
    let f = Frame::parse(&alarm).unwrap();
    assert!(matches!(f.command, Command::Alarm(_)), "{f:?}");
    // The controller acknowledges the alarm: a response, forwarded to the pump.
    let ack = Frame::new(
        wardgate_pump::Flags::RESPONSE,
        f.header.sequence,
        f.header.device,
        f.header.channel,
        Command::Ack,
    )
    .encode()
    .unwrap();
    gw.send(&ack).await.unwrap();
    for _ in 0..100 {
        if bed.pump_saw().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bed.pump_saw().last(), Some(&ack));
    let audit = bed.audit_records(4).await;
    assert_eq!(audit[2]["message_type"], "ALARM");
    assert_eq!(audit[3]["direction"], "inbound");
    assert_eq!(audit[3]["message_type"], "ACK");
    assert_eq!(audit[3]["verdict"], "allow");
}

#[tokio::test]
async fn shutdown_waits_for_the_pumps_response_to_a_forwarded_command() {
    let mut bed = PumpBed::start(PumpOptions::default()).await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let (seq, _, reply) = exchange(&mut gw, &mut ctl, 1, heparin(14.4)).await;
    expect_ack(&reply, seq);
    bed.shutdown().await;
    expect_closed(&mut gw).await;
}

#[tokio::test]
async fn two_commands_in_one_write_are_judged_separately_and_a_split_frame_is_forwarded_whole() {
    let bed = PumpBed::start(PumpOptions::default()).await;
    let mut intruder = bed.controller("intruder.example").await;
    let mut gw = bed.gateway().await;
    let mut ctl = controller();
    let (refused_seq, refused) = ctl.command(1, heparin(14.4)).unwrap();
    intruder.send(&refused).await.unwrap();
    let reply = intruder.recv(REPLY).await.unwrap().expect("NAK");
    expect_nak(&reply, refused_seq, NakReason::REFUSED_BY_POLICY);
    // Two commands in one write from the gateway, then one split into single bytes.
    let (s1, program) = ctl.command(1, heparin(14.4)).unwrap();
    let (s2, start) = ctl.command(1, Command::Start).unwrap();
    gw.send(&[program.clone(), start.clone()].concat())
        .await
        .unwrap();
    expect_ack(&gw.recv(REPLY).await.unwrap().expect("ACK"), s1);
    expect_ack(&gw.recv(REPLY).await.unwrap().expect("ACK"), s2);
    let (s3, pause) = ctl.command(1, Command::Pause).unwrap();
    for b in &pause {
        gw.send(std::slice::from_ref(b)).await.unwrap();
    }
    expect_ack(&gw.recv(REPLY).await.unwrap().expect("ACK"), s3);
    assert_eq!(bed.pump_saw(), vec![program, start, pause]);
}

#[tokio::test]
async fn a_frame_left_incomplete_past_the_frame_timeout_closes_the_connection() {
    let bed = PumpBed::start(PumpOptions {
        tables: "[route.limits]\nframe_timeout = \"200ms\"\n".into(),
        ..PumpOptions::default()
    })
    .await;
    let mut gw = bed.gateway().await;
    let (_, bytes) = controller().command(1, heparin(14.4)).unwrap();
    gw.send(&bytes[..40]).await.unwrap();
    expect_closed(&mut gw).await;
    assert!(bed.pump_saw().is_empty());
    let audit = bed.audit_records(1).await;
    assert!(
        audit[0]["reason"]
            .as_str()
            .unwrap()
            .contains("frame not completed"),
        "{audit:?}"
    );
}
