//! How rules decide: order, audit mode, sender conditions, and the drug library's conversions.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use wardgate_hl7::{Message, ParseLimits};
use wardgate_rules::{CertIdentity, RuleSet, RuleSource, Sender, Verdict, compile};

const LIBRARY: &str = include_str!("../../../rules/pcd03/drug-library.toml");

fn rules(policy: &str) -> RuleSet {
    let sources = [
        RuleSource {
            name: Arc::from("policy.toml"),
            text: policy.to_owned(),
            dir: None,
        },
        RuleSource {
            name: Arc::from("drug-library.toml"),
            text: LIBRARY.to_owned(),
            dir: None,
        },
    ];
    compile(&sources).unwrap_or_else(|e| panic!("{e}"))
}

fn ehr() -> Sender {
    Sender {
        address: [10, 20, 30, 40].into(),
        certificate: Some(CertIdentity {
            common_name: Some("ehr-bcma.egh.example".into()),
            alt_names: vec!["ehr-bcma.egh.example".into(), "10.20.30.40".into()],
        }),
    }
}

/// A PCD-03 order for heparin in the ICU with the given rate field (RXG-15 and RXG-16), weight row
/// and VTBI.
fn heparin(rate: &str, units: &str, weight: Option<&str>, vtbi: &str) -> Vec<u8> {
    let weight = weight
        .map(|w| format!("OBX|2|NM|68063^MDC_ATTR_PT_WEIGHT^MDC||{w}|kg^kg^UCUM\r"))
        .unwrap_or_default();
    format!(
        "MSH|^~\\&|EHR_BCMA|EGH_NORTH|PUMP_GW|EGH_NORTH|20261129081500||RGV^O15^RGV_O15|T1|P|2.6\r\
         PID|||MRN1\r\
         PV1||I|ICU^1^A\r\
         ORC|RE|ORD-1|||||||20261129081400\r\
         RXG|1|||HEP100^Heparin 25000 units/250 mL^EGHDL|{vtbi}||mL^mL^UCUM||||||||{rate}|{units}|25000|U^U^UCUM|||||250|mL^mL^UCUM\r\
         RXR|IV\r\
         OBX|1|ST|69986^MDC_DEV_PUMP_INFUS_VMD^MDC|||||||||||||||PUMP-1\r\
         {weight}"
    )
    .into_bytes()
}

