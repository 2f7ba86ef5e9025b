//! IHE PCD-03 infusion order view tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardgate_hl7::{
    Coded, MAX_ORDERS, Message, OrderControl, PCD03_PROFILE_OID, ParseLimits, Pcd03Error,
    read_infusion_orders,
};

fn read(text: &str) -> Result<wardgate_hl7::InfusionOrderMessage<'_>, Pcd03Error> {
    let m = Message::parse(text.as_bytes(), &ParseLimits::default()).unwrap();
    read_infusion_orders(&m)
}

fn with_body(body: &[String]) -> String {
    let mut segs = vec![
        MSH_RGV.to_string(),
        seg("PID", &[(3, "MRN1")]),
        seg("PV1", &[(3, "ICU^^^NORTH")]),
    ];
    segs.extend_from_slice(body);
    msg(&segs)
}

#[test]
fn fixture_values() {
    let text = rgv_o15();
    let m = Message::parse(text.as_bytes(), &ParseLimits::default()).unwrap();
    assert_eq!(m.header().profile().unwrap().to_text(), PCD03_PROFILE_OID);
    let out = read_infusion_orders(&m).unwrap();
    assert_eq!(out.patient_id.as_deref(), Some("MRN12345"));
    assert_eq!(out.care_area.as_deref(), Some("ICU"));
    assert_eq!(out.orders.len(), 1);
    let o = &out.orders[0];
    assert_eq!(o.order_control, OrderControl::New);
    assert_eq!(o.placer_order_number.as_deref(), Some("ORD-1001"));
    assert_eq!(o.parent_order, None);
    assert_eq!(o.order_time.as_deref(), Some("20261129112900"));
    assert_eq!(o.drug.identifier, "0409-7620");
    assert_eq!(o.drug.text, "Heparin 25000 units/250 mL");
    assert_eq!(o.drug.system, "NDC");
    let vtbi = o.vtbi.as_ref().unwrap();
    assert_eq!(vtbi.value, Some(250.0));
    assert_eq!(vtbi.units().text, "MDC_DIM_MILLI_L");
    let rate = o.rate.as_ref().unwrap();
    assert_eq!(rate.value, Some(18.0));
    assert_eq!(rate.raw, "18");
    assert_eq!(
        rate.units().triplet("MDC"),
        Some(("265266", "MDC_DIM_MILLI_L_PER_HR"))
    );
    assert_eq!(rate.units().triplet("UCUM"), Some(("mL/h", "mL/h")));
    let strength = o.strength.as_ref().unwrap();
    assert_eq!(strength.value, Some(25000.0));
    assert_eq!(strength.units().identifier, "U");
    assert_eq!(o.diluent_volume.as_ref().unwrap().value, Some(250.0));
    assert_eq!(o.pump_id.as_deref(), Some("PUMP-0042"));
    assert_eq!(o.pump_id_rows, 1);
    let w = o.patient_weight.as_ref().unwrap();
    assert_eq!(w.value, Some(80.0));
    assert_eq!(w.units().triplet("UCUM"), Some(("kg", "kilogram")));
}

#[test]
fn mdc_and_ucum_in_either_order() {
    let ucum_first = seg(
        "RXG",
        &[
            (1, "1"),
            (4, "0409-7620^Heparin^NDC"),
            (15, "18"),
            (16, "mL/h^mL/h^UCUM^265266^MDC_DIM_MILLI_L_PER_HR^MDC"),
        ],
    );
    let text = with_body(&[
        seg("ORC", &[(1, "XO"), (2, "ORD-2")]),
        ucum_first,
        pump_obx("1", "P1"),
    ]);
    let out = read(&text).unwrap();
    let o = &out.orders[0];
    assert_eq!(o.order_control, OrderControl::Change);
    let units = o.rate.as_ref().unwrap().units();
    assert_eq!(units.identifier, "mL/h");
    assert_eq!(units.alt_system, "MDC");
    assert_eq!(
        units.triplet("MDC"),
        Some(("265266", "MDC_DIM_MILLI_L_PER_HR"))
    );
    assert_eq!(units.triplet("ucum"), Some(("mL/h", "mL/h")));
    assert_eq!(units.triplet("SNOMED"), None);
    // Only weight in the group's absence falls back to elsewhere: none here.
    assert_eq!(o.patient_weight, None);
    assert_eq!(o.vtbi, None);
}

