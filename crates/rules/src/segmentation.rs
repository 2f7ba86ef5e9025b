//! Micro-segmentation: which devices (or groups, kinds, networks) may reach which destinations,
//! ports and protocols through wardgate (`[[flow]]`). Judged per connection before any byte is
//! forwarded: (client address, destination address and port, route protocol) in, the allowing
//! flow or a typed refusal out. Anything no flow allows is refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::inventory::{Device, DeviceKind, Inventory, canonical};
use crate::ruleset::{Protocol, RuleSet};
use crate::verdict::Mode;

/// One side of a flow: it matches a device listed by id, group or kind, or an address inside
/// one of the networks (any one suffices).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    /// Device ids.
    pub devices: Vec<String>,
    /// Device groups.
    pub groups: Vec<String>,
    /// Device kinds.
    pub kinds: Vec<DeviceKind>,
    /// Networks (for hosts outside the inventory, or whole subnets).
    pub addresses: Vec<IpNet>,
}

impl Endpoints {
    fn matches(&self, addr: IpAddr, device: Option<&Device>) -> bool {
        let addr = canonical(addr);
        self.addresses.iter().any(|n| n.contains(&addr))
            || device.is_some_and(|d| {
                self.devices.contains(&d.id)
                    || self.kinds.contains(&d.kind)
                    || d.group.as_ref().is_some_and(|g| self.groups.contains(g))
            })
    }
}

/// An allowed flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Unique id, named in audit lines and tests.
    pub id: Arc<str>,
    /// What it is for.
    pub description: String,
    /// Who may connect.
    pub from: Endpoints,
    /// What they may reach.
    pub to: Endpoints,
    /// Destination port ranges (inclusive); empty = any port.
    pub ports: Vec<(u16, u16)>,
    /// Route protocols; empty = any.
    pub protocols: Vec<Protocol>,
    /// File and line of its `[[flow]]`.
    pub origin: (Arc<str>, usize),
}

/// The segmentation policy of a rule set (`[segmentation]` and `[[flow]]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Segmentation {
    /// `enforce` (default): refused connections are closed; `audit`: reported, let through.
    pub mode: Mode,
    /// Allowed flows, in file order.
    pub flows: Vec<Flow>,
}

/// A connection as the listener sees it at accept time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The client's address.
    pub client: IpAddr,
    /// Where it wants to go.
    pub destination: SocketAddr,
    /// The protocol of the route that accepted it.
    pub protocol: Protocol,
}

/// Why a connection may not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDenial {
    /// A sentence for the audit log and the operator.
    pub reason: String,
    /// A short, bounded label for metrics: `unknown-client` or `no-flow`.
    pub kind: &'static str,
    /// Whether the refusal is enforced (`false` in audit mode: report, let through).
    pub enforced: bool,
}

/// The name of a protocol in files and messages.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Hl7 => "hl7",
        Protocol::Pump => "pump",
        Protocol::Dicom => "dicom",
    }
}

fn who(addr: IpAddr, device: Option<&Device>) -> String {
    match device {
        Some(d) => {
            let group = d
                .group
                .as_deref()
                .map_or(String::new(), |g| format!(", group {g}"));
            format!("{} ({}{group}) at {addr}", d.id, d.kind.as_str())
        }
        None => format!("{addr} (not in the device inventory)"),
    }
}

impl Segmentation {
    /// Judge a connection: `Ok(flow id)` when a flow allows it, else the refusal.
    pub fn judge(&self, inventory: &Inventory, c: &Connection) -> Result<Arc<str>, SegmentDenial> {
        let client = inventory.by_address(c.client);
        let dest = inventory.by_address(c.destination.ip());
        let port = c.destination.port();
        for f in &self.flows {
            if f.from.matches(c.client, client)
                && f.to.matches(c.destination.ip(), dest)
                && (f.ports.is_empty() || f.ports.iter().any(|(a, b)| (*a..=*b).contains(&port)))
                && (f.protocols.is_empty() || f.protocols.contains(&c.protocol))
            {
                return Ok(f.id.clone());
            }
        }
        let to = match dest {
            Some(d) => format!("{} ({})", c.destination, d.id),
            None => c.destination.to_string(),
        };
        Err(SegmentDenial {
            reason: format!(
                "no flow lets {} reach {to} over {}",
                who(c.client, client),
                protocol_name(c.protocol)
            ),
            kind: if client.is_some() {
                "no-flow"
            } else {
                "unknown-client"
            },
            enforced: self.mode == Mode::Enforce,
        })
    }
}

impl RuleSet {
    /// Judge a connection against this set's segmentation policy and inventory.
    pub fn judge_connection(&self, c: &Connection) -> Result<Arc<str>, SegmentDenial> {
        self.segmentation.judge(&self.inventory, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_flows_pass() {
        let mut thermo = crate::inventory::Device {
            id: "thermo".into(),
            kind: DeviceKind::Thermometer,
            location: None,
            group: Some("ward".into()),
            addresses: vec!["10.50.3.7/32".parse().unwrap()],
            cert_cn: vec![],
            cert_san: vec![],
            hl7_application: vec![],
            hl7_facility: vec![],
            pump_id: vec![],
            serial: vec![],
            ae_title: vec![],
            origin: (Arc::from("t"), 1),
        };
        let inv = Inventory::new(vec![thermo.clone()]);
        thermo.id = "x".into();
        let seg = Segmentation {
            mode: Mode::Enforce,
            flows: vec![Flow {
                id: Arc::from("ward-to-ehr"),
                description: String::new(),
                from: Endpoints {
                    groups: vec!["ward".into()],
                    ..Default::default()
                },
                to: Endpoints {
                    addresses: vec!["10.20.0.0/16".parse().unwrap()],
                    ..Default::default()
                },
                ports: vec![(2575, 2575)],
                protocols: vec![Protocol::Hl7],
                origin: (Arc::from("t"), 1),
            }],
        };
        let c = |client: &str, dest: &str, protocol| Connection {
            client: client.parse().unwrap(),
            destination: dest.parse().unwrap(),
            protocol,
        };
        assert!(
            seg.judge(&inv, &c("10.50.3.7", "10.20.1.1:2575", Protocol::Hl7))
                .is_ok()
        );
        let e = seg
            .judge(&inv, &c("10.50.3.7", "10.20.1.1:5432", Protocol::Hl7))
            .unwrap_err();
        assert_eq!(e.kind, "no-flow");
        assert!(
            e.reason.contains("thermo (thermometer, group ward)"),
            "{}",
            e.reason
        );
        assert!(
            seg.judge(&inv, &c("10.50.3.7", "10.20.1.1:2575", Protocol::Pump))
                .is_err()
        );
        let e = seg
            .judge(&inv, &c("10.50.3.8", "10.20.1.1:2575", Protocol::Hl7))
            .unwrap_err();
        assert_eq!(e.kind, "unknown-client");
    }
}
