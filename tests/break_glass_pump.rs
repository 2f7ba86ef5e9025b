//! Break-glass on a pump route, through the proxy: a controller whose certificate the shipped pump
//! policy does not know reaches the pump while the route is under break-glass, and a tenfold
//! heparin program is still refused at the never_override drug's hard limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::REPLY;
use common::pump::*;
use wardgate_proxy::breakglass::{BreakGlass, Request};
use wardgate_proxy::clock::ManualClock;
use wardgate_pump::sim::Controller;
use wardgate_pump::{Command, NakReason, ProgramInfusion, Quantity, Unit};

fn q(value: f64, unit: Unit) -> Quantity {
    Quantity::new((value * 1000.0).round() as u32, unit).unwrap()
}

/// Heparin 100 units/mL for an 80 kg patient in the ICU.
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

#[tokio::test]
async fn an_unknown_controller_gets_through_under_break_glass_but_not_past_the_hard_limit() {
    let bed = PumpBed::start(PumpOptions {
        rules: shipped_pump_rules(),
        ..PumpOptions::default()
    })
    .await;
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let glass = BreakGlass::new(vec![bed.route.clone()], Duration::from_secs(3600), clock);
    let mut renewed = bed.controller("pump-gw-2027.egh.example").await;
    let mut ctl = Controller::new(device());

    let (seq, bytes) = ctl.command(1, heparin(14.4)).unwrap();
    let reply = renewed
        .request(&bytes, REPLY)
        .await
        .unwrap()
        .expect("reply");
    expect_nak(&reply, seq, NakReason::REFUSED_BY_POLICY);
    assert!(bed.pump_saw().is_empty());

    let route = bed.route.name().to_owned();
    glass
        .activate(
            Request {
                route,
                rule: None,
                duration: Duration::from_secs(600),
                reason: "pump gateway certificate renewed overnight".into(),
                operator: "biomed-oncall".into(),
            },
            "127.0.0.1:1",
        )
        .unwrap();
    let (seq, bytes) = ctl.command(1, heparin(14.4)).unwrap();
    let reply = renewed
        .request(&bytes, REPLY)
        .await
        .unwrap()
        .expect("reply");
    expect_ack(&reply, seq);
    assert_eq!(bed.pump_saw(), vec![bytes]);

    let (seq, bytes) = ctl.command(2, heparin(144.0)).unwrap();
    let reply = renewed
        .request(&bytes, REPLY)
        .await
        .unwrap()
        .expect("reply");
    let text = expect_nak(&reply, seq, NakReason::LIMIT_EXCEEDED);
    assert!(text.contains("hard maximum"), "{text}");
    assert_eq!(bed.pump_saw().len(), 1, "the overdose reached the pump");

    let audit = bed.audit_records(5).await;
    let judged: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|r| r["direction"] == "inbound")
        .collect();
    assert_eq!(judged[1]["verdict"], "audit-deny");
    assert_eq!(
        judged[1]["break_glass"][0]["reason"],
        "pump gateway certificate renewed overnight"
    );
    assert_eq!(judged[2]["verdict"], "deny");
    assert_eq!(judged[2]["rule"], "never-override");
}
