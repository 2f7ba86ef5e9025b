//! Pump-command inspection cost: framing + parsing + stateful rule evaluation per command with
//! 10,000 pumps tracked, and memory per tracked channel. `cargo bench --bench pump`
//! (`WARDGATE_BENCH_QUICK=1` for a short run).
// A benchmark: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use wardgate_pump::{
    ChangeRate, Command, DeviceId, Flags, Frame, FrameDecoder, ProgramInfusion, Quantity, Unit,
};
use wardgate_rules::{CertIdentity, PumpState, Sender, compile, load_rule_files};

const PUMPS: usize = 10_000;

fn q(milli: u32, unit: Unit) -> Quantity {
    Quantity::new(milli, unit).unwrap()
}

fn frame(device: &DeviceId, seq: u32, command: Command<'_>) -> Vec<u8> {
    Frame::new(Flags::request(true), seq, *device, 1, command)
        .encode()
        .unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let quick = std::env::var_os("WARDGATE_BENCH_QUICK").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = compile(&load_rule_files(&[root.join("rules/pump/policy.toml")]).unwrap()).unwrap();
    let sender = Sender {
        address: [10, 20, 0, 5].into(),
        certificate: Some(CertIdentity {
            common_name: Some("pump-gw.egh.example".into()),
            alt_names: vec![],
        }),
    };
    let devices: Vec<DeviceId> = (0..PUMPS)
        .map(|i| DeviceId::new(&format!("PUMP-{i:05}")).unwrap())
        .collect();
    let program = |d: &DeviceId| {
        frame(
            d,
            1,
            Command::ProgramInfusion(ProgramInfusion {
                drug_code: "HEP100",
                concentration: Some(q(100_000, Unit::UnitsPerMl)),
                rate: q(14_400, Unit::MlPerH),
                vtbi: q(250_000, Unit::Ml),
                dose_rate: None,
                care_area: "ICU",
                order_id: "ORD-2001",
                patient_weight: Some(q(80_000, Unit::Kg)),
            }),
        )
    };
    let mut state = PumpState::new(2 * PUMPS);
    let before = rss_kib();
    for d in &devices {
        let bytes = program(d);
        let f = Frame::parse(&bytes).unwrap();
        assert!(rules.evaluate_pump(&f, &sender, 0, &mut state).forwards());
    }
    let after = rss_kib();
    assert_eq!(state.tracked(), PUMPS);
    // Rate changes alternating 15 and 16 mL/h: within the step, the limits and (with a minute
    // between rounds) the frequency rule, so every one is judged in full and allowed.
    let changes: Vec<Vec<u8>> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            frame(
                d,
                2,
                Command::ChangeRate(ChangeRate {
                    rate: q(if i % 2 == 0 { 15_000 } else { 16_000 }, Unit::MlPerH),
                    dose_rate: None,
                    order_id: "ORD-2001",
                }),
            )
        })
        .collect();
    let budget = if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let decoder = FrameDecoder::default();
    let mut n = 0u64;
    let mut now_ms = 60_000u64;
    let start = Instant::now();
    let mut allowed = 0u64;
    while start.elapsed() < budget {
        for bytes in &changes {
            let info = decoder.next_frame(bytes).unwrap().unwrap();
            let f = Frame::parse(&bytes[..info.consumed]).unwrap();
            let v = rules.evaluate_pump(&f, &sender, now_ms, &mut state);
            allowed += u64::from(black_box(v.forwards()));
            n += 1;
        }
        now_ms += 61_000;
    }
    let elapsed = start.elapsed();
    assert_eq!(
        allowed, n,
        "every benchmarked change must be judged allowed"
    );
    let ns = elapsed.as_nanos() as f64 / n as f64;
    println!("wardgate pump-command inspection ({PUMPS} pumps tracked, 1 channel each)");
    println!(
        "  frame + parse + stateful rules (CHANGE-RATE, drug library): {ns:.0} ns/command, {:.0} commands/s ({n} commands)",
        1e9 / ns
    );
    println!(
        "  target < 5000 ns/command: {}",
        if ns < 5000.0 { "met" } else { "MISSED" }
    );
    println!(
        "  memory per tracked channel: {:.0} bytes (RSS grew {} KiB for {PUMPS} channels)",
        (after.saturating_sub(before) * 1024) as f64 / PUMPS as f64,
        after.saturating_sub(before)
    );
}
