//! Compiling a text condition table (`equals`, `one_of`, `matches`, `min`, ...).

use super::*;

pub(super) const CONDITION_KEYS: &[&str] = &[
    "equals",
    "not_equals",
    "one_of",
    "not_one_of",
    "matches",
    "exists",
    "min",
    "max",
];
pub(crate) fn compile_condition(
    rep: &mut Reporter<'_>,
    t: &DeTable<'_>,
    sp: &Range<usize>,
    ignore_case: bool,
    what: &str,
) -> Option<TextCondition> {
    if what != "[[rule.field]]" {
        check_keys(rep, t, CONDITION_KEYS, what);
    }
    let mut ok = true;
    let mut c = TextCondition {
        ignore_case,
        ..TextCondition::default()
    };
    let mut any = false;
    if let Some(v) = get(t, "equals") {
        any = true;
        c.equals = as_str(rep, v, "`equals`").map(|s| s.as_bytes().to_vec());
        ok &= c.equals.is_some();
    }
    if let Some(v) = get(t, "not_equals") {
        any = true;
        c.not_equals = as_str(rep, v, "`not_equals`").map(|s| s.as_bytes().to_vec());
        ok &= c.not_equals.is_some();
    }
    for (key, slot) in [("one_of", &mut c.one_of), ("not_one_of", &mut c.not_one_of)] {
        if let Some(v) = get(t, key) {
            any = true;
            *slot = string_list(rep, v, &format!("`{key}`"))
                .map(|l| l.into_iter().map(|(s, _)| s.as_bytes().to_vec()).collect());
            ok &= slot.is_some();
        }
    }
    if let Some(v) = get(t, "matches") {
        any = true;
        if let Some(re) = as_str(rep, v, "`matches`") {
            // Anchored on both ends so `matches = "EGH"` cannot be misread as "contains EGH".
            match RegexBuilder::new(&format!("^(?:{re})$"))
                .size_limit(MAX_REGEX_SIZE)
                .build()
            {
                Ok(r) => c.matches = Some(r),
                Err(e) => {
                    rep.error(
                        span(v),
                        format!("`matches` is not a valid regular expression: {e}"),
                    );
                    ok = false;
                }
            }
        } else {
            ok = false;
        }
    }
    if let Some(v) = get(t, "exists") {
        any = true;
        c.exists = as_bool(rep, v, "`exists`");
        ok &= c.exists.is_some();
    }
    for (key, slot) in [("min", &mut c.min), ("max", &mut c.max)] {
        if let Some(v) = get(t, key) {
            any = true;
            *slot = as_number(rep, v, &format!("`{key}`"));
            ok &= slot.is_some();
        }
    }
    if let (Some(min), Some(max)) = (c.min, c.max) {
        if min > max {
            rep.error_hint(
                sp.clone(),
                format!("min {min} is greater than max {max}: nothing can match"),
                "swap them",
            );
            ok = false;
        }
    }
    if !any {
        rep.error_hint(
            sp.clone(),
            format!("{what} has no condition"),
            format!("add one of: {}", CONDITION_KEYS.join(", ")),
        );
        ok = false;
    }
    ok.then_some(c)
}
