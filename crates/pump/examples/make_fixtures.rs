//! Writes the wardgate pump protocol fixtures in `fixtures/pump/` (run from the repository root:
//! `cargo run -p wardgate-pump --example make_fixtures`). The bytes come from the crate's own
//! encoder, so they are valid WPP v1 frames; the rule tests in `rules/pump/` replay them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sha2::{Digest, Sha256};
use wardgate_pump::{
    ChangeRate, ChannelReport, ChannelState, Command, DeviceId, Flags, Frame, ProgramInfusion,
    Quantity, SetConfig, StatusReport, Unit, UpdateChunk,
};

fn q(value: f64, unit: Unit) -> Quantity {
    Quantity::new((value * 1000.0).round() as u32, unit).expect("in range")
}

fn write(name: &str, bytes: &[u8]) {
    let path = format!("fixtures/pump/{name}.wpp");
    std::fs::write(&path, bytes).expect("write fixture (run from the repository root)");
    println!("{path}: {} bytes", bytes.len());
}

fn request(seq: u32, channel: u8, command: Command<'_>) -> Vec<u8> {
    let device = DeviceId::new("PUMP-0042").unwrap();
    Frame::new(Flags::request(true), seq, device, channel, command)
        .encode()
        .unwrap()
}

fn program(rate: f64) -> Command<'static> {
    Command::ProgramInfusion(ProgramInfusion {
        drug_code: "HEP100",
        concentration: Some(q(100.0, Unit::UnitsPerMl)),
        rate: q(rate, Unit::MlPerH),
        vtbi: q(250.0, Unit::Ml),
        dose_rate: None,
        care_area: "ICU",
        order_id: "ORD-2001",
        patient_weight: Some(q(80.0, Unit::Kg)),
    })
}

fn change(rate: f64, order: &'static str) -> Command<'static> {
    Command::ChangeRate(ChangeRate {
        rate: q(rate, Unit::MlPerH),
        dose_rate: None,
        order_id: order,
    })
}

fn chunk<'a>(image: &'a [u8], version: &'a str) -> UpdateChunk<'a> {
    UpdateChunk {
        transfer_id: 7,
        index: 0,
        count: 1,
        total_size: image.len() as u32,
        digest: Sha256::digest(image).into(),
        version,
        data: image,
    }
}

fn main() {
    write("program-heparin-safe", &request(1, 1, program(14.4)));
    write("program-heparin-10x", &request(2, 1, program(144.0)));
    write("change-rate-safe", &request(3, 1, change(18.0, "ORD-2001")));
    write("change-rate-jump", &request(4, 1, change(40.0, "ORD-2001")));
    write(
        "change-rate-wrong-order",
        &request(5, 1, change(18.0, "ORD-9999")),
    );
    write(
        "bolus-without-parent",
        &request(
            6,
            1,
            Command::Bolus(wardgate_pump::Bolus {
                dose: q(4000.0, Unit::Units),
                duration_s: 60,
                parent_order_id: "ORD-9999",
            }),
        ),
    );
    write(
        "bolus-safe",
        &request(
            7,
            1,
            Command::Bolus(wardgate_pump::Bolus {
                dose: q(4000.0, Unit::Units),
                duration_s: 60,
                parent_order_id: "ORD-2001",
            }),
        ),
    );
    write("start", &request(8, 1, Command::Start));
    write(
        "set-config-alarm-volume",
        &request(
            9,
            0,
            Command::SetConfig(SetConfig {
                key: "alarm-volume",
                value: "5",
            }),
        ),
    );
    let approved: &[u8] = b"EGH drug library v42: heparin, insulin, propofol, norepinephrine";
    write(
        "drug-library-approved",
        &request(10, 0, Command::DrugLibraryUpdate(chunk(approved, "42"))),
    );
    let unapproved: &[u8] = b"drug library from an unknown source";
    write(
        "drug-library-unapproved",
        &request(11, 0, Command::DrugLibraryUpdate(chunk(unapproved, "666"))),
    );
    let firmware: &[u8] = b"firmware image 9.9.9 that nobody approved";
    write(
        "firmware-wrong-digest",
        &request(12, 0, Command::FirmwareUpdate(chunk(firmware, "9.9.9"))),
    );
    let device = DeviceId::new("PUMP-0042").unwrap();
    let report = Command::StatusReport(StatusReport {
        channels: vec![ChannelReport {
            channel: 1,
            state: ChannelState::Infusing,
            rate: q(14.4, Unit::MlPerH),
            volume_infused: q(3.0, Unit::Ml),
            vtbi_remaining: q(247.0, Unit::Ml),
            drug_code: Some("HEP100"),
            order_id: Some("ORD-2001"),
            unknown: Vec::new(),
        }],
    });
    write(
        "status-report-infusing",
        &Frame::new(Flags::RESPONSE, 13, device, 0, report)
            .encode()
            .unwrap(),
    );
    println!(
        "approved drug library digest: {}",
        hex::encode(Sha256::digest(approved))
    );
}
