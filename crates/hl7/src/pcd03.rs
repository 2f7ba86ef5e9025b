//! IHE PCD-03 "Communicate Infusion Order" view of an `RGV^O15` message (IHE PCD TF-2 §3.3;
//! structure MSH, PID, [PV1], then per order ORC, RXG, [TQ1], RXR, OBX+).

use std::borrow::Cow;

mod raw;

use crate::message::Located;
use crate::segment::find_byte;
use crate::{Delimiters, Field, Message, Value};
use raw::{
    Fields, Raw, before, coded, first_text, observation_is, plain_components, text_of, unescaped,
};

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
        // Compared on the decoded bytes: only an unknown code is turned into a `String`.
        let decoded = v.map(|v| v.decoded());
        match decoded.as_deref().unwrap_or_default() {
            b"RE" => OrderControl::New,
            b"XO" => OrderControl::Change,
            b"CH" => OrderControl::Bolus,
            other => OrderControl::Other(crate::value::bytes_to_text(other)),
        }
    }
}

/// A coded element (CWE) as decoded text: identifier, text, coding system and the alternate
/// triplet (components 1-6), in the order given by the sender.
///
/// Equality compares the six components only.
#[derive(Debug, Clone, Default)]
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
    /// The first repetition as sent, when the components above are exactly its pieces split
    /// on `^` (nothing decoded): lets a reader look the whole field up at once. Private, so it
    /// can only come from the message the components were read from.
    plain: Option<&'a str>,
}

impl PartialEq for Coded<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.components() == other.components()
    }
}

impl Eq for Coded<'_> {}

impl<'a> Coded<'a> {
    /// A coded element with these components 1-6 (e.g. for tests and for values that did not
    /// come from a message).
    pub fn from_components(components: [Cow<'a, str>; 6]) -> Self {
        let [
            identifier,
            text,
            system,
            alt_identifier,
            alt_text,
            alt_system,
        ] = components;
        Coded {
            identifier,
            text,
            system,
            alt_identifier,
            alt_text,
            alt_system,
            plain: None,
        }
    }

    /// Components 1-6, in order.
    pub fn components(&self) -> [&str; 6] {
        [
            &self.identifier,
            &self.text,
            &self.system,
            &self.alt_identifier,
            &self.alt_text,
            &self.alt_system,
        ]
    }

    /// The first repetition of the field as sent, when it needed no decoding and its
    /// components are separated by `^`: then splitting it on `^` gives components 1-6
    /// (followed by any further components, which are not read).
    pub fn plain(&self) -> Option<&'a str> {
        self.plain
    }

    /// The components of plain text `rep` split on `sep`, borrowed.
    fn from_plain(rep: &'a str, sep: Option<u8>) -> Self {
        let mut coded = Coded::from_components(plain_components(rep, sep).map(Cow::Borrowed));
        coded.plain = (sep == Some(b'^')).then_some(rep);
        coded
    }

