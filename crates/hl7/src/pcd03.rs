//! IHE PCD-03 "Communicate Infusion Order" view of an `RGV^O15` message (IHE PCD TF-2 §3.3;
//! structure MSH, PID, [PV1], then per order ORC, RXG, [TQ1], RXR, OBX+).

use std::borrow::Cow;

use crate::{Field, Message, Segment, Value};

/// MSH-21 message profile of PCD-03.
pub const PCD03_PROFILE_OID: &str = "1.3.6.1.4.1.19376.1.6.1.3.1";
/// MDC code of the infusion pump VMD (OBX-3.1 of the pump id row).
pub const MDC_DEV_PUMP_INFUS_VMD: &str = "69986";
/// MDC code of patient weight (OBX-3.1 of the weight row).
pub const MDC_ATTR_PT_WEIGHT: &str = "68063";
/// Most order groups accepted in one message.
pub const MAX_ORDERS: usize = 32;

const PUMP_NAME: &str = "MDC_DEV_PUMP_INFUS_VMD";
const WEIGHT_NAME: &str = "MDC_ATTR_PT_WEIGHT";

/// ORC-1 order control, with unknown codes kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderControl {
    /// `RE`: program a new infusion.
    New,
    /// `XO`: change rate or dose of the running infusion.
    Change,
    /// `CH`: bolus from an existing infusion (ORC-8 names the parent order).
    Bolus,
    /// Any other code, decoded text.
    Other(String),
}

impl OrderControl {
    fn from_value(v: Option<Value<'_>>) -> Self {
        let text = v.map(|v| v.to_text()).unwrap_or_default();
        match text.as_str() {
            "RE" => OrderControl::New,
            "XO" => OrderControl::Change,
            "CH" => OrderControl::Bolus,
            _ => OrderControl::Other(text),
        }
    }
}

/// A coded element (CWE) as decoded text: identifier, text, coding system and the alternate
/// triplet (components 1-6), in the order given by the sender.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coded<'a> {
    /// Component 1.
    pub identifier: Cow<'a, str>,
    /// Component 2.
    pub text: Cow<'a, str>,
    /// Component 3.
    pub system: Cow<'a, str>,
    /// Component 4.
    pub alt_identifier: Cow<'a, str>,
    /// Component 5.
    pub alt_text: Cow<'a, str>,
    /// Component 6.
    pub alt_system: Cow<'a, str>,
}

impl<'a> Coded<'a> {
    /// Read components 1-6 of the first repetition of a field.
    pub fn from_field(field: Option<Field<'a>>) -> Self {
        let Some(rep) = field.and_then(|f| f.repetition(1)) else {
            return Coded::default();
        };
        if let Some((text, sep)) = rep.plain_text() {
            // Nothing to decode (the usual case): borrow each component as it is.
            let mut comps = plain_components(text, sep);
            let mut next = || Cow::Borrowed(comps.next().unwrap_or(""));
            return Coded {
                identifier: next(),
                text: next(),
                system: next(),
                alt_identifier: next(),
                alt_text: next(),
                alt_system: next(),
            };
        }
        // One pass over the components: a coded field is read for every unit and code.
        let mut parts: [Cow<'a, str>; 6] = Default::default();
        for (slot, comp) in parts.iter_mut().zip(rep.components()) {
            *slot = comp.value().text();
        }
        let [
            identifier,
            text,
            system,
            alt_identifier,
            alt_text,
            alt_system,
        ] = parts;
        Coded {
            identifier,
            text,
            system,
            alt_identifier,
            alt_text,
            alt_system,
        }
    }

    /// True when every component is empty.
    pub fn is_empty(&self) -> bool {
        [
            &self.identifier,
            &self.text,
            &self.system,
            &self.alt_identifier,
            &self.alt_text,
            &self.alt_system,
        ]
        .iter()
        .all(|c| c.is_empty())
    }

    /// The `(identifier, text)` of whichever triplet names `system` (ASCII case ignored),
    /// e.g. `"MDC"` or `"UCUM"`, whether it comes first or second.
    pub fn triplet(&self, system: &str) -> Option<(&str, &str)> {
        if self.system.eq_ignore_ascii_case(system) {
            Some((&self.identifier, &self.text))
        } else if self.alt_system.eq_ignore_ascii_case(system) {
            Some((&self.alt_identifier, &self.alt_text))
        } else {
            None
        }
    }

    /// True when either triplet's identifier is `code` or its text is `name`.
    fn names(&self, code: &str, name: &str) -> bool {
        self.identifier == code
            || self.alt_identifier == code
            || self.text == name
            || self.alt_text == name
    }
}

/// A number with its units as given in the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity<'a> {
    /// The number; `None` when the field is present but not an NM (e.g. repeated or text).
    pub value: Option<f64>,
    /// The decoded text of the whole value field.
    pub raw: Cow<'a, str>,
    /// The units field.
    pub units: Coded<'a>,
}

