//! Simulator semantics: the pump answers like a pump.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wardgate_pump::sim::{Controller, PumpSim};
use wardgate_pump::{
    Alarm, AlarmCode, Bolus, ChangeRate, ChannelState, ClearAlarm, Command, DeviceId, Frame, Hello,
    Nak, NakReason, ProgramInfusion, Quantity, SetConfig, Severity, Unit, UpdateChunk,
    image_digest,
};

fn setup() -> (PumpSim, Controller) {
    let dev = DeviceId::new("PUMP-0001").unwrap();
    (PumpSim::new(dev, "WP-Sim-2", 2), Controller::new(dev))
}

fn program(order: &str, rate_milli: u32, vtbi_milli: u32) -> Command<'_> {
    Command::ProgramInfusion(ProgramInfusion {
        drug_code: "NACL-0.9",
        concentration: None,
        rate: Quantity::new(rate_milli, Unit::MlPerH).unwrap(),
        vtbi: Quantity::new(vtbi_milli, Unit::Ml).unwrap(),
        dose_rate: None,
        care_area: "MED-SURG",
        order_id: order,
        patient_weight: None,
    })
}

/// Send a command; return (request sequence, parsed reply bytes).
fn send(pump: &mut PumpSim, ctl: &mut Controller, channel: u8, cmd: Command<'_>) -> (u32, Vec<u8>) {
    let (seq, bytes) = ctl.command(channel, cmd).unwrap();
    (seq, pump.handle_bytes(&bytes))
}

fn expect_ack(reply: &[u8], seq: u32) {
    let f = Frame::parse(reply).unwrap();
    assert_eq!(f.command, Command::Ack, "{f:?}");
    assert_eq!(f.header.sequence, seq);
    assert!(f.header.flags.response);
}

fn expect_nak(reply: &[u8], reason: NakReason) {
    match Frame::parse(reply).unwrap().command {
        Command::Nak(Nak { reason: r, .. }) => assert_eq!(r, reason),
        other => panic!("expected NAK {reason}, got {other:?}"),
    }
}