#[test]
fn bolus_with_parent_and_two_orders() {
    let text = with_body(&[
        seg("ORC", &[(1, "RE"), (2, "ORD-1")]),
        rxg_heparin(),
        seg("RXR", &[(1, "IV")]),
        pump_obx("1", "PUMP-A"),
        weight_obx("2", "72.5"),
        seg("ORC", &[(1, "CH"), (2, "ORD-2"), (8, "ORD-1^BCMA")]),
        seg("TQ1", &[(1, "1")]),
        seg(
            "RXG",
            &[
                (1, "1"),
                (4, "0409-7620^Heparin^NDC"),
                (5, "5"),
                (7, "mL^mL^UCUM"),
            ],
        ),
        seg("RXR", &[(1, "IV")]),
        pump_obx("1", "PUMP-A"),
        pump_obx("2", "PUMP-B"),
        seg("NTE", &[(3, "note")]),
    ]);
    let out = read(&text).unwrap();
    assert_eq!(out.orders.len(), 2);
    let (a, b) = (&out.orders[0], &out.orders[1]);
    assert_eq!(a.order_control, OrderControl::New);
    assert_eq!(a.pump_id_rows, 1);
    assert_eq!(b.order_control, OrderControl::Bolus);
    assert_eq!(b.parent_order.as_deref(), Some("ORD-1"));
    assert_eq!(b.vtbi.as_ref().unwrap().value, Some(5.0));
    assert_eq!(b.rate, None);
    assert_eq!(b.pump_id.as_deref(), Some("PUMP-A"));
    assert_eq!(
        b.pump_id_rows, 2,
        "DOMAIN requires exactly one; the rules decide"
    );
    // The weight of the first group is used where a group has none.
    assert_eq!(a.patient_weight.as_ref().unwrap().value, Some(72.5));
    assert_eq!(b.patient_weight.as_ref().unwrap().value, Some(72.5));
}

#[test]
fn pump_row_found_by_name_and_unknown_control_kept() {
    let text = with_body(&[
        seg("ORC", &[(1, "ZZ")]),
        seg("RXG", &[(4, "X^Y^Z"), (15, "1~100"), (16, "mL/h")]),
        seg("OBX", &[(3, "^MDC_DEV_PUMP_INFUS_VMD^MDC"), (18, "P9")]),
    ]);
    let out = read(&text).unwrap();
    let o = &out.orders[0];
    assert_eq!(o.order_control, OrderControl::Other("ZZ".into()));
    assert_eq!(o.pump_id.as_deref(), Some("P9"));
    // A repeated rate is not a number (a hidden second value must not slip through).
    let rate = o.rate.as_ref().unwrap();
    assert_eq!(rate.value, None);
    assert_eq!(rate.raw, "1~100");
    assert_eq!(o.placer_order_number, None);
    assert!(!o.drug.is_empty());
    assert!(Coded::default().is_empty());
}

#[test]
fn structural_errors() {
    // Missing RXG.
    let text = with_body(&[seg("ORC", &[(1, "RE")]), pump_obx("1", "P")]);
    assert_eq!(read(&text), Err(Pcd03Error::SegmentOrder { segment: 4 }));
    let text = with_body(&[
        seg("ORC", &[(1, "RE")]),
        rxg_heparin(),
        seg("ORC", &[(1, "RE")]),
    ]);
    assert_eq!(read(&text), Err(Pcd03Error::MissingRxg { order: 2 }));
    let text = with_body(&[seg("ORC", &[(1, "RE")])]);
    assert_eq!(read(&text), Err(Pcd03Error::MissingRxg { order: 1 }));
    // RXG before any ORC.
    let text = with_body(&[rxg_heparin(), seg("ORC", &[(1, "RE")])]);
    assert_eq!(read(&text), Err(Pcd03Error::SegmentOrder { segment: 3 }));
    // Two RXG in one group.
    let text = with_body(&[seg("ORC", &[(1, "RE")]), rxg_heparin(), rxg_heparin()]);
    assert_eq!(read(&text), Err(Pcd03Error::SegmentOrder { segment: 5 }));
    // A second PID.
    let text = with_body(&[
        seg("PID", &[(3, "OTHER")]),
        seg("ORC", &[(1, "RE")]),
        rxg_heparin(),
    ]);
    assert_eq!(read(&text), Err(Pcd03Error::SegmentOrder { segment: 3 }));
    // No order at all.
    assert_eq!(read(&with_body(&[])), Err(Pcd03Error::NoOrder));
    // Too many orders.
    let mut body = Vec::new();
    for _ in 0..=MAX_ORDERS {
        body.push(seg("ORC", &[(1, "RE")]));
        body.push(rxg_heparin());
    }
    assert_eq!(
        read(&with_body(&body)),
        Err(Pcd03Error::TooManyOrders { limit: MAX_ORDERS })
    );
    body.truncate(2 * MAX_ORDERS);
    assert_eq!(read(&with_body(&body)).unwrap().orders.len(), MAX_ORDERS);
}

#[test]
fn not_rgv_o15() {
    assert_eq!(read(&adt_a01()), Err(Pcd03Error::NotRgvO15));
    assert_eq!(read(&ack_aa()), Err(Pcd03Error::NotRgvO15));
    let text = rgv_o15().replace("RGV^O15^RGV_O15", "RGV^O16");
    assert_eq!(read(&text), Err(Pcd03Error::NotRgvO15));
    // The message type is compared after un-escaping.
    let text = rgv_o15().replace("RGV^O15^RGV_O15", "\\X524756\\^O15");
    assert_eq!(read(&text).map(|o| o.orders.len()), Ok(1));
}