impl<'a> Quantity<'a> {
    /// From the value field (all repetitions, so a hidden second value makes it not a number)
    /// and the units field; `None` when the value field is absent or empty.
    fn from_fields(value: Option<Field<'a>>, units: Option<Field<'a>>) -> Option<Self> {
        let value = value?.value();
        if value.is_empty() {
            return None;
        }
        // Decoded once: a text that is not UTF-8 has non-ASCII bytes and is no number either
        // way, so parsing the text is parsing the decoded bytes.
        let raw = value.text();
        Some(Quantity {
            value: crate::number::parse_nm(raw.as_bytes()),
            raw,
            units: Coded::from_field(units),
        })
    }
}

/// One order group (ORC and what follows it).
#[derive(Debug, Clone, PartialEq)]
pub struct InfusionOrder<'a> {
    /// ORC-1.
    pub order_control: OrderControl,
    /// ORC-2.1 placer order number.
    pub placer_order_number: Option<Cow<'a, str>>,
    /// ORC-8.1 parent order (for a `CH` bolus).
    pub parent_order: Option<Cow<'a, str>>,
    /// ORC-9.1 transaction time, raw TS text.
    pub order_time: Option<Cow<'a, str>>,
    /// RXG-4 give code.
    pub drug: Coded<'a>,
    /// RXG-5 give amount (VTBI) with RXG-7 units.
    pub vtbi: Option<Quantity<'a>>,
    /// RXG-15 give rate amount with RXG-16 units.
    pub rate: Option<Quantity<'a>>,
    /// RXG-17 give strength with RXG-18 units.
    pub strength: Option<Quantity<'a>>,
    /// RXG-23 give drug strength volume (diluent) with RXG-24 units.
    pub diluent_volume: Option<Quantity<'a>>,
    /// OBX-18.1 of the first pump id row (OBX-3 `69986^MDC_DEV_PUMP_INFUS_VMD`) in this group.
    pub pump_id: Option<Cow<'a, str>>,
    /// How many pump id rows the group had (PCD-03 requires exactly one).
    pub pump_id_rows: usize,
    /// OBX-5 with OBX-6 units of the weight row (OBX-3 `68063^MDC_ATTR_PT_WEIGHT`) in this
    /// group, or the first one elsewhere in the message.
    pub patient_weight: Option<Quantity<'a>>,
}

/// The PCD-03 content of an `RGV^O15` message.
#[derive(Debug, Clone, PartialEq)]
pub struct InfusionOrderMessage<'a> {
    /// PID-3.1 of the first repetition (exposed, but callers never log it).
    pub patient_id: Option<Cow<'a, str>>,
    /// PV1-3.1 point of care.
    pub care_area: Option<Cow<'a, str>>,
    /// The order groups, in message order.
    pub orders: Vec<InfusionOrder<'a>>,
}

/// The sender's message is not a usable PCD-03 infusion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Pcd03Error {
    /// MSH-9 is not `RGV^O15`.
    #[error("sender's message is not RGV^O15")]
    NotRgvO15,
    /// No ORC segment.
    #[error("sender's RGV^O15 has no order")]
    NoOrder,
    /// A segment out of place: RXG, RXR, TQ1 or OBX before any ORC, RXR or OBX before the
    /// group's RXG, a second RXG in a group, or a second MSH, PID or PV1.
    #[error("sender's RGV^O15 has segment {segment} out of order")]
    SegmentOrder {
        /// 0-based segment index.
        segment: usize,
    },
    /// More order groups than [`MAX_ORDERS`].
    #[error("sender's RGV^O15 has more than {limit} orders")]
    TooManyOrders {
        /// The limit.
        limit: usize,
    },
    /// An order group without RXG.
    #[error("sender's order {order} has no RXG")]
    MissingRxg {
        /// 1-based order group number.
        order: usize,
    },
}