fn status(
    pump: &mut PumpSim,
    ctl: &mut Controller,
    channel: u8,
) -> Vec<(u8, ChannelState, u32, u32)> {
    let (_, reply) = send(pump, ctl, channel, Command::Status);
    match Frame::parse(&reply).unwrap().command {
        Command::StatusReport(r) => r
            .channels
            .iter()
            .map(|c| {
                (
                    c.channel,
                    c.state,
                    c.volume_infused.milli(),
                    c.vtbi_remaining.milli(),
                )
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hello_gets_identify() {
    let (mut pump, mut ctl) = setup();
    let (seq, reply) = send(
        &mut pump,
        &mut ctl,
        0,
        Command::Hello(Hello {
            controller_id: None,
        }),
    );
    let f = Frame::parse(&reply).unwrap();
    assert_eq!(f.header.sequence, seq);
    assert_eq!(f.header.device.as_str(), "PUMP-0001");
    match f.command {
        Command::Identify(i) => {
            assert_eq!(i.model, "WP-Sim-2");
            assert_eq!(i.firmware_version, "1.0.0");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn program_start_status_shows_infusing_and_volume_accrues() {
    let (mut pump, mut ctl) = setup();
    let (seq, r) = send(&mut pump, &mut ctl, 1, program("ORD-1", 100_000, 50_000));
    expect_ack(&r, seq);
    assert_eq!(
        status(&mut pump, &mut ctl, 1),
        vec![(1, ChannelState::Programmed, 0, 50_000)]
    );
    let (seq, r) = send(&mut pump, &mut ctl, 1, Command::Start);
    expect_ack(&r, seq);
    // 100 mL/h for 6 minutes = 10 mL.
    pump.advance(360_000);
    assert_eq!(
        status(&mut pump, &mut ctl, 0),
        vec![
            (1, ChannelState::Infusing, 10_000, 40_000),
            (2, ChannelState::Idle, 0, 0)
        ]
    );
    // Titrate, pause, resume.
    let change = Command::ChangeRate(ChangeRate {
        rate: Quantity::new(50_000, Unit::MlPerH).unwrap(),
        dose_rate: None,
        order_id: "ORD-1",
    });
    let (seq, r) = send(&mut pump, &mut ctl, 1, change);
    expect_ack(&r, seq);
    let (seq, r) = send(&mut pump, &mut ctl, 1, Command::Pause);
    expect_ack(&r, seq);
    pump.advance(3_600_000);
    assert_eq!(status(&mut pump, &mut ctl, 1)[0].2, 10_000);
    let (seq, r) = send(&mut pump, &mut ctl, 1, Command::Start);
    expect_ack(&r, seq);
    // Fractions of a thousandth are carried, not lost: 1 ms steps add up.
    for _ in 0..72_000 {
        pump.advance(1);
    }
    assert_eq!(status(&mut pump, &mut ctl, 1)[0].2, 11_000);
}

#[test]
fn vtbi_complete_raises_an_alarm_event() {
    let (mut pump, mut ctl) = setup();
    send(&mut pump, &mut ctl, 2, program("ORD-2", 1_000_000, 1_000));
    send(&mut pump, &mut ctl, 2, Command::Start);
    pump.advance(60_000);
    assert_eq!(
        status(&mut pump, &mut ctl, 2),
        vec![(2, ChannelState::Alarm, 1_000, 0)]
    );
    let events = pump.take_events();
    assert_eq!(events.len(), 1);
    let ev = Frame::parse(&events[0]).unwrap();
    assert_eq!(ev.header.channel, 2);
    assert!(ev.header.flags.ack_requested && !ev.header.flags.response);
    assert_eq!(
        ev.command,
        Command::Alarm(Alarm {
            code: AlarmCode::VTBI_COMPLETE,
            severity: Severity::Medium,
            text: None
        })
    );
    // In alarm: START refused as busy; CLEAR-ALARM with the wrong code refused.
    let (_, r) = send(&mut pump, &mut ctl, 2, Command::Start);
    expect_nak(&r, NakReason::BUSY);
    let wrong = Command::ClearAlarm(ClearAlarm {
        code: AlarmCode::AIR_IN_LINE,
    });
    let (_, r) = send(&mut pump, &mut ctl, 2, wrong);
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    let clear = Command::ClearAlarm(ClearAlarm {
        code: AlarmCode::VTBI_COMPLETE,
    });
    let (seq, r) = send(&mut pump, &mut ctl, 2, clear);
    expect_ack(&r, seq);
    assert_eq!(pump.channel(2).unwrap().state, ChannelState::Paused);
}

#[test]
fn commands_out_of_sequence_are_naked() {
    let (mut pump, mut ctl) = setup();
    let change = Command::ChangeRate(ChangeRate {
        rate: Quantity::new(50_000, Unit::MlPerH).unwrap(),
        dose_rate: None,
        order_id: "ORD-1",
    });
    let (seq, r) = send(&mut pump, &mut ctl, 1, change.clone());
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    assert_eq!(Frame::parse(&r).unwrap().header.sequence, seq);
    let (_, r) = send(&mut pump, &mut ctl, 1, Command::Start);
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    let (_, r) = send(&mut pump, &mut ctl, 1, Command::Pause);
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    let bolus = Command::Bolus(Bolus {
        dose: Quantity::new(2_000, Unit::Mg).unwrap(),
        duration_s: 60,
        parent_order_id: "ORD-1",
    });
    let (_, r) = send(&mut pump, &mut ctl, 1, bolus.clone());
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    // Program another order: a change for ORD-1 is refused, the bolus needs it running.
    send(&mut pump, &mut ctl, 1, program("ORD-9", 10_000, 10_000));
    let (_, r) = send(&mut pump, &mut ctl, 1, change);
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    send(&mut pump, &mut ctl, 1, Command::Start);
    let (_, r) = send(&mut pump, &mut ctl, 1, program("ORD-10", 10_000, 10_000));
    expect_nak(&r, NakReason::BUSY);
    let (_, r) = send(&mut pump, &mut ctl, 1, bolus);
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    // Channel 3 does not exist on a two-channel pump.
    let (_, r) = send(&mut pump, &mut ctl, 3, Command::Start);
    expect_nak(&r, NakReason::UNSUPPORTED);
    // STOP returns the channel to idle.
    let (seq, r) = send(&mut pump, &mut ctl, 1, Command::Stop);
    expect_ack(&r, seq);
    assert_eq!(pump.channel(1).unwrap().state, ChannelState::Idle);
}

#[test]
fn ack_only_when_requested_and_foreign_frames_ignored() {
    let (mut pump, mut ctl) = setup();
    ctl.set_ack_requested(false);
    let cfg = Command::SetConfig(SetConfig {
        key: "alarm.volume",
        value: "7",
    });
    let (_, r) = send(&mut pump, &mut ctl, 0, cfg);
    assert!(r.is_empty());
    assert_eq!(pump.config("alarm.volume"), Some("7"));
    // Failures are always answered.
    let (_, r) = send(&mut pump, &mut ctl, 1, Command::Start);
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    // A frame for another pump gets no answer.
    let mut other = Controller::new(DeviceId::new("PUMP-0002").unwrap());
    let (_, bytes) = other.command(1, Command::Start).unwrap();
    assert!(pump.handle_bytes(&bytes).is_empty());
    // Corrupted bytes with a readable header get a NAK; unreadable ones nothing.
    let (seq, mut bytes) = ctl.command(1, Command::Start).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let r = pump.handle_bytes(&bytes);
    expect_nak(&r, NakReason::CRC);
    assert_eq!(Frame::parse(&r).unwrap().header.sequence, seq);
    bytes[0] = b'X';
    assert!(pump.handle_bytes(&bytes).is_empty());
}

#[test]
fn drug_library_update_installs_version() {
    let (mut pump, mut ctl) = setup();
    let image: Vec<u8> = (0..100u8).collect();
    let digest = image_digest(&image);
    let chunk = |index: u32, data| {
        Command::DrugLibraryUpdate(UpdateChunk {
            transfer_id: 77,
            index,
            count: 2,
            total_size: 100,
            digest,
            version: "DL-2026.2",
            data,
        })
    };
    let (seq, r) = send(&mut pump, &mut ctl, 0, chunk(0, &image[..60]));
    expect_ack(&r, seq);
    // Re-sending chunk 0 is a duplicate.
    let (_, r) = send(&mut pump, &mut ctl, 0, chunk(0, &image[..60]));
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
    let (seq, r) = send(&mut pump, &mut ctl, 0, chunk(1, &image[60..]));
    expect_ack(&r, seq);
    assert_eq!(pump.drug_library_version(), "DL-2026.2");
    // Out-of-order first chunk of a new transfer.
    let (_, r) = send(&mut pump, &mut ctl, 0, chunk(1, &image[60..]));
    expect_nak(&r, NakReason::SEQUENCE_ERROR);
}

#[test]
fn firmware_update_refused_while_infusing() {
    let (mut pump, mut ctl) = setup();
    send(&mut pump, &mut ctl, 1, program("ORD-1", 10_000, 10_000));
    let image = [1u8, 2, 3];
    let fw = Command::FirmwareUpdate(UpdateChunk {
        transfer_id: 1,
        index: 0,
        count: 1,
        total_size: 3,
        digest: image_digest(&image),
        version: "2.0.0",
        data: &image,
    });
    let (_, r) = send(&mut pump, &mut ctl, 0, fw.clone());
    expect_nak(&r, NakReason::BUSY);
    send(&mut pump, &mut ctl, 1, Command::Stop);
    let (seq, r) = send(&mut pump, &mut ctl, 0, fw);
    expect_ack(&r, seq);
    assert_eq!(pump.firmware_version(), "2.0.0");
}
