#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The approved inventory and segmentation files: every problem reported at once, with position.

use std::sync::Arc;

use wardgate_rules::{Connection, RuleSource, compile};

fn source(name: &str, text: &str) -> RuleSource {
    RuleSource {
        name: Arc::from(name),
        text: text.to_owned(),
        dir: None,
    }
}

fn errors(sources: &[RuleSource]) -> Vec<String> {
    compile(sources)
        .expect_err("should not compile")
        .0
        .iter()
        .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
        .collect()
}

const DEVICES: &str = r#"[[device]]
id = "ehr"
kind = "ehr"
address = ["10.20.30.40"]
hl7_application = ["EHR_BCMA"]

[[device]]
id = "thermo"
kind = "thermometer"
group = "ward"
address = ["10.50.3.7"]
"#;

#[test]
fn every_inventory_problem_is_reported_at_once_with_its_position() {
    let bad = r#"[[device]]
id = "ehr2"
kind = "ehrr"
adress = ["10.1.1.1"]
address = ["10.20.30.0/24"]
hl7_application = ["EHR_BCMA"]
[[device]]
id = "lonely"
kind = "other"
hl7_facility = ["EGH_NORTH"]
[[device]]
id = "thermo"
kind = "other"
address = ["10.9.9.9"]
"#;
    let errs = errors(&[source("devices.toml", DEVICES), source("more.toml", bad)]);
    let all = errs.join("\n");
    for want in [
        "more.toml:11:1: duplicate device id `thermo`",
        "more.toml:3:8: unknown device kind `ehrr`",
        "more.toml:4:1: unknown key `adress` in [[device]]",
        "more.toml:6:20: `hl7_application` \"EHR_BCMA\" is claimed by device `ehr` too",
        "`hl7_facility` without `hl7_application`",
        "lies inside the network of device",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
}

#[test]
fn rules_and_flows_must_name_devices_and_groups_that_exist() {
    let rules = r#"[[rule]]
id = "r"
description = "d"
action = "allow"
[rule.sender]
device_group = ["wrad"]

[[flow]]
id = "f"
description = "d"
from = { device = ["thermometer"] }
to = { address = ["10.20.0.0/16"] }
"#;
    let all = errors(&[source("devices.toml", DEVICES), source("p.toml", rules)]).join("\n");
    assert!(all.contains("p.toml:6:17: unknown group `wrad`"), "{all}");
    assert!(
        all.contains("p.toml:11:20: unknown device `thermometer`"),
        "{all}"
    );
    let alone = errors(&[source("p.toml", "[[rule]]\nid = \"r\"\ndescription = \"d\"\naction = \"deny\"\n[rule.sender]\ndevice_known = false\n")]).join("\n");
    assert!(alone.contains("needs the approved inventory"), "{alone}");
}

#[test]
fn a_known_sender_is_resolved_from_address_and_msh3() {
    let rules = r#"[[rule]]
id = "unknown"
description = "not in the approved inventory"
action = "deny"
[rule.sender]
device_known = false
[[rule]]
id = "known"
description = "d"
action = "allow"
[rule.sender]
device = ["ehr"]
"#;
    let set = compile(&[source("devices.toml", DEVICES), source("p.toml", rules)]).unwrap();
    let msg = b"MSH|^~\\&|EHR_BCMA|EGH|GW|EGH|20261129081500||ADT^A01|1|P|2.6\r";
    let msg = wardgate_hl7::Message::parse(msg, &Default::default()).unwrap();
    let from = |ip: &str| wardgate_rules::Sender::from_address(ip.parse().unwrap());
    assert_eq!(
        set.evaluate_hl7(&msg, &from("10.20.30.40")).rule(),
        Some("known")
    );
    let spoofed = set.evaluate_hl7(&msg, &from("10.99.0.1"));
    assert_eq!(spoofed.rule(), Some("unknown"));
    assert!(
        spoofed
            .to_string()
            .contains("not in the approved inventory")
    );
}

#[test]
fn segmentation_refuses_what_no_flow_allows_and_says_why() {
    let policy = r#"[segmentation]
mode = "audit"
[[flow]]
id = "ward-to-ehr"
description = "d"
from = { group = ["ward"] }
to = { device = ["ehr"] }
ports = [2575]
protocols = ["hl7"]
"#;
    let set = compile(&[source("devices.toml", DEVICES), source("s.toml", policy)]).unwrap();
    let c = |to: &str| Connection {
        client: "10.50.3.7".parse().unwrap(),
        destination: to.parse().unwrap(),
        protocol: wardgate_rules::Protocol::Hl7,
    };
    assert_eq!(
        &*set.judge_connection(&c("10.20.30.40:2575")).unwrap(),
        "ward-to-ehr"
    );
    let refused = set.judge_connection(&c("10.20.30.40:5432")).unwrap_err();
    assert!(!refused.enforced, "audit mode reports only");
    assert_eq!(
        refused.reason,
        "no flow lets thermo (thermometer, group ward) at 10.50.3.7 reach 10.20.30.40:5432 (ehr) over hl7"
    );
    let bad = errors(&[source("s.toml", "[[flow]]\nid = \"f\"\ndescription = \"d\"\nfrom = {}\nto = { address = [\"x\"] }\nports = [0, \"9-1\"]\nprotocols = [\"ftp\"]\n")]).join("\n");
    for want in [
        "s.toml:4:8: `from` of a [[flow]] names nothing",
        "s.toml:5:19: `x` is not an IP",
        "s.toml:6:10: not a port",
        "s.toml:6:13: not a port",
        "s.toml:7:14: unknown protocol `ftp`",
    ] {
        assert!(bad.contains(want), "missing {want:?} in\n{bad}");
    }
}