/// The components of a repetition's plain text (see [`crate::Repetition`]'s `plain_text`).
fn plain_components(text: &str, sep: Option<u8>) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    core::iter::from_fn(move || {
        let current = rest?;
        let end = sep.and_then(|sep| crate::segment::find_byte(sep, current.as_bytes()));
        match end {
            Some(i) => {
                // `sep` is ASCII, so both sides of it are on character boundaries.
                rest = current.get(i + 1..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Whether OBX-3 names the observation `code` / `name` (either triplet). Compared on the raw
/// components when nothing needs decoding: every OBX of every order is tested this way.
fn observation_is(field: Option<Field<'_>>, code: &str, name: &str) -> bool {
    let plain = field
        .and_then(|f| f.repetition(1))
        .and_then(|rep| rep.plain_text());
    match plain {
        Some((text, sep)) => {
            plain_components(text, sep)
                .take(5)
                .enumerate()
                .any(|(i, c)| match i {
                    0 | 3 => c == code,
                    1 | 4 => c == name,
                    _ => false,
                })
        }
        None => Coded::from_field(field).names(code, name),
    }
}

fn text_of<'a>(seg: &Segment<'a>, field: usize, comp: usize) -> Option<Cow<'a, str>> {
    text_of_field(seg.field(field), comp)
}

fn text_of_field(field: Option<Field<'_>>, comp: usize) -> Option<Cow<'_, str>> {
    let v = field?.component(comp)?.value();
    (!v.is_empty()).then(|| v.text())
}

/// Field `n` (1-based) of fields read with [`Segment::first_fields`].
fn nth<'a, const N: usize>(fields: &[Option<Field<'a>>; N], n: usize) -> Option<Field<'a>> {
    n.checked_sub(1)
        .and_then(|i| fields.get(i).copied().flatten())
}

/// An order group being read.
struct Group<'a> {
    orc: Segment<'a>,
    rxg: Option<Segment<'a>>,
    pump_id: Option<Cow<'a, str>>,
    pump_id_rows: usize,
    weight: Option<Quantity<'a>>,
}