fn judge(set: &RuleSet, msg: &[u8], sender: &Sender) -> Verdict {
    let msg = Message::parse(msg, &ParseLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    set.evaluate_hl7(&msg, sender)
}

const ALLOW_EHR: &str = r#"
[[rule]]
id = "orders"
description = "orders from the EHR"
message = "RGV^O15"
action = "allow"
drug_library = true
[rule.sender]
cert_cn = ["ehr-bcma.egh.example"]
"#;

fn denial_code(v: &Verdict) -> Option<u16> {
    match v {
        Verdict::Deny(d) => d.application_code,
        Verdict::Permit(_) => None,
    }
}

#[test]
fn ml_per_minute_is_converted_before_comparing() {
    let set = rules(ALLOW_EHR);
    // 0.5 mL/min = 30 mL/h: at the soft maximum, allowed; 1 mL/min = 60 mL/h: above the hard max.
    let ok = judge(
        &set,
        &heparin("0.25", "mL/min^mL/min^UCUM", Some("80"), "250"),
        &ehr(),
    );
    assert!(ok.forwards(), "{ok}");
    let slip = judge(
        &set,
        &heparin("1", "mL/min^mL/min^UCUM", Some("80"), "250"),
        &ehr(),
    );
    assert_eq!(denial_code(&slip), Some(9024), "{slip}");
    assert!(slip.to_string().contains("60 mL/h"), "{slip}");
}

#[test]
fn a_per_kg_dose_rate_without_a_weight_is_refused_not_compared_raw() {
    let set = rules(ALLOW_EHR);
    let v = judge(
        &set,
        &heparin("18", "U/kg/h^U/kg/h^UCUM", None, "250"),
        &ehr(),
    );
    assert_eq!(denial_code(&v), Some(9009), "{v}");
}

#[test]
fn a_volume_rate_is_also_checked_as_a_dose_rate_through_the_concentration() {
    let set = rules(ALLOW_EHR);
    // 45 mL/h is under the 50 mL/h hard max, but 45 * 100 U/mL / 40 kg = 112.5 U/kg/h is far above
    // the 40 U/kg/h dose-rate hard max for a small patient.
    let v = judge(
        &set,
        &heparin("45", "mL/h^mL/h^UCUM", Some("40"), "250"),
        &ehr(),
    );
    assert_eq!(denial_code(&v), Some(9024), "{v}");
    assert!(v.to_string().contains("dose rate"), "{v}");
}

#[test]
fn weight_in_pounds_is_converted() {
    let set = rules(ALLOW_EHR);
    let msg = heparin("18", "U/kg/h^U/kg/h^UCUM", None, "250");
    let mut msg = String::from_utf8(msg).unwrap();
    msg.push_str("OBX|2|NM|68063^MDC_ATTR_PT_WEIGHT^MDC||176|[lb_av]^lb^UCUM\r");
    let v = judge(&set, msg.as_bytes(), &ehr());
    assert!(v.forwards(), "{v}");
}

#[test]
fn a_dose_in_a_rate_field_is_refused() {
    let set = rules(ALLOW_EHR);
    let v = judge(
        &set,
        &heparin("1400", "U^U^UCUM", Some("80"), "250"),
        &ehr(),
    );
    assert_eq!(denial_code(&v), Some(9009), "{v}");
}

#[test]
fn units_hidden_behind_a_disagreeing_display_triplet_are_refused() {
    let set = rules(ALLOW_EHR);
    let v = judge(
        &set,
        &heparin(
            "14",
            "mL/min^mL/min^UCUM^265266^MDC_DIM_MILLI_L_PER_HR^MDC",
            Some("80"),
            "250",
        ),
        &ehr(),
    );
    assert_eq!(denial_code(&v), Some(9009), "{v}");
}

#[test]
fn vtbi_above_the_hard_maximum_is_refused() {
    let set = rules(ALLOW_EHR);
    let v = judge(
        &set,
        &heparin("14", "mL/h^mL/h^UCUM", Some("80"), "750"),
        &ehr(),
    );
    assert_eq!(denial_code(&v), Some(9024), "{v}");
    assert!(v.to_string().contains("VTBI"), "{v}");
}

#[test]
fn audit_mode_rules_record_and_evaluation_goes_on() {
    let policy = format!(
        r#"
[[rule]]
id = "watch-high-rates"
description = "rates above 10 mL/h are being reviewed"
message = "RGV^O15"
action = "deny"
mode = "audit"
[[rule.field]]
path = "RXG-15"
min = 10
{ALLOW_EHR}"#
    );
    let set = rules(&policy);
    let v = judge(
        &set,
        &heparin("14", "mL/h^mL/h^UCUM", Some("80"), "250"),
        &ehr(),
    );
    match &v {
        Verdict::Permit(p) => {
            assert_eq!(p.rule.as_deref(), Some("orders"));
            assert_eq!(p.audit.len(), 1);
            assert_eq!(&*p.audit[0].rule, "watch-high-rates");
        }
        Verdict::Deny(_) => panic!("audit mode must not refuse: {v}"),
    }
    assert_eq!(v.label(), "audit-deny");
    let low = judge(
        &set,
        &heparin("5", "mL/h^mL/h^UCUM", Some("80"), "250"),
        &ehr(),
    );
    assert_eq!(low.label(), "allow");
}

#[test]
fn sender_conditions_cover_address_and_san() {
    let set = rules(
        r#"
[policy]
default = "deny"
[[rule]]
id = "by-san-and-subnet"
description = "the EHR by certificate SAN, from its subnet"
action = "allow"
[rule.sender]
cert_san = ["EHR-BCMA.egh.example"]
address = { one_of = ["10.20.0.0/16"], not_one_of = ["10.20.99.0/24"] }
"#,
    );
    let msg = heparin("5", "mL/h^mL/h^UCUM", Some("80"), "250");
    assert!(judge(&set, &msg, &ehr()).forwards());
    let mut elsewhere = ehr();
    elsewhere.address = [10, 20, 99, 1].into();
    let v = judge(&set, &msg, &elsewhere);
    assert_eq!(v.rule(), Some("default"), "{v}");
    let anonymous = Sender::from_address([10, 20, 30, 40].into());
    assert!(!judge(&set, &msg, &anonymous).forwards());
}

#[test]
fn default_allow_permits_unmatched_messages() {
    let set = rules("[policy]\ndefault = \"allow\"\n");
    let v = judge(
        &set,
        &heparin("5", "mL/h^mL/h^UCUM", Some("80"), "250"),
        &ehr(),
    );
    match v {
        Verdict::Permit(p) => assert!(p.rule.is_none()),
        Verdict::Deny(d) => panic!("{d:?}"),
    }
}

#[test]
fn escaped_values_are_compared_decoded() {
    let set = rules(
        r#"
[[rule]]
id = "no-test-facility"
description = "the test facility must never program pumps"
action = "deny"
[rule.sender]
sending_facility = ["TEST|LAB"]
"#,
    );
    let msg = b"MSH|^~\\&|EHR|TEST\\F\\LAB|GW|F|20261129||ADT^A01|1|P|2.5\r";
    let v = judge(&set, msg, &ehr());
    assert_eq!(v.rule(), Some("no-test-facility"), "{v}");
}

#[test]
fn a_weight_without_units_is_refused() {
    let set = rules(ALLOW_EHR);
    let mut msg = String::from_utf8(heparin("14", "mL/h^mL/h^UCUM", None, "250")).unwrap();
    msg.push_str("OBX|2|NM|68063^MDC_ATTR_PT_WEIGHT^MDC||80\r");
    let v = judge(&set, msg.as_bytes(), &ehr());
    assert_eq!(denial_code(&v), Some(9009), "{v}");
}

const STALE_POLICY: &str = r#"
[policy]
max_order_age = "30m"
local_time_offset = "-05:00"

[[rule]]
id = "orders"
description = "orders from the EHR"
message = "RGV^O15"
action = "allow"
drug_library = true
"#;

#[test]
fn an_order_older_than_the_policy_allows_is_refused_as_stale() {
    let set = rules(STALE_POLICY);
    let msg = heparin("14", "mL/h^mL/h^UCUM", Some("80"), "250");
    let parsed = Message::parse(&msg, &ParseLimits::default()).unwrap();
    // ORC-9 is 08:14 local time (-05:00), i.e. 13:14 UTC.
    let at = |iso_utc_ms: i64| set.evaluate_hl7_at(&parsed, &ehr(), Some(iso_utc_ms));
    let order_utc = wardgate_rules::time::parse_hl7_ts("20261129131400+0000", 0).unwrap();
    assert!(at(order_utc + 10 * 60_000).forwards());
    let late = at(order_utc + 45 * 60_000);
    assert_eq!(denial_code(&late), Some(9022), "{late}");
    assert!(late.to_string().contains("45 min old"), "{late}");
    // Without a clock, the message's own MSH-7 (one minute after the order) is "now".
    assert!(set.evaluate_hl7(&parsed, &ehr()).forwards());
}

#[test]
fn an_order_without_a_readable_time_fails_closed_when_age_is_checked() {
    let set = rules(STALE_POLICY);
    let msg = String::from_utf8(heparin("14", "mL/h^mL/h^UCUM", Some("80"), "250"))
        .unwrap()
        .replace("|20261129081400\r", "|yesterday\r");
    let v = judge(&set, msg.as_bytes(), &ehr());
    assert_eq!(denial_code(&v), Some(9022), "{v}");
}
