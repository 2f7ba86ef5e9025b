//! Compiling `[[device]]` (the approved inventory) and the `[rule.sender]` device conditions,
//! with every problem reported at once: unknown keys, duplicate ids, an identifier claimed by
//! two devices (also across files), overlapping networks.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use ipnet::IpNet;
use toml::de::DeTable;

use crate::diag::{Diagnostic, Reporter, line_col, suggest};
use crate::inventory::{Device, DeviceCondition, DeviceKind, Inventory, KIND_NAMES, MAX_DEVICES};
use crate::toml_read::*;

const DEVICE_KEYS: &[&str] = &[
    "id",
    "kind",
    "location",
    "group",
    "description",
    "address",
    "cert_cn",
    "cert_san",
    "hl7_application",
    "hl7_facility",
    "pump_id",
    "serial",
    "ae_title",
];

/// The sender keys that name devices.
pub(crate) const DEVICE_SENDER_KEYS: &[&str] =
    &["device_known", "device", "device_group", "device_kind"];

/// Where something was first written: file, line, column.
type At = (Arc<str>, usize, usize);

/// Builds an inventory over the files of one set, remembering who claimed what.
#[derive(Default)]
pub(crate) struct InventoryBuilder {
    devices: Vec<Device>,
    ids: HashMap<String, At>,
    /// (identifier kind, normalised value) -> (device id, where).
    claims: HashMap<(&'static str, String), (String, At)>,
    /// Every network with its device and where it was written, for the overlap check.
    nets: Vec<(IpNet, String, At)>,
    /// Rules' device references to check once every file is read: (what, name, where).
    pub(crate) references: Vec<(&'static str, String, At)>,
}

fn at(rep: &Reporter<'_>, text: &str, span: &Range<usize>) -> At {
    let (line, col) = line_col(text, span.start);
    (rep.file().clone(), line, col)
}

impl InventoryBuilder {
    /// Compile one `[[device]]` table.
    pub(crate) fn device(
        &mut self,
        rep: &mut Reporter<'_>,
        text: &str,
        t: &DeTable<'_>,
        sp: &Range<usize>,
    ) {
        check_keys(rep, t, DEVICE_KEYS, "[[device]]");
        let mut ok = true;
        let id = required_str(rep, t, sp, "id", "[[device]]");
        if let Some((id, id_span)) = &id {
            if !crate::compile::valid_id(id) {
                rep.error_hint(
                    id_span.clone(),
                    format!("device id `{id}` is not a valid id"),
                    "use letters, digits, '-', '_', '.', at most 64 characters",
                );
                ok = false;
            } else if let Some((file, line, _)) = self.ids.get(*id) {
                rep.error_hint(
                    sp.clone(),
                    format!("duplicate device id `{id}`"),
                    format!("first defined at {file}:{line}; device ids must be unique"),
                );
                ok = false;
            } else {
                self.ids.insert((*id).to_owned(), at(rep, text, id_span));
            }
        }
        let kind = required_str(rep, t, sp, "kind", "[[device]]").and_then(|(k, k_span)| {
            let kind = DeviceKind::from_name(k);
            if kind.is_none() {
                rep.error_hint(k_span, format!("unknown device kind `{k}`"), kind_hint(k));
            }
            kind
        });
        let mut text_of = |key: &str| -> Option<String> {
            let v = get(t, key)?;
            as_str(rep, v, &format!("`{key}`")).map(str::to_owned)
        };
        let location = text_of("location");
        let group = text_of("group");
        let _ = text_of("description");
        if let (Some(g), Some(v)) = (&group, get(t, "group")) {
            if !crate::compile::valid_id(g) {
                rep.error_hint(
                    span(v),
                    format!("group `{g}` is not a valid name"),
                    "use letters, digits, '-', '_', '.', at most 64 characters",
                );
                ok = false;
            }
        }
        let device_id = id.as_ref().map_or("?", |(id, _)| *id).to_owned();
        let mut lists: HashMap<&'static str, Vec<String>> = HashMap::new();
        for key in [
            "cert_cn",
            "cert_san",
            "hl7_application",
            "hl7_facility",
            "pump_id",
            "serial",
            "ae_title",
        ] {
            let Some(v) = get(t, key) else { continue };
            let Some(items) = string_list(rep, v, &format!("`{key}`")) else {
                ok = false;
                continue;
            };
            if items.len() > crate::inventory::MAX_IDENTIFIERS {
                rep.error(
                    span(v),
                    format!(
                        "`{key}` lists more than {} values",
                        crate::inventory::MAX_IDENTIFIERS
                    ),
                );
                ok = false;
                continue;
            }
            let mut out = Vec::new();
            for (s, s_span) in items {
                if s.trim().is_empty() || (key == "ae_title" && s.len() > 16) {
                    rep.error(s_span, format!("`{key}` value {s:?} is empty or too long"));
                    ok = false;
                    continue;
                }
                // Facilities are shared by many devices: only the other kinds must be unique.
                if key != "hl7_facility" {
                    let norm = if key.starts_with("cert_") {
                        s.to_ascii_lowercase()
                    } else {
                        s.to_owned()
                    };
                    let key_kind = match key {
                        "pump_id" | "serial" => "pump",
                        k => k,
                    };
                    let here = at(rep, text, &s_span);
                    match self.claims.get(&(key_kind, norm.clone())) {
                        Some((other, (file, line, _))) if *other != device_id => {
                            rep.error_hint(
                                s_span,
                                format!("`{key}` {s:?} is claimed by device `{other}` too"),
                                format!("{file}:{line}: one identifier recognises one device"),
                            );
                            ok = false;
                        }
                        Some(_) => {}
                        None => {
                            self.claims
                                .insert((key_kind, norm), (device_id.clone(), here));
                        }
                    }
                }
                out.push(s.to_owned());
            }
            lists.insert(key, out);
        }
        let mut addresses = Vec::new();
        if let Some(v) = get(t, "address") {
            for (s, s_span) in string_list(rep, v, "`address`").unwrap_or_default() {
                let net = s
                    .parse::<IpNet>()
                    .ok()
                    .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from));
                match net {
                    Some(n) => {
                        let n = n.trunc();
                        self.nets
                            .push((n, device_id.clone(), at(rep, text, &s_span)));
                        addresses.push(n);
                    }
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
        let mut take = |k: &str| lists.remove(k).unwrap_or_default();
        let (cert_cn, cert_san, hl7_application, hl7_facility, pump_id, serial, ae_title) = (
            take("cert_cn"),
            take("cert_san"),
            take("hl7_application"),
            take("hl7_facility"),
            take("pump_id"),
            take("serial"),
            take("ae_title"),
        );
        if !hl7_facility.is_empty() && hl7_application.is_empty() {
            rep.error_hint(
                sp.clone(),
                format!("device `{device_id}` has `hl7_facility` without `hl7_application`"),
                "a facility is shared by many devices: it only narrows an hl7_application",
            );
            ok = false;
        }
        let identified = !(addresses.is_empty()
            && cert_cn.is_empty()
            && cert_san.is_empty()
            && hl7_application.is_empty()
            && pump_id.is_empty()
            && serial.is_empty()
            && ae_title.is_empty());
        if !identified && id.is_some() {
            rep.error_hint(
                sp.clone(),
                format!("device `{device_id}` has no identifier"),
                "add at least one of address, cert_cn, cert_san, hl7_application, pump_id, serial, ae_title",
            );
            ok = false;
        }
        if let (true, Some((id, _)), Some(kind)) = (ok, id, kind) {
            self.devices.push(Device {
                id: id.to_owned(),
                kind,
                location,
                group,
                addresses,
                cert_cn,
                cert_san,
                hl7_application,
                hl7_facility,
                pump_id,
                serial,
                ae_title,
                origin: (rep.file().clone(), line_col(text, sp.start).0),
            });
        }
    }

    /// Read `device_known`, `device`, `device_group`, `device_kind` of a `[rule.sender]`.
    pub(crate) fn sender_condition(
        &mut self,
        rep: &mut Reporter<'_>,
        text: &str,
        t: &DeTable<'_>,
    ) -> Result<Option<DeviceCondition>, ()> {
        if !DEVICE_SENDER_KEYS.iter().any(|k| get(t, k).is_some()) {
            return Ok(None);
        }
        let mut ok = true;
        let mut cond = DeviceCondition::default();
        if let Some(v) = get(t, "device_known") {
            cond.known = as_bool(rep, v, "`sender.device_known`");
            ok &= cond.known.is_some();
            // Knowing a device needs an inventory to know it from.
            self.references
                .push(("inventory", String::new(), at(rep, text, &span(v))));
        }
        for (key, what) in [("device", "device"), ("device_group", "group")] {
            let Some(v) = get(t, key) else { continue };
            let Some(list) = string_list(rep, v, &format!("`sender.{key}`")) else {
                ok = false;
                continue;
            };
            for (s, s_span) in list {
                self.references
                    .push((what, s.to_owned(), at(rep, text, &s_span)));
                if key == "device" {
                    cond.ids.push(s.to_owned());
                } else {
                    cond.groups.push(s.to_owned());
                }
            }
        }
        if let Some(v) = get(t, "device_kind") {
            for (s, s_span) in string_list(rep, v, "`sender.device_kind`").unwrap_or_default() {
                match DeviceKind::from_name(s) {
                    Some(k) => cond.kinds.push(k),
                    None => {
                        rep.error_hint(s_span, format!("unknown device kind `{s}`"), kind_hint(s));
                        ok = false;
                    }
                }
            }
        }
        if ok { Ok(Some(cond)) } else { Err(()) }
    }

    /// Checks that need every file: overlapping networks, the device count, and whether what
    /// rules and flows name exists.
    pub(crate) fn finish(mut self) -> (Inventory, Vec<Diagnostic>) {
        let mut out = Vec::new();
        let mut err = |(file, line, column): &At, message: String, hint: Option<String>| {
            out.push(Diagnostic {
                file: file.clone(),
                line: *line,
                column: *column,
                message,
                hint,
            });
        };
        let mut by_net: HashMap<IpNet, usize> = HashMap::new();
        for (i, (n, _, _)) in self.nets.iter().enumerate() {
            by_net.entry(*n).or_insert(i);
        }
        for (n, dev, here) in &self.nets {
            // Every strictly wider network containing this one (at most 128 lookups).
            let mut wider = n.supernet();
            let same = by_net
                .get(n)
                .and_then(|&i| self.nets.get(i))
                .filter(|(_, d, _)| d != dev);
            let mut clash = same.map(|c| (c, "is claimed by"));
            while clash.is_none() {
                let Some(w) = wider else { break };
                clash = by_net
                    .get(&w)
                    .and_then(|&i| self.nets.get(i))
                    .filter(|(_, d, _)| d != dev)
                    .map(|c| (c, "lies inside the network of"));
                wider = w.supernet();
            }
            if let Some(((other_net, other, (file, line, _)), how)) = clash {
                err(
                    here,
                    format!("address {n} of device `{dev}` {how} device `{other}` ({other_net})"),
                    Some(format!(
                        "{file}:{line}: an address must recognise one device; narrow one of them"
                    )),
                );
            }
        }
        if self.devices.len() > MAX_DEVICES {
            out.push(Diagnostic {
                file: Arc::from("(rule set)"),
                line: 1,
                column: 1,
                message: format!(
                    "{} devices is more than the limit of {MAX_DEVICES}",
                    self.devices.len()
                ),
                hint: None,
            });
        }
        let devices = &self.devices;
        for (what, name, here) in std::mem::take(&mut self.references) {
            let names: Vec<&str> = devices
                .iter()
                .filter_map(|d| match what {
                    "group" => d.group.as_deref(),
                    _ => Some(d.id.as_str()),
                })
                .collect();
            if devices.is_empty() {
                let message = if what == "inventory" {
                    "`device_known` needs the approved inventory, but this rule set lists no [[device]]".to_owned()
                } else {
                    format!("{what} `{name}` is named, but this rule set lists no [[device]]")
                };
                out.push(Diagnostic {
                    file: here.0.clone(),
                    line: here.1,
                    column: here.2,
                    message,
                    hint: Some("include the approved inventory, e.g. include = [\"../inventory/devices.toml\"]".into()),
                });
            } else if what != "inventory" && !names.contains(&name.as_str()) {
                let hint = match suggest(&name, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("no [[device]] has this {what}"),
                };
                out.push(Diagnostic {
                    file: here.0.clone(),
                    line: here.1,
                    column: here.2,
                    message: format!("unknown {what} `{name}`"),
                    hint: Some(hint),
                });
            }
        }
        (Inventory::new(self.devices), out)
    }
}

fn kind_hint(k: &str) -> String {
    match suggest(k, KIND_NAMES) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("kinds: {}", KIND_NAMES.join(", ")),
    }
}