fn finish(group: Group<'_>, number: usize) -> Result<InfusionOrder<'_>, Pcd03Error> {
    let rxg = group.rxg.ok_or(Pcd03Error::MissingRxg { order: number })?;
    // RXG fields 1..=24 and ORC 1..=9 in one pass each instead of a scan per field.
    let rxg_fields = rxg.first_fields::<24>();
    let f = |n: usize| nth(&rxg_fields, n);
    let orc = group.orc.first_fields::<9>();
    Ok(InfusionOrder {
        order_control: OrderControl::from_value(nth(&orc, 1).map(|f| f.value())),
        placer_order_number: text_of_field(nth(&orc, 2), 1),
        parent_order: text_of_field(nth(&orc, 8), 1),
        order_time: text_of_field(nth(&orc, 9), 1),
        drug: Coded::from_field(f(4)),
        vtbi: Quantity::from_fields(f(5), f(7)),
        rate: Quantity::from_fields(f(15), f(16)),
        strength: Quantity::from_fields(f(17), f(18)),
        diluent_volume: Quantity::from_fields(f(23), f(24)),
        pump_id: group.pump_id,
        pump_id_rows: group.pump_id_rows,
        patient_weight: group.weight,
    })
}

/// Read the orders of a PCD-03 `RGV^O15` message (at most [`MAX_ORDERS`]).
pub fn read_infusion_orders<'a>(msg: &Message<'a>) -> Result<InfusionOrderMessage<'a>, Pcd03Error> {
    // MSH-9 scanned for once, then its first two components.
    let kind = msg
        .header()
        .segment()
        .field(9)
        .and_then(|f| f.repetition(1));
    let component = |n| kind.and_then(|r| r.component(n)).map(|c| c.value());
    let is = |v: Option<Value<'_>>, s: &[u8]| v.is_some_and(|v| v.decoded().as_ref() == s);
    if !(is(component(1), b"RGV") && is(component(2), b"O15")) {
        return Err(Pcd03Error::NotRgvO15);
    }
    let mut patient_id = None;
    let mut care_area = None;
    let (mut seen_pid, mut seen_pv1) = (false, false);
    let mut orders: Vec<InfusionOrder<'a>> = Vec::new();
    let mut current: Option<Group<'a>> = None;
    let mut first_weight: Option<Quantity<'a>> = None;

    for seg in msg.segments() {
        let index = seg.index();
        let out_of_order = Pcd03Error::SegmentOrder { segment: index };
        match seg.id() {
            b"MSH" if index != 0 => return Err(out_of_order),
            b"PID" => {
                if seen_pid || current.is_some() {
                    return Err(out_of_order);
                }
                seen_pid = true;
                patient_id = seg
                    .field(3)
                    .and_then(|f| f.component(1))
                    .map(|c| c.value())
                    .filter(|v| !v.is_empty())
                    .map(|v| v.text());
            }
            b"PV1" => {
                if seen_pv1 || current.is_some() {
                    return Err(out_of_order);
                }
                seen_pv1 = true;
                care_area = text_of(&seg, 3, 1);
            }
            b"ORC" => {
                if let Some(group) = current.take() {
                    orders.push(finish(group, orders.len() + 1)?);
                }
                if orders.len() >= MAX_ORDERS {
                    return Err(Pcd03Error::TooManyOrders { limit: MAX_ORDERS });
                }
                current = Some(Group {
                    orc: seg,
                    rxg: None,
                    pump_id: None,
                    pump_id_rows: 0,
                    weight: None,
                });
            }
            b"RXG" => match current.as_mut() {
                Some(group) if group.rxg.is_none() => group.rxg = Some(seg),
                _ => return Err(out_of_order),
            },
            b"TQ1" if current.is_none() => return Err(out_of_order),
            b"RXR" => match current.as_ref() {
                Some(group) if group.rxg.is_some() => {}
                _ => return Err(out_of_order),
            },
            b"OBX" => {
                let Some(group) = current.as_mut().filter(|g| g.rxg.is_some()) else {
                    return Err(out_of_order);
                };
                let obx = seg.first_fields::<18>();
                let code = nth(&obx, 3);
                if observation_is(code, MDC_DEV_PUMP_INFUS_VMD, PUMP_NAME) {
                    group.pump_id_rows += 1;
                    if group.pump_id.is_none() {
                        group.pump_id = text_of_field(nth(&obx, 18), 1);
                    }
                } else if observation_is(code, MDC_ATTR_PT_WEIGHT, WEIGHT_NAME) {
                    let weight = Quantity::from_fields(nth(&obx, 5), nth(&obx, 6));
                    if first_weight.is_none() {
                        first_weight.clone_from(&weight);
                    }
                    if group.weight.is_none() {
                        group.weight = weight;
                    }
                }
            }
            _ => {}
        }
    }
    let Some(group) = current else {
        return Err(Pcd03Error::NoOrder);
    };
    orders.push(finish(group, orders.len() + 1)?);
    for order in &mut orders {
        if order.patient_weight.is_none() {
            order.patient_weight.clone_from(&first_weight);
        }
    }
    Ok(InfusionOrderMessage {
        patient_id,
        care_area,
        orders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseLimits;

    /// Components 1-6 read one at a time through `Value::text`, the reference for the fast path.
    fn reference(field: Option<Field<'_>>) -> [String; 6] {
        let mut out: [String; 6] = Default::default();
        for (n, slot) in out.iter_mut().enumerate() {
            *slot = field
                .and_then(|f| f.component(n + 1))
                .map(|c| c.value().text().into_owned())
                .unwrap_or_default();
        }
        out
    }

    #[test]
    fn coded_fast_path_reads_what_value_text_reads() {
        let fields: [&[u8]; 8] = [
            b"265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM",
            b"mL^mL^UCUM",
            b"",
            b"^^^^^^^extra",
            b"U\\S\\h^units \\T\\ more^UCUM",
            b"\xb5g/h^\xb5g/h^UCUM",
            b"HEP100^Heparin 25000&sub^EGHDL~SECOND^rep",
            b"a\\X41\\^\\E\\^\\Q\\",
        ];
        for field in fields {
            let mut raw = b"MSH|^~\\&|A|B|C|D|20260101||RGV^O15|1|P|2.6\rOBX|1|CWE|".to_vec();
            raw.extend_from_slice(field);
            let msg = Message::parse(&raw, &ParseLimits::default()).unwrap();
            let obx = msg.segments().nth(1).unwrap();
            let coded = Coded::from_field(obx.field(3));
            let got = [
                &coded.identifier,
                &coded.text,
                &coded.system,
                &coded.alt_identifier,
                &coded.alt_text,
                &coded.alt_system,
            ]
            .map(|c| c.to_string());
            assert_eq!(
                got,
                reference(obx.field(3)),
                "{}",
                String::from_utf8_lossy(field)
            );
            let names = |code: &str, name: &str| {
                observation_is(obx.field(3), code, name)
                    == Coded::from_field(obx.field(3)).names(code, name)
            };
            assert!(names("265266", "nothing"));
            assert!(names("nothing", "mL/h"));
            assert!(names("U^h", "x"));
            assert!(names("aA", "\\"));
        }
    }
}
