//! Compiling `[segmentation]`, `[[flow]]` and connection tests (`[[test]] connection = {...}`).

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;

use ipnet::IpNet;
use toml::de::{DeTable, DeValue};

use crate::compile_inventory::InventoryBuilder;
use crate::diag::{Reporter, line_col};
use crate::inventory::DeviceKind;
use crate::ruleset::Protocol;
use crate::segmentation::{Connection, Endpoints, Flow, Segmentation};
use crate::toml_read::*;
use crate::verdict::Mode;

const SEGMENTATION_KEYS: &[&str] = &["name", "description", "mode"];
const FLOW_KEYS: &[&str] = &["id", "description", "from", "to", "ports", "protocols"];
const ENDPOINT_KEYS: &[&str] = &["device", "group", "kind", "address"];
const CONNECTION_KEYS: &[&str] = &["from", "to", "protocol"];
/// Most flows one rule set may hold.
pub const MAX_FLOWS: usize = 10_000;

pub(crate) fn compile_segmentation(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    seg: &mut Segmentation,
) {
    check_keys(rep, t, SEGMENTATION_KEYS, "[segmentation]");
    for key in ["name", "description"] {
        if let Some(v) = get(t, key) {
            as_str(rep, v, &format!("`{key}`"));
        }
    }
    if let Some(v) = get(t, "mode") {
        match as_str(rep, v, "`mode`") {
            Some("enforce") => seg.mode = Mode::Enforce,
            Some("audit") => seg.mode = Mode::Audit,
            Some(other) => rep.error_hint(
                span(v),
                format!("unknown mode `{other}`"),
                "use \"enforce\" (refused connections are closed) or \"audit\" (reported only)",
            ),
            None => {}
        }
    }
}

fn protocol(rep: &mut Reporter<'_>, s: &str, sp: Range<usize>) -> Option<Protocol> {
    match s {
        "hl7" => Some(Protocol::Hl7),
        "pump" => Some(Protocol::Pump),
        "dicom" => Some(Protocol::Dicom),
        other => {
            rep.error_hint(
                sp,
                format!("unknown protocol `{other}`"),
                "supported: \"hl7\", \"pump\", \"dicom\"",
            );
            None
        }
    }
}

fn endpoints(
    rep: &mut Reporter<'_>,
    text: &str,
    builder: &mut InventoryBuilder,
    v: &Val<'_>,
    what: &str,
) -> Option<Endpoints> {
    let t = as_table(rep, v, what)?;
    check_keys(rep, t, ENDPOINT_KEYS, what);
    let mut ok = true;
    let mut e = Endpoints::default();
    for key in ["device", "group"] {
        let Some(v) = get(t, key) else { continue };
        for (s, s_span) in string_list(rep, v, &format!("`{key}`")).unwrap_or_default() {
            let (line, col) = line_col(text, s_span.start);
            builder
                .references
                .push((key, s.to_owned(), (rep.file().clone(), line, col)));
            if key == "device" {
                e.devices.push(s.to_owned());
            } else {
                e.groups.push(s.to_owned());
            }
        }
    }
    if let Some(v) = get(t, "kind") {
        for (s, s_span) in string_list(rep, v, "`kind`").unwrap_or_default() {
            match DeviceKind::from_name(s) {
                Some(k) => e.kinds.push(k),
                None => {
                    rep.error_hint(
                        s_span,
                        format!("unknown device kind `{s}`"),
                        format!("kinds: {}", crate::inventory::KIND_NAMES.join(", ")),
                    );
                    ok = false;
                }
            }
        }
    }
    if let Some(v) = get(t, "address") {
        for (s, s_span) in string_list(rep, v, "`address`").unwrap_or_default() {
            let net = s
                .parse::<IpNet>()
                .ok()
                .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from));
            match net {
                Some(n) => e.addresses.push(n.trunc()),
                None => {
                    rep.error_hint(
                        s_span,
                        format!("`{s}` is not an IP address or network"),
                        "write e.g. \"10.20.30.40\" or \"10.20.0.0/16\"",
                    );
                    ok = false;
                }
            }
        }
    }
    if e == Endpoints::default() && ok {
        rep.error_hint(
            span(v),
            format!("{what} names nothing"),
            "give at least one of device, group, kind, address",
        );
        ok = false;
    }
    ok.then_some(e)
}

