//! The PCD-03 reader against a reference written with the general accessors (field by
//! field, everything decoded): the fast paths of `read_infusion_orders` (one pass per segment,
//! borrowed text, raw OBX-3 comparison, whole units fields) must read exactly the same orders,
//! also for escapes, repetitions, text that is not UTF-8 and odd numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use proptest::prelude::*;
use wardgate_hl7::{
    Coded, Delimiters, Field, Message, OrderControl, ParseLimits, Pcd03Error, Segment, Value,
    read_infusion_orders,
};

/// One order as the reference reads it: every value through `Field`/`Value`.
#[derive(Debug, PartialEq)]
struct RefOrder {
    control: OrderControl,
    placer: Option<String>,
    parent: Option<String>,
    time: Option<String>,
    drug: Coded<'static>,
    quantities: [Option<RefQuantity>; 4],
    pump_id: Option<String>,
    pump_id_rows: usize,
    weight: Option<RefQuantity>,
}

#[derive(Debug, PartialEq, Clone)]
struct RefQuantity {
    value: Option<u64>,
    raw: String,
    units: Coded<'static>,
    /// What `units_plain` must be: the first repetition when plain and split by `^`.
    plain: Option<String>,
}

fn owned(c: Coded<'_>) -> Coded<'static> {
    Coded::from_components(c.components().map(|s| Cow::Owned(s.to_owned())))
}

fn text_of(f: Option<Field<'_>>) -> Option<String> {
    let v = f?.component(1)?.value();
    (!v.is_empty()).then(|| v.text().into_owned())
}

fn quantity(value: Option<Field<'_>>, units: Option<Field<'_>>) -> Option<RefQuantity> {
    let value = value?.value();
    if value.is_empty() {
        return None;
    }
    let raw = value.text().into_owned();
    // NM read from the decoded text (the reference for the reader's own number path).
    let plain_text = Delimiters {
        escape: None,
        ..Delimiters::default()
    };
    let number = Value::new(raw.as_bytes(), plain_text).as_number();
    let coded = Coded::from_field(units);
    Some(RefQuantity {
        value: number.map(f64::to_bits),
        raw,
        plain: coded.plain().map(str::to_owned),
        units: owned(coded),
    })
}

fn names(seg: &Segment<'_>, code: &str, name: &str) -> bool {
    let c = Coded::from_field(seg.field(3));
    c.identifier == code || c.alt_identifier == code || c.text == name || c.alt_text == name
}

/// Orders of a message already accepted by the reader (structure errors are compared
/// separately, by error value).
fn reference(msg: &Message<'_>) -> (Option<String>, Option<String>, Vec<RefOrder>) {
    let seg_text = |id: &[u8], n| msg.segment(id, 1).and_then(|s| text_of(s.field(n)));
    let mut orders = Vec::new();
    let mut first_weight = None;
    let mut current: Option<(Segment<'_>, Option<Segment<'_>>, Vec<Segment<'_>>)> = None;
    let mut groups = Vec::new();
    for seg in msg.segments() {
        match seg.id() {
            b"ORC" => {
                groups.extend(current.take());
                current = Some((seg, None, Vec::new()));
            }
            b"RXG" => {
                if let Some(g) = current.as_mut() {
                    g.1 = Some(seg);
                }
            }
            b"OBX" => {
                if let Some(g) = current.as_mut() {
                    g.2.push(seg);
                }
                // The first weight row with a value anywhere stands in for groups without one.
                if first_weight.is_none()
                    && !names(&seg, "69986", "MDC_DEV_PUMP_INFUS_VMD")
                    && names(&seg, "68063", "MDC_ATTR_PT_WEIGHT")
                {
                    first_weight = quantity(seg.field(5), seg.field(6));
                }
            }
            _ => {}
        }
    }
    groups.extend(current);
    for (orc, rxg, obx) in groups {
        let rxg = rxg.expect("the reader accepted it");
        let f = |n| rxg.field(n);
        let pumps: Vec<_> = obx
            .iter()
            .filter(|s| names(s, "69986", "MDC_DEV_PUMP_INFUS_VMD"))
            .collect();
        let weight = obx
            .iter()
            .filter(|s| !names(s, "69986", "MDC_DEV_PUMP_INFUS_VMD"))
            .filter(|s| names(s, "68063", "MDC_ATTR_PT_WEIGHT"))
            .find_map(|s| quantity(s.field(5), s.field(6)));
        let control = orc
            .field(1)
            .map(|f| f.value().to_text())
            .unwrap_or_default();
        orders.push(RefOrder {
            control: match control.as_str() {
                "RE" => OrderControl::New,
                "XO" => OrderControl::Change,
                "CH" => OrderControl::Bolus,
                _ => OrderControl::Other(control),
            },
            placer: text_of(orc.field(2)),
            parent: text_of(orc.field(8)),
            time: text_of(orc.field(9)),
            drug: owned(Coded::from_field(f(4))),
            quantities: [
                quantity(f(5), f(7)),
                quantity(f(15), f(16)),
                quantity(f(17), f(18)),
                quantity(f(23), f(24)),
            ],
            // The first pump row that names a pump (as the reader always has).
            pump_id: pumps.iter().find_map(|s| text_of(s.field(18))),
            pump_id_rows: pumps.len(),
            weight: weight.or_else(|| first_weight.clone()),
        });
    }
    (seg_text(b"PID", 3), seg_text(b"PV1", 3), orders)
}

fn read_quantity(q: Option<&wardgate_hl7::Quantity<'_>>) -> Option<RefQuantity> {
    q.map(|q| RefQuantity {
        value: q.value.map(f64::to_bits),
        raw: q.raw.to_string(),
        units: owned(q.units()),
        plain: q.units_plain().map(str::to_owned),
    })
}

/// Field values that exercise every path: plain, escaped, repeated, not UTF-8, numbers the
/// fast path and `str::parse` read, coded fields in either triplet order.
const VALUES: &[&[u8]] = &[
    b"",
    b"250",
    b" 14.4 ",
    b"-0",
    b"1e5",
    b"250~300",
    b"1234567890123456.5",
    b"00000000000000000012",
    b"mL^mL^UCUM",
    b"mL^mL^UCUM^",
    b"265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM",
    b"U\\S\\h^units \\T\\ more^UCUM",
    b"\xb5g/h^\xb5g/h^UCUM",
    b"69986^MDC_DEV_PUMP_INFUS_VMD^MDC",
    b"^^^69986",
    b"x^MDC_DEV_PUMP_INFUS_VMD",
    b"6998\\X36\\^x",
    b"68063^MDC_ATTR_PT_WEIGHT^MDC",
    b"^^^^MDC_ATTR_PT_WEIGHT",
    b"PUMP-1^EGH",
    b"P\\F\\1",
    b"RE",
    b"CH",
    b"X\\T\\O",
    b"ICU^101~NICU",
    b"caf\xc3\xa9^\xe9",
];

fn value() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(VALUES)
}

/// A segment `id` with the given fields set (1-based), others empty.
fn segment(id: &str, fields: &[(usize, &[u8])]) -> Vec<u8> {
    let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut out = id.as_bytes().to_vec();
    for n in 1..=last {
        out.push(b'|');
        if let Some((_, v)) = fields.iter().find(|(k, _)| *k == n) {
            out.extend_from_slice(v);
        }
    }
    out
}

prop_compose! {
    fn group()(
        orc in prop::collection::vec(value(), 4),
        rxg in prop::collection::vec(value(), 9),
        obx in prop::collection::vec(prop::collection::vec(value(), 4), 0..4),
    ) -> Vec<Vec<u8>> {
        let mut out = vec![
            segment("ORC", &[(1, orc[0]), (2, orc[1]), (8, orc[2]), (9, orc[3])]),
            segment("RXG", &[
                (1, b"1"), (4, rxg[0]), (5, rxg[1]), (7, rxg[2]), (15, rxg[3]), (16, rxg[4]),
                (17, rxg[5]), (18, rxg[6]), (23, rxg[7]), (24, rxg[8]),
            ]),
        ];
        for (i, o) in obx.iter().enumerate() {
            let set_id = (i + 1).to_string();
            out.push(segment("OBX", &[
                (1, set_id.as_bytes()), (2, b"NM"), (3, o[0]), (5, o[1]), (6, o[2]), (18, o[3]),
            ]));
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn reader_reads_what_the_general_accessors_read(
        pid in value(),
        pv1 in value(),
        groups in prop::collection::vec(group(), 1..3),
        known_pump in any::<bool>(),
    ) {
        let mut segments = vec![
            b"MSH|^~\\&|A|B|C|D|20261129||RGV^O15^RGV_O15|1|P|2.6".to_vec(),
            segment("PID", &[(3, pid)]),
            segment("PV1", &[(3, pv1)]),
        ];
        for g in groups {
            segments.extend(g);
        }
        if known_pump {
            // Make sure the common case (one pump row per group) is reached too.
            segments.push(segment("OBX", &[(3, VALUES[13]), (18, b"PUMP-9")]));
        }
        let raw = segments.join(&b'\r');
        let msg = Message::parse(&raw, &ParseLimits::default()).unwrap();
        match read_infusion_orders(&msg) {
            Ok(read) => {
                let (patient, care_area, orders) = reference(&msg);
                prop_assert_eq!(read.patient_id.as_deref(), patient.as_deref());
                prop_assert_eq!(read.care_area.as_deref(), care_area.as_deref());
                prop_assert_eq!(read.orders.len(), orders.len());
                for (o, r) in read.orders.iter().zip(&orders) {
                    prop_assert_eq!(&o.order_control, &r.control);
                    prop_assert_eq!(o.placer_order_number.as_deref(), r.placer.as_deref());
                    prop_assert_eq!(o.parent_order.as_deref(), r.parent.as_deref());
                    prop_assert_eq!(o.order_time.as_deref(), r.time.as_deref());
                    prop_assert_eq!(&owned(o.drug.clone()), &r.drug);
                    let quantities = [&o.vtbi, &o.rate, &o.strength, &o.diluent_volume]
                        .map(|q| read_quantity(q.as_ref()));
                    prop_assert_eq!(&quantities, &r.quantities);
                    prop_assert_eq!(o.pump_id.as_deref(), r.pump_id.as_deref());
                    prop_assert_eq!(o.pump_id_rows, r.pump_id_rows);
                    prop_assert_eq!(read_quantity(o.patient_weight.as_ref()), r.weight.clone());
                }
            }
            Err(e) => prop_assert!(matches!(e, Pcd03Error::SegmentOrder { .. } | Pcd03Error::MissingRxg { .. }), "{e}"),
        }
    }
}
