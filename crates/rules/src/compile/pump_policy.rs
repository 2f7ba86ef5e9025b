//! Compiling the `[pump]` table: stateful pump-protocol settings.

use super::*;

pub(super) const PUMP_KEYS: &[&str] = &[
    "max_rate_factor",
    "max_rate_step",
    "rate_change",
    "max_changes",
    "change_window",
    "approved_drug_libraries",
    "approved_firmware",
    "config_keys",
];

pub(super) fn compile_pump_policy(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    out: &mut crate::pump::PumpPolicy,
) {
    check_keys(rep, t, PUMP_KEYS, "[pump]");
    if let Some(v) = get(t, "max_rate_factor") {
        match as_number(rep, v, "`max_rate_factor`") {
            Some(f) if f > 1.0 => out.max_rate_factor = Some(f),
            Some(_) => rep.error_hint(
                span(v),
                "`max_rate_factor` must be greater than 1",
                "e.g. 2 refuses more than doubling the rate",
            ),
            None => {}
        }
    }
    if let Some(v) = get(t, "max_rate_step") {
        match as_number(rep, v, "`max_rate_step`") {
            Some(f) if f > 0.0 => out.max_rate_step = Some(f),
            Some(_) => rep.error(span(v), "`max_rate_step` (mL/h) must be positive"),
            None => {}
        }
    }
    if let Some(v) = get(t, "rate_change") {
        match as_str(rep, v, "`rate_change`") {
            Some("deny") => out.rate_change_action = Some(Action::Deny),
            Some("alert") => out.rate_change_action = Some(Action::Allow),
            Some(other) => rep.error_hint(
                span(v),
                format!("`rate_change` cannot be `{other}`"),
                "use \"deny\" or \"alert\"",
            ),
            None => {}
        }
    }
    if let Some(v) = get(t, "max_changes") {
        match as_number(rep, v, "`max_changes`") {
            Some(n)
                if n.fract() == 0.0
                    && (1.0..=crate::pump::MAX_CHANGE_HISTORY as f64).contains(&n) =>
            {
                out.max_changes = Some(n as usize)
            }
            Some(_) => rep.error(
                span(v),
                format!(
                    "`max_changes` must be a whole number from 1 to {}",
                    crate::pump::MAX_CHANGE_HISTORY
                ),
            ),
            None => {}
        }
    }
    out.change_window_ms = 60_000;
    if let Some(v) = get(t, "change_window") {
        match as_str(rep, v, "`change_window`").map(|s| (s, parse_duration_ms(s))) {
            Some((_, Some(ms))) if ms > 0 => out.change_window_ms = ms,
            Some((s, _)) => rep.error_hint(
                span(v),
                format!("`{s}` is not a duration"),
                "write e.g. \"1m\", \"30s\"",
            ),
            None => {}
        }
    }
    for (key, slot) in [
        ("approved_drug_libraries", &mut out.approved_drug_libraries),
        ("approved_firmware", &mut out.approved_firmware),
    ] {
        let Some(v) = get(t, key) else { continue };
        // An empty list is meaningful here: nothing is approved.
        if matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()) {
            continue;
        }
        for (text, s) in string_list(rep, v, &format!("`{key}`")).unwrap_or_default() {
            let mut digest = [0u8; 32];
            match hex::decode_to_slice(text.trim(), &mut digest) {
                Ok(()) => slot.push(digest),
                Err(_) => rep.error_hint(
                    s,
                    format!("`{text}` is not a SHA-256 digest"),
                    "64 hexadecimal digits",
                ),
            }
        }
    }
    if let Some(v) = get(t, "config_keys") {
        out.config_keys = string_list(rep, v, "`config_keys`")
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _)| s.to_owned())
            .collect();
    }
}
