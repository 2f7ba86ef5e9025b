//! Compiling `[[rule]]`: message, sender, field and pump conditions.

use super::*;

pub(super) const RULE_KEYS: &[&str] = &[
    "id",
    "description",
    "protocol",
    "action",
    "mode",
    "message",
    "sender",
    "field",
    "drug_library",
    "hl7_error",
    "application_code",
    "command",
    "pump",
    "dicom",
    "refuse",
    "status",
    "reason",
    "never_override",
];

pub(super) const RULE_PUMP_KEYS: &[&str] = &["devices", "channels"];

pub(super) fn compile_rule(
    rep: &mut Reporter<'_>,
    source: &RuleSource,
    t: &DeTable<'_>,
    sp: &Range<usize>,
    inventory: &mut crate::compile_inventory::InventoryBuilder,
) -> Option<Rule> {
    check_keys(rep, t, RULE_KEYS, "[[rule]]");
    let mut ok = true;
    let id = required_str(rep, t, sp, "id", "[[rule]]");
    if let Some((id, id_span)) = &id {
        if !valid_id(id) {
            rep.error_hint(
                id_span.clone(),
                format!("rule id `{id}` is not a valid id"),
                "use letters, digits, '-', '_', '.', at most 64 characters",
            );
            ok = false;
        }
    }
    let description = required_str(rep, t, sp, "description", "[[rule]]");
    let action_v = match get(t, "action") {
        Some(v) => action(rep, v, "`action`"),
        None => {
            rep.error_hint(
                sp.clone(),
                "[[rule]] has no `action`",
                "add `action = \"allow\"` or `action = \"deny\"`",
            );
            None
        }
    };
    let protocol = match get(t, "protocol") {
        None => Some(Protocol::Hl7),
        Some(v) => match as_str(rep, v, "`protocol`") {
            Some("hl7") => Some(Protocol::Hl7),
            Some("pump") => Some(Protocol::Pump),
            Some("dicom") => Some(Protocol::Dicom),
            Some(other) => {
                rep.error_hint(
                    span(v),
                    format!("unknown protocol `{other}`"),
                    "supported: \"hl7\", \"pump\", \"dicom\"",
                );
                None
            }
            None => None,
        },
    };
    let mode = match get(t, "mode") {
        None => Some(Mode::Enforce),
        Some(v) => match as_str(rep, v, "`mode`") {
            Some("enforce") => Some(Mode::Enforce),
            Some("audit") => Some(Mode::Audit),
            Some(other) => {
                rep.error_hint(
                    span(v),
                    format!("unknown mode `{other}`"),
                    "use \"enforce\" or \"audit\"",
                );
                None
            }
            None => None,
        },
    };
    let mut messages = Vec::new();
    if let Some(v) = get(t, "message") {
        for (m, m_span) in string_list(rep, v, "`message`").unwrap_or_default() {
            match parse_message_type(m) {
                Some(mt) => messages.push(mt),
                None => {
                    rep.error_hint(
                        m_span,
                        format!("`{m}` is not a message type"),
                        "write MSH-9.1^MSH-9.2, e.g. \"RGV^O15\" or \"ADT^*\"",
                    );
                    ok = false;
                }
            }
        }
    }
    let mut rule_sender = SenderConds::default();
    if let Some(v) = get(t, "sender") {
        if let Some(st) = as_table(rep, v, "[rule.sender]") {
            ok &= compile_sender(rep, st, &mut rule_sender);
            match inventory.sender_condition(rep, &source.text, st) {
                Ok(d) => rule_sender.device = d,
                Err(()) => ok = false,
            }
        }
    }
    let mut fields = Vec::new();
    if let Some(v) = get(t, "field") {
        for (ft, fsp) in tables(rep, v, "[[rule.field]]") {
            check_keys(
                rep,
                ft,
                &[CONDITION_KEYS, &["path"]].concat(),
                "[[rule.field]]",
            );
            let Some((path_text, path_span)) =
                required_str(rep, ft, &fsp, "path", "[[rule.field]]")
            else {
                ok = false;
                continue;
            };
            let path = match Path::parse(path_text) {
                Ok(p) => Some(p),
                Err(e) => {
                    rep.error_hint(
                        path_span,
                        format!("`{path_text}` is not a field path: {e}"),
                        "write SEG-field, e.g. \"MSH-9.1\", \"RXG-15\", \"OBX[2]-18.1\", \"PID-3(2).1\"",
                    );
                    None
                }
            };
            let cond = compile_condition(rep, ft, &fsp, false, "[[rule.field]]");
            match (path, cond) {
                (Some(p), Some(c)) => fields.push((p, c)),
                _ => ok = false,
            }
        }
    }
    let is_pump = protocol == Some(Protocol::Pump);
    let is_dicom = protocol == Some(Protocol::Dicom);
    for key in ["message", "field"] {
        if let (true, Some(v)) = (is_pump || is_dicom, get(t, key)) {
            rep.error_hint(
                span(v),
                format!("`{key}` applies to HL7 rules"),
                if is_pump {
                    "pump rules name `command`s"
                } else {
                    "DICOM rules put their conditions in [rule.dicom]"
                },
            );
            ok = false;
        }
    }
    if is_dicom {
        for key in [
            "command",
            "pump",
            "drug_library",
            "hl7_error",
            "application_code",
        ] {
            if let Some(v) = get(t, key) {
                let hint = if key == "command" {
                    "DICOM rules name DIMSE services in [rule.dicom] `commands`, e.g. commands = [\"C-STORE\"]"
                } else {
                    "DICOM rules refuse with `refuse` (and `status` or `reason`)"
                };
                rep.error_hint(
                    span(v),
                    format!("`{key}` does not apply to DICOM rules"),
                    hint,
                );
                ok = false;
            }
        }
    }
    if let (true, Some(v)) = (is_pump, get(t, "hl7_error")) {
        rep.error_hint(
            span(v),
            "`hl7_error` does not apply to pump rules: a pump refusal is a NAK, which has no ERR-3",
            "`application_code` still names the refusal (9005, 9014 and 9024 make it a limit-exceeded NAK)",
        );
        ok = false;
    }
    let dicom = super::dicom::compile_rule_dicom(rep, t, sp, is_dicom, action_v);
    ok &= dicom.is_some();
    if let (true, Some(v)) = (is_pump || is_dicom, get(t, "sender")) {
        if let DeValue::Table(st) = v.get_ref() {
            for key in ["sending_application", "sending_facility"] {
                if let Some(k) = get(st, key) {
                    rep.error(
                        span(k),
                        format!(
                            "`sender.{key}` is an HL7 field; {} rules have none",
                            if is_pump { "pump" } else { "DICOM" }
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    let mut commands = Vec::new();
    if let (false, Some(v)) = (is_dicom, get(t, "command")) {
        if !is_pump {
            rep.error_hint(
                span(v),
                "`command` applies to pump rules",
                "add `protocol = \"pump\"`",
            );
            ok = false;
        }
        for (name, n_span) in string_list(rep, v, "`command`").unwrap_or_default() {
            match crate::pump::command_by_name(name) {
                Some(c) => commands.push(c),
                None => {
                    let names: Vec<&str> = crate::pump::ALL_COMMANDS
                        .iter()
                        .filter_map(|c| c.name())
                        .collect();
                    let hint = match crate::diag::suggest(name, &names) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("commands: {}", names.join(", ")),
                    };
                    rep.error_hint(n_span, format!("`{name}` is not a pump command"), hint);
                    ok = false;
                }
            }
        }
    }
    let (mut devices, mut channels) = (None, None);
    if let Some(v) = get(t, "pump") {
        if !is_pump {
            rep.error_hint(
                span(v),
                "[rule.pump] applies to pump rules",
                "add `protocol = \"pump\"`",
            );
            ok = false;
        }
        if let Some(pt) = as_table(rep, v, "[rule.pump]") {
            check_keys(rep, pt, RULE_PUMP_KEYS, "[rule.pump]");
            if let Some(d) = get(pt, "devices") {
                devices = match d.get_ref() {
                    DeValue::Table(ct) => {
                        compile_condition(rep, ct, &span(d), false, "`pump.devices`")
                    }
                    _ => string_list(rep, d, "`pump.devices`").map(|l| {
                        TextCondition::one_of(
                            l.into_iter().map(|(s, _)| s.as_bytes().to_vec()).collect(),
                            false,
                        )
                    }),
                };
                ok &= devices.is_some();
            }
            if let Some(c) = get(pt, "channels") {
                let mut list = Vec::new();
                for item in as_array(rep, c, "`pump.channels`")
                    .map(|a| a.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    match as_number(rep, item, "a channel") {
                        Some(n) if n.fract() == 0.0 && (0.0..=8.0).contains(&n) => {
                            list.push(n as u8)
                        }
                        Some(_) => {
                            rep.error(span(item), "channels are 0 (the device) to 8");
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                channels = Some(list);
            }
        }
    }
    let never_override = match get(t, "never_override") {
        None => false,
        Some(v) => as_bool(rep, v, "`never_override`").unwrap_or(false),
    };
    let drug_library = match get(t, "drug_library") {
        None => false,
        Some(v) => as_bool(rep, v, "`drug_library`").unwrap_or(false),
    };
    let hl7_error = match get(t, "hl7_error") {
        None => Some(hl7_error::APPLICATION_ERROR),
        Some(v) => as_u16(rep, v, "`hl7_error`").and_then(|c| {
            if (100..=999).contains(&c) {
                Some(c)
            } else {
                rep.error_hint(
                    span(v),
                    format!("`hl7_error = {c}` is not an HL7 table 0357 code"),
                    "use 100-999, e.g. 207 (application internal error)",
                );
                None
            }
        }),
    };
    let application_code = match get(t, "application_code") {
        None => Some(None),
        Some(v) => as_u16(rep, v, "`application_code`").map(Some),
    };
    if drug_library && action_v == Some(Action::Deny) {
        rep.error_hint(
            sp.clone(),
            "`drug_library = true` on a deny rule has no effect",
            "the drug library refines allow rules; remove it or use action = \"allow\"",
        );
        ok = false;
    }
    let line = line_col(&source.text, sp.start).0;
    match (
        ok,
        id,
        description,
        action_v,
        protocol,
        mode,
        hl7_error,
        application_code,
    ) {
        (
            true,
            Some((id, _)),
            Some((description, _)),
            Some(action),
            Some(protocol),
            Some(mode),
            Some(hl7_error),
            Some(application_code),
        ) => Some(Rule {
            id: Arc::from(id),
            description: description.to_owned(),
            protocol,
            action,
            mode,
            origin: (source.name.clone(), line),
            messages,
            cert_cn: rule_sender.cert_cn,
            cert_san: rule_sender.cert_san,
            address: rule_sender.address,
            sending_application: rule_sender.sending_application,
            sending_facility: rule_sender.sending_facility,
            device: rule_sender.device,
            fields,
            commands,
            devices,
            channels,
            dicom: dicom.flatten(),
            drug_library,
            never_override,
            hl7_error,
            application_code,
        }),
        _ => None,
    }
}

pub(super) fn parse_message_type(m: &str) -> Option<MessageType> {
    let (code, trigger) = match m.split_once('^') {
        Some((c, t)) => (c, Some(t)),
        None => (m, None),
    };
    let token = |s: &str| {
        !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if !token(code) {
        return None;
    }
    let trigger = match trigger {
        None | Some("*") => None,
        Some(t) if token(t) => Some(t.to_owned()),
        Some(_) => return None,
    };
    Some(MessageType {
        code: code.to_owned(),
        trigger,
    })
}