    /// Read components 1-6 of the first repetition of a field.
    pub fn from_field(field: Option<Field<'a>>) -> Self {
        let Some(rep) = field.and_then(|f| f.repetition(1)) else {
            return Coded::default();
        };
        if let Some((text, sep)) = rep.plain_text() {
            // Nothing to decode (the usual case): borrow each component as it is.
            return Coded::from_plain(text, sep);
        }
        // One pass over the components: a coded field is read for every unit and code.
        let mut parts: [Cow<'a, str>; 6] = Default::default();
        for (slot, comp) in parts.iter_mut().zip(rep.components()) {
            *slot = comp.value().text();
        }
        Coded::from_components(parts)
    }

    /// True when every component is empty.
    pub fn is_empty(&self) -> bool {
        self.components().iter().all(|c| c.is_empty())
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
///
/// The units field is kept as sent and read on demand ([`Quantity::units`]): a rule usually
/// resolves it whole from [`Quantity::units_plain`] without splitting it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity<'a> {
    /// The number; `None` when the field is present but not an NM (e.g. repeated or text).
    pub value: Option<f64>,
    /// The decoded text of the whole value field.
    pub raw: Cow<'a, str>,
    /// The units field as sent.
    units: Field<'a>,
    /// Its first repetition, when that is plain text split by `^` (see [`Coded::plain`]).
    units_plain: Option<&'a str>,
}

impl<'a> Quantity<'a> {
    /// From the raw value field (all repetitions, so a hidden second value makes it not a
    /// number) and the raw units field; `None` when the value field is empty.
    fn from_raw(value: Raw<'a>, units: Raw<'a>, delims: &Delimiters) -> Option<Self> {
        if value.bytes().is_empty() {
            return None;
        }
        // Decoded once: a text that is not UTF-8 has non-ASCII bytes and is no number either
        // way, so parsing the text is parsing the decoded bytes.
        let raw = text_of(value, delims);
        // What `Coded::plain` of the units field is, without splitting it.
        let units_plain = match units {
            _ if delims.component != b'^' => None,
            Raw::Text(t) => {
                before(t, delims.repetition).filter(|r| unescaped(r.as_bytes(), delims))
            }
            Raw::Bytes(b) => {
                let rep = match find_byte(delims.repetition, b) {
                    Some(end) => b.get(..end).unwrap_or_default(),
                    None => b,
                };
                core::str::from_utf8(rep)
                    .ok()
                    .filter(|r| unescaped(r.as_bytes(), delims))
            }
        };
        Some(Quantity {
            value: crate::number::parse_nm(raw.as_bytes()),
            raw,
            units: units.field(delims),
            units_plain,
        })
    }

    /// The units field (components 1-6 of its first repetition, decoded).
    pub fn units(&self) -> Coded<'a> {
        Coded::from_field(Some(self.units))
    }

    /// The units field's first repetition as sent, when it needed no decoding and its
    /// components are separated by `^` (then it equals [`Coded::plain`] of [`Quantity::units`]).
    pub fn units_plain(&self) -> Option<&'a str> {
        self.units_plain
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

/// An order group being read.
struct Group<'m, 'a> {
    orc: Located<'m, 'a>,
    rxg: Option<Located<'m, 'a>>,
    pump_id: Option<Cow<'a, str>>,
    pump_id_rows: usize,
    weight: Option<Quantity<'a>>,
}

fn finish<'a>(
    group: Group<'_, 'a>,
    number: usize,
    text: Option<(usize, &'a str)>,
    d: &Delimiters,
) -> Result<InfusionOrder<'a>, Pcd03Error> {
    let rxg = group.rxg.ok_or(Pcd03Error::MissingRxg { order: number })?;
    // Only the fields read, each located from the recorded separators.
    let (rxg, orc) = (
        Fields::new(rxg, text, d, false),
        Fields::new(group.orc, text, d, false),
    );
    let [give_code, amount, amount_units] = [4, 5, 7].map(|n| rxg.get(n));
    let [rate, rate_units, strength, strength_units] = [15, 16, 17, 18].map(|n| rxg.get(n));
    let [volume, volume_units] = [23, 24].map(|n| rxg.get(n));
    let [control, placer, parent, time] = [1, 2, 8, 9].map(|n| orc.get(n));
    Ok(InfusionOrder {
        order_control: OrderControl::from_value(Some(Value::new(control.bytes(), *d))),
        placer_order_number: first_text(placer, d),
        parent_order: first_text(parent, d),
        order_time: first_text(time, d),
        drug: coded(give_code, d),
        vtbi: Quantity::from_raw(amount, amount_units, d),
        rate: Quantity::from_raw(rate, rate_units, d),
        strength: Quantity::from_raw(strength, strength_units, d),
        diluent_volume: Quantity::from_raw(volume, volume_units, d),
        pump_id: group.pump_id,
        pump_id_rows: group.pump_id_rows,
        patient_weight: group.weight,
    })
}

/// Read the orders of a PCD-03 `RGV^O15` message (at most [`MAX_ORDERS`]).
pub fn read_infusion_orders<'a>(msg: &Message<'a>) -> Result<InfusionOrderMessage<'a>, Pcd03Error> {
    // MSH-9 found from the recorded separators, then its first two components.
    let kind = msg.field_at(0, 9).and_then(|f| f.repetition(1));
    let component = |n| kind.and_then(|r| r.component(n)).map(|c| c.value());
    let is = |v: Option<Value<'_>>, s: &[u8]| v.is_some_and(|v| v.decoded().as_ref() == s);
    if !(is(component(1), b"RGV") && is(component(2), b"O15")) {
        return Err(Pcd03Error::NotRgvO15);
    }
    let mut delims = msg.delimiters();
    // Usually no escape character follows MSH-2 (the parse checked): then nothing decodes to
    // anything but itself, and reading with no escape character declared skips every search
    // for one.
    if !msg.has_escapes() {
        delims.escape = None;
    }
    // The message after MSH (the segments read as text) validated as UTF-8 once, rather
    // than segment by segment.
    let text_start = msg.located(1).map_or(msg.raw().len(), |s| s.start());
    let text = msg
        .raw()
        .get(text_start..)
        .and_then(|rest| core::str::from_utf8(rest).ok())
        .filter(|_| raw::ascii_separators(&delims))
        .map(|t| (text_start, t));
    let mut patient_id = None;
    let mut care_area = None;
    let (mut seen_pid, mut seen_pv1) = (false, false);
    // One order is the usual message: room for exactly one (a small allocation), growing
    // for more.
    let mut orders: Vec<InfusionOrder<'a>> = Vec::with_capacity(1);
    let mut current: Option<Group<'_, 'a>> = None;
    let mut first_weight: Option<Quantity<'a>> = None;

    for (index, seg) in (0..msg.segment_count()).filter_map(|i| Some((i, msg.located(i)?))) {
        let out_of_order = Pcd03Error::SegmentOrder { segment: index };
        match seg.id() {
            b"MSH" if index != 0 => return Err(out_of_order),
            b"PID" => {
                if seen_pid || current.is_some() {
                    return Err(out_of_order);
                }
                seen_pid = true;
                patient_id = first_text(Fields::new(seg, text, &delims, true).get(3), &delims);
            }
            b"PV1" => {
                if seen_pv1 || current.is_some() {
                    return Err(out_of_order);
                }
                seen_pv1 = true;
                care_area = first_text(Fields::new(seg, text, &delims, false).get(3), &delims);
            }
            b"ORC" => {
                if let Some(group) = current.take() {
                    orders.push(finish(group, orders.len() + 1, text, &delims)?);
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
                // OBX-3, -5 and -6 first; OBX-18 only for the (one) pump row. Only the
                // fields read as text are validated as UTF-8.
                let code = seg.field_raw(3);
                let obx = Fields::new(seg, text, &delims, true);
                if observation_is(code, &delims, MDC_DEV_PUMP_INFUS_VMD, PUMP_NAME) {
                    group.pump_id_rows += 1;
                    if group.pump_id.is_none() {
                        group.pump_id = first_text(obx.get(18), &delims);
                    }
                } else if observation_is(code, &delims, MDC_ATTR_PT_WEIGHT, WEIGHT_NAME) {
                    let weight = Quantity::from_raw(obx.get(5), obx.get(6), &delims);
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
    orders.push(finish(group, orders.len() + 1, text, &delims)?);
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
            let from_field = Coded::from_field(obx.field(3));
            let got = [
                &from_field.identifier,
                &from_field.text,
                &from_field.system,
                &from_field.alt_identifier,
                &from_field.alt_text,
                &from_field.alt_system,
            ]
            .map(|c| c.to_string());
            assert_eq!(
                got,
                reference(obx.field(3)),
                "{}",
                String::from_utf8_lossy(field)
            );
            let raw = obx.field(3).map(|f| f.raw()).unwrap_or_default();
            let d = Delimiters::default();
            let text = core::str::from_utf8(raw).map(Raw::Text);
            assert_eq!(coded(text.unwrap_or(Raw::Bytes(raw)), &d), from_field);
            assert_eq!(coded(Raw::Bytes(raw), &d), from_field);
            let names = |code: &str, name: &str| {
                observation_is(raw, &d, code, name)
                    == Coded::from_field(obx.field(3)).names(code, name)
            };
            assert!(names("265266", "nothing"));
            assert!(names("nothing", "mL/h"));
            assert!(names("U^h", "x"));
            assert!(names("aA", "\\"));
        }
    }
}