pub(crate) fn compile_flow(
    rep: &mut Reporter<'_>,
    text: &str,
    builder: &mut InventoryBuilder,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<Flow> {
    check_keys(rep, t, FLOW_KEYS, "[[flow]]");
    let mut ok = true;
    let id = required_str(rep, t, sp, "id", "[[flow]]");
    let description = required_str(rep, t, sp, "description", "[[flow]]");
    let mut side = |key: &str| match get(t, key) {
        Some(v) => endpoints(rep, text, builder, v, &format!("`{key}` of a [[flow]]")),
        None => {
            rep.error_hint(
                sp.clone(),
                format!("[[flow]] has no `{key}`"),
                format!("add `{key} = {{ group = [\"...\"] }}` (device, group, kind or address)"),
            );
            None
        }
    };
    let (from, to) = (side("from"), side("to"));
    let mut ports = Vec::new();
    if let Some(v) = get(t, "ports") {
        for item in as_array(rep, v, "`ports`")
            .map(|a| a.iter().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let range = match item.get_ref() {
                DeValue::String(s) => s
                    .split_once('-')
                    .and_then(|(a, b)| {
                        Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                    })
                    .filter(|(a, b)| a <= b && *a > 0),
                _ => as_u16(rep, item, "a port")
                    .filter(|p| *p > 0)
                    .map(|p| (p, p)),
            };
            match range {
                Some(r) => ports.push(r),
                None => {
                    rep.error_hint(
                        span(item),
                        "not a port or port range",
                        "write a port 1-65535 or a range such as \"11112-11115\"",
                    );
                    ok = false;
                }
            }
        }
    }
    let mut protocols = Vec::new();
    if let Some(v) = get(t, "protocols") {
        for (s, s_span) in string_list(rep, v, "`protocols`").unwrap_or_default() {
            match protocol(rep, s, s_span) {
                Some(p) => protocols.push(p),
                None => ok = false,
            }
        }
    }
    match (ok, id, description, from, to) {
        (true, Some((id, _)), Some((description, _)), Some(from), Some(to)) => Some(Flow {
            id: Arc::from(id),
            description: description.to_owned(),
            from,
            to,
            ports,
            protocols,
            origin: (rep.file().clone(), line_col(text, sp.start).0),
        }),
        _ => None,
    }
}

/// A test's `connection = { from = "10.50.3.7", to = "10.20.30.10:5432", protocol = "hl7" }`.
pub(crate) fn compile_connection(rep: &mut Reporter<'_>, v: &Val<'_>) -> Option<Connection> {
    let t = as_table(rep, v, "`connection`")?;
    check_keys(rep, t, CONNECTION_KEYS, "a test's `connection`");
    let sp = span(v);
    let from = required_str(rep, t, &sp, "from", "`connection`").and_then(|(s, s_span)| {
        s.parse::<IpAddr>().ok().or_else(|| {
            rep.error(s_span, format!("`{s}` is not an IP address"));
            None
        })
    });
    let to = required_str(rep, t, &sp, "to", "`connection`").and_then(|(s, s_span)| {
        s.parse::<SocketAddr>().ok().or_else(|| {
            rep.error_hint(
                s_span,
                format!("`{s}` is not an address and port"),
                "write e.g. \"10.20.30.10:5432\"",
            );
            None
        })
    });
    let proto = required_str(rep, t, &sp, "protocol", "`connection`")
        .and_then(|(s, s_span)| protocol(rep, s, s_span));
    Some(Connection {
        client: from?,
        destination: to?,
        protocol: proto?,
    })
}

pub(crate) fn check_flow_count(n: usize) -> Option<String> {
    (n > MAX_FLOWS).then(|| format!("{n} flows is more than the limit of {MAX_FLOWS}"))
}
