//! Compiling sender conditions: certificate names, addresses and HL7 sending application and
//! facility, shared by `[rule.sender]` and the `[dicom]` registry.

use super::*;

pub(super) const SENDER_KEYS: &[&str] = &[
    "cert_cn",
    "cert_san",
    "address",
    "sending_application",
    "sending_facility",
    "device_known",
    "device",
    "device_group",
    "device_kind",
];

/// Sender conditions as compiled from a table.
#[derive(Default)]
pub(crate) struct SenderConds {
    pub(crate) cert_cn: Option<TextCondition>,
    pub(crate) cert_san: Option<TextCondition>,
    pub(crate) address: Option<AddressCondition>,
    pub(crate) sending_application: Option<TextCondition>,
    pub(crate) sending_facility: Option<TextCondition>,
    /// `device_known`, `device`, `device_group`, `device_kind` (rules only).
    pub(crate) device: Option<crate::inventory::DeviceCondition>,
}

pub(super) fn compile_sender(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    out: &mut SenderConds,
) -> bool {
    check_keys(rep, t, SENDER_KEYS, "[rule.sender]");
    read_sender(rep, t, out, "sender")
}

/// The sender keys of a table (unknown keys are the caller's to check); `prefix` names the
/// table in messages (`sender.address`).
pub(crate) fn read_sender(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    out: &mut SenderConds,
    prefix: &str,
) -> bool {
    let mut ok = true;
    for (key, ignore_case) in [
        ("cert_cn", true),
        ("cert_san", true),
        ("sending_application", false),
        ("sending_facility", false),
    ] {
        let Some(v) = get(t, key) else { continue };
        let what = format!("`{prefix}.{key}`");
        let cond = match v.get_ref() {
            DeValue::Table(ct) => compile_condition(rep, ct, &span(v), ignore_case, &what),
            _ => string_list(rep, v, &what).map(|list| {
                TextCondition::one_of(
                    list.into_iter()
                        .map(|(s, _)| s.as_bytes().to_vec())
                        .collect(),
                    ignore_case,
                )
            }),
        };
        let Some(cond) = cond else {
            ok = false;
            continue;
        };
        let slot = match key {
            "cert_cn" => &mut out.cert_cn,
            "cert_san" => &mut out.cert_san,
            "sending_application" => &mut out.sending_application,
            _ => &mut out.sending_facility,
        };
        *slot = Some(cond);
    }
    if let Some(v) = get(t, "address") {
        let mut cond = AddressCondition::default();
        let (pos, neg) = match v.get_ref() {
            DeValue::Table(at) => {
                check_keys(
                    rep,
                    at,
                    &["one_of", "not_one_of"],
                    &format!("`{prefix}.address`"),
                );
                (get(at, "one_of"), get(at, "not_one_of"))
            }
            _ => (Some(v), None),
        };
        for (src, slot) in [(pos, &mut cond.one_of), (neg, &mut cond.not_one_of)] {
            let Some(src) = src else { continue };
            let mut nets = Vec::new();
            for (text, s) in
                string_list(rep, src, &format!("`{prefix}.address`")).unwrap_or_default()
            {
                match parse_net(text) {
                    Some(n) => nets.push(n),
                    None => {
                        rep.error_hint(
                            s,
                            format!("`{text}` is not an IP address or CIDR network"),
                            "write e.g. \"10.20.0.0/16\" or \"10.20.1.5\"",
                        );
                        ok = false;
                    }
                }
            }
            *slot = Some(nets);
        }
        if cond.one_of.is_none() && cond.not_one_of.is_none() {
            rep.error(
                span(v),
                format!("`{prefix}.address` needs `one_of` or `not_one_of`"),
            );
            ok = false;
        }
        out.address = Some(cond);
    }
    ok
}

pub(super) fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}
