//! Hand-written HL7 v2 fixtures shared by the integration tests.
#![allow(dead_code)]

/// Build a segment from (field number, raw value) pairs; unlisted fields are empty.
pub fn seg(id: &str, fields: &[(usize, &str)]) -> String {
    let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut out = String::from(id);
    for n in 1..=last {
        out.push('|');
        if let Some((_, v)) = fields.iter().find(|(k, _)| *k == n) {
            out.push_str(v);
        }
    }
    out
}

/// Join segments with CR, with a trailing CR.
pub fn msg(segments: &[String]) -> String {
    let mut out = segments.join("\r");
    out.push('\r');
    out
}

pub const MSH_RGV: &str = "MSH|^~\\&|BCMA^1.2.3^ISO|WARD3|PUMPGW|HOSP|20261129113000||RGV^O15^RGV_O15|MSG00001|P|2.6|||AL|NE||UNICODE UTF-8|||1.3.6.1.4.1.19376.1.6.1.3.1^IHE PCD^1.3.6.1.4.1.19376.1.6.1.3.1^ISO";

pub fn rxg_heparin() -> String {
    seg(
        "RXG",
        &[
            (1, "1"),
            (4, "0409-7620^Heparin 25000 units/250 mL^NDC"),
            (5, "250"),
            (7, "263762^MDC_DIM_MILLI_L^MDC"),
            (15, "18"),
            (16, "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM"),
            (17, "25000"),
            (18, "U^unit^UCUM"),
            (23, "250"),
            (24, "mL^milliliter^UCUM"),
        ],
    )
}

pub fn pump_obx(set_id: &str, pump: &str) -> String {
    seg(
        "OBX",
        &[
            (1, set_id),
            (2, "ST"),
            (3, "69986^MDC_DEV_PUMP_INFUS_VMD^MDC"),
            (4, "1.1.1.1"),
            (18, pump),
        ],
    )
}

pub fn weight_obx(set_id: &str, kg: &str) -> String {
    seg(
        "OBX",
        &[
            (1, set_id),
            (2, "NM"),
            (3, "68063^MDC_ATTR_PT_WEIGHT^MDC"),
            (4, "1.0.0.0"),
            (5, kg),
            (6, "263875^MDC_DIM_KILO_G^MDC^kg^kilogram^UCUM"),
            (11, "F"),
        ],
    )
}

/// A realistic IHE PCD-03 RGV^O15 (v2.6, MSH-21 profile): one heparin order.
pub fn rgv_o15() -> String {
    msg(&[
        MSH_RGV.to_string(),
        seg(
            "PID",
            &[
                (3, "MRN12345^^^HOSP^MR~ALT999^^^OTHER^PI"),
                (5, "DOE^JANE^^^^^L"),
                (7, "19700101"),
                (8, "F"),
            ],
        ),
        seg("PV1", &[(2, "I"), (3, "ICU^^^NORTH")]),
        seg(
            "ORC",
            &[(1, "RE"), (2, "ORD-1001^BCMA"), (9, "20261129112900")],
        ),
        rxg_heparin(),
        seg("RXR", &[(1, "IV^Intravenous^HL70162")]),
        weight_obx("1", "80"),
        pump_obx("2", "PUMP-0042^ACME^0012345678ABCDEF^EUI-64"),
    ])
}

/// ADT^A01 v2.3 admission.
pub fn adt_a01() -> String {
    msg(&[
        "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB, INC.|GOOD HEALTH HOSPITAL|198808181126|SECURITY|ADT^A01|MSG00001|P|2.3".to_string(),
        "EVN|A01|200708181123||".to_string(),
        "PID|1||PATID1234^5^M11^ADT1^MR^GOOD HEALTH HOSPITAL~123456789^^^USSSA^SS||EVERYMAN^ADAM^A^III||19610615|M||C|2222 HOME STREET^^GREENSBORO^NC^27401-1020|GL|(555) 555-2004|(555)555-2004||S||PATID12345001^2^M10^ADT1^AN^A|444333333|987654^NC|".to_string(),
        "NK1|1|NUCLEAR^NELDA^W|SPO^SPOUSE||||NK^NEXT OF KIN".to_string(),
        "PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A|||SUR||||ADM|A0|".to_string(),
        "AL1|1||^ASPIRIN&ASA~^PENICILLIN|MO".to_string(),
    ])
}

/// ORU^R01 v2.5.1 with OBX rows.
pub fn oru_r01() -> String {
    msg(&[
        "MSH|^~\\&|GHH LAB|ELAB-3|GHH OE|BLDG4|200202150930||ORU^R01^ORU_R01|CNTRL-3456|P|2.5.1".to_string(),
        "PID|||555-44-4444||EVERYWOMAN^EVE^E^^^^L|JONES|19620320|F|||153 FERNWOOD DR.^^STATESVILLE^OH^35292||(206)3345232|(206)752-121||||AC555444444||67-A4335^OH^20030520".to_string(),
        "OBR|1|845439^GHH OE|1045813^GHH LAB|15545^GLUCOSE|||200202150730|||||||||555-55-5555^PRIMARY^PATRICIA P^^^^MD^^^^^^^LEVEL SEVEN HEALTHCARE, INC.|||||||||F||||||444-44-4444^HIPPOCRATES^HOWARD H^^^^MD".to_string(),
        "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F".to_string(),
        "OBX|2|NM|2345-7^GLUCOSE^LN||5.4|mmol/L^millimole per liter^UCUM|3.9-5.5||||F|||20020215&0800".to_string(),
        "NTE|1||Comment with an escaped \\F\\ bar".to_string(),
    ])
}

/// An original mode ACK v2.4.
pub fn ack_aa() -> String {
    msg(&[
        "MSH|^~\\&|PUMPGW|HOSP|BCMA|WARD3|20261129113001||ACK^O15^ACK|ACK00001|P|2.6".to_string(),
        "MSA|CA|MSG00001".to_string(),
    ])
}

/// Property-test inputs shared by the parser's property and reference tests.
pub mod strategies {
    use proptest::prelude::*;

    /// `base` with up to `max_edits - 1` bytes replaced by bytes drawn from `byte`.
    pub fn mutated(
        base: Vec<u8>,
        byte: impl Strategy<Value = u8>,
        max_edits: usize,
    ) -> impl Strategy<Value = Vec<u8>> {
        let len = base.len();
        proptest::collection::vec((0..len, byte), 0..max_edits).prop_map(move |edits| {
            let mut raw = base.clone();
            for (i, b) in edits {
                if let Some(slot) = raw.get_mut(i) {
                    *slot = b;
                }
            }
            raw
        })
    }

    /// An `RGV^O15` MSH (with the v2.7 truncation character) and ORC, then an RXG whose body is
    /// up to `max_len - 1` bytes drawn from `alphabet`.
    pub fn rxg_soup(
        alphabet: impl Strategy<Value = u8>,
        max_len: usize,
    ) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(alphabet, 0..max_len).prop_map(|tail| {
            let mut raw = b"MSH|^~\\&#|A|B|C|D|1||RGV^O15|9|P|2.6\rORC|RE\rRXG|".to_vec();
            raw.extend(tail);
            raw
        })
    }
}
