//! Compiling `[[drug]]` entries and their limits.

use super::*;

pub(super) const DRUG_KEYS: &[&str] = &[
    "id",
    "description",
    "codes",
    "names",
    "limits",
    "never_override",
];

pub(super) const LIMITS_KEYS: &[&str] = &["care_areas", "rate", "dose_rate", "vtbi", "bolus"];

pub(super) const LIMIT_KEYS: &[&str] = &["unit", "hard_min", "soft_min", "soft_max", "hard_max"];

pub(super) fn compile_drug(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<Drug> {
    check_keys(rep, t, DRUG_KEYS, "[[drug]]");
    let mut ok = true;
    let id = required_str(rep, t, sp, "id", "[[drug]]");
    if let Some(v) = get(t, "description") {
        as_str(rep, v, "`description`");
    }
    let list = |rep: &mut Reporter<'_>, key: &str| -> Option<Vec<String>> {
        get(t, key).map(|v| {
            string_list(rep, v, &format!("`{key}`"))
                .unwrap_or_default()
                .into_iter()
                .map(|(s, _)| s.to_owned())
                .collect()
        })
    };
    let codes = list(rep, "codes").unwrap_or_default();
    let names = list(rep, "names").unwrap_or_default();
    if codes.is_empty() && names.is_empty() {
        rep.error_hint(
            sp.clone(),
            "[[drug]] has neither `codes` nor `names`: no order could ever match it",
            "add `codes = [\"...\"]` (RXG-4 identifiers) and/or `names = [\"...\"]`",
        );
        ok = false;
    }
    let never_override = match get(t, "never_override") {
        None => false,
        Some(v) => as_bool(rep, v, "`never_override`").unwrap_or(false),
    };
    let mut limits = Vec::new();
    match get(t, "limits") {
        None => {
            rep.error_hint(
                sp.clone(),
                "[[drug]] has no [[drug.limits]]",
                "add [[drug.limits]] with care_areas and at least one of rate, dose_rate, vtbi, bolus",
            );
            ok = false;
        }
        Some(v) => {
            for (lt, lsp) in tables(rep, v, "[[drug.limits]]") {
                match compile_limits(rep, lt, &lsp) {
                    Some(l) => limits.push(l),
                    None => ok = false,
                }
            }
        }
    }
    match (ok, id) {
        (true, Some((id, _))) => Some(Drug {
            id: id.to_owned(),
            codes,
            names,
            limits,
            never_override,
        }),
        _ => None,
    }
}

pub(super) fn compile_limits(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
) -> Option<CareAreaLimits> {
    check_keys(rep, t, LIMITS_KEYS, "[[drug.limits]]");
    let mut ok = true;
    let care_areas = match get(t, "care_areas") {
        Some(v) => string_list(rep, v, "`care_areas`")
            .map(|l| l.into_iter().map(|(s, _)| s.to_owned()).collect::<Vec<_>>()),
        None => {
            rep.error_hint(
                sp.clone(),
                "[[drug.limits]] has no `care_areas`",
                "add e.g. `care_areas = [\"ICU\"]` (PV1-3 point of care), or [\"*\"] for any",
            );
            None
        }
    };
    ok &= care_areas.is_some();
    type Check = fn(&Unit) -> bool;
    let slots: [(&str, Check, &str); 4] = [
        (
            "rate",
            Unit::is_volume_rate,
            "a volume rate such as \"mL/h\"",
        ),
        (
            "dose_rate",
            Unit::is_dose_rate,
            "a dose rate such as \"ug/kg/min\" or \"U/h\"",
        ),
        ("vtbi", Unit::is_volume, "a volume such as \"mL\""),
        ("bolus", Unit::is_dose, "a dose such as \"U\" or \"U/kg\""),
    ];
    let mut out: [Option<Limit>; 4] = [None, None, None, None];
    for (i, (key, fits, expected)) in slots.iter().enumerate() {
        let Some(v) = get(t, key) else { continue };
        let Some(lt) = as_table(rep, v, &format!("`{key}`")) else {
            ok = false;
            continue;
        };
        match compile_limit(rep, lt, &span(v), key, *fits, expected) {
            Some(l) => out[i] = Some(l),
            None => ok = false,
        }
    }
    if out.iter().all(Option::is_none) && ok {
        rep.error_hint(
            sp.clone(),
            "[[drug.limits]] sets no limit",
            "add at least one of rate, dose_rate, vtbi, bolus",
        );
        ok = false;
    }
    let [rate, dose_rate, vtbi, bolus] = out;
    match (ok, care_areas) {
        (true, Some(care_areas)) => Some(CareAreaLimits {
            care_areas,
            rate,
            dose_rate,
            vtbi,
            bolus,
        }),
        _ => None,
    }
}

pub(super) fn compile_limit(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
    key: &str,
    fits: fn(&Unit) -> bool,
    expected: &str,
) -> Option<Limit> {
    check_keys(rep, t, LIMIT_KEYS, &format!("`{key}`"));
    let mut ok = true;
    let unit = match get(t, "unit") {
        None => {
            rep.error_hint(
                sp.clone(),
                format!("`{key}` has no `unit`"),
                format!("add `unit = ...`, {expected}"),
            );
            None
        }
        Some(v) => as_str(rep, v, "`unit`").and_then(|text| match units::parse_ucum(text) {
            Ok(u) if fits(&u) => Some((u, text.to_owned())),
            Ok(_) => {
                rep.error_hint(
                    span(v),
                    format!("`{text}` is not a unit for `{key}`"),
                    format!("`{key}` takes {expected}"),
                );
                None
            }
            Err(e) => {
                rep.error_hint(
                    span(v),
                    format!("{e}"),
                    "write UCUM, e.g. mL/h, mL, ug/kg/min, mg/h, U/kg/h, U, mmol/h",
                );
                None
            }
        }),
    };
    ok &= unit.is_some();
    let mut bounds: [Option<f64>; 4] = [None; 4];
    for (i, name) in ["hard_min", "soft_min", "soft_max", "hard_max"]
        .iter()
        .enumerate()
    {
        if let Some(v) = get(t, name) {
            match as_number(rep, v, &format!("`{name}`")) {
                Some(n) if n < 0.0 => {
                    rep.error(span(v), format!("`{name}` must not be negative"));
                    ok = false;
                }
                Some(n) => bounds[i] = Some(n),
                None => ok = false,
            }
        }
    }
    if bounds.iter().all(Option::is_none) && ok {
        rep.error_hint(
            sp.clone(),
            format!("`{key}` has no bound"),
            "add hard_max (and soft_max, soft_min, hard_min as needed)",
        );
        ok = false;
    }
    // Bounds must be ordered hard_min <= soft_min <= soft_max <= hard_max.
    let names = ["hard_min", "soft_min", "soft_max", "hard_max"];
    for i in 0..4 {
        for j in i + 1..4 {
            if let (Some(a), Some(b)) = (bounds[i], bounds[j]) {
                if a > b {
                    rep.error_hint(
                        sp.clone(),
                        format!("`{key}`: {} {a} is greater than {} {b}", names[i], names[j]),
                        "limits must satisfy hard_min <= soft_min <= soft_max <= hard_max",
                    );
                    ok = false;
                }
            }
        }
    }
    let [hard_min, soft_min, soft_max, hard_max] = bounds;
    match (ok, unit) {
        (true, Some((unit, unit_text))) => Some(Limit {
            unit,
            unit_text,
            hard_min,
            soft_min,
            soft_max,
            hard_max,
        }),
        _ => None,
    }
}
