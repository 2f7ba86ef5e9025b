//! Small typed readers over toml's spanned document tree, reporting every problem with its span.

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::diag::{Reporter, suggest};

/// A spanned TOML value.
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

pub(crate) fn span(v: &Val<'_>) -> Range<usize> {
    v.span()
}

/// Look a key up in a table.
pub(crate) fn get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Val<'i>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// Report every key of `table` that is not in `known`, with a "did you mean" hint.
pub(crate) fn check_keys(rep: &mut Reporter<'_>, table: &DeTable<'_>, known: &[&str], what: &str) {
    for (k, _) in table.iter() {
        let name: &str = k.get_ref().as_ref();
        if !known.contains(&name) {
            let hint = match suggest(name, known) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("{what} takes: {}", known.join(", ")),
            };
            rep.error_hint(k.span(), format!("unknown key `{name}` in {what}"), hint);
        }
    }
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    v.type_str()
}

pub(crate) fn as_table<'t, 'i>(
    rep: &mut Reporter<'_>,
    v: &'t Val<'i>,
    what: &str,
) -> Option<&'t DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            rep.error(
                span(v),
                format!("{what} must be a table, found {}", type_name(other)),
            );
            None
        }
    }
}

pub(crate) fn as_array<'t, 'i>(
    rep: &mut Reporter<'_>,
    v: &'t Val<'i>,
    what: &str,
) -> Option<&'t DeArray<'i>> {
    match v.get_ref() {
        DeValue::Array(a) => Some(a),
        other => {
            rep.error(
                span(v),
                format!("{what} must be an array, found {}", type_name(other)),
            );
            None
        }
    }
}

pub(crate) fn as_str<'t>(rep: &mut Reporter<'_>, v: &'t Val<'_>, what: &str) -> Option<&'t str> {
    match v.get_ref() {
        DeValue::String(s) => Some(Cow::as_ref(s)),
        other => {
            rep.error(
                span(v),
                format!("{what} must be a string, found {}", type_name(other)),
            );
            None
        }
    }
}

pub(crate) fn as_bool(rep: &mut Reporter<'_>, v: &Val<'_>, what: &str) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        other => {
            rep.error(
                span(v),
                format!("{what} must be true or false, found {}", type_name(other)),
            );
            None
        }
    }
}

/// An integer or float as f64.
pub(crate) fn as_number(rep: &mut Reporter<'_>, v: &Val<'_>, what: &str) -> Option<f64> {
    let parsed = match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .ok()
            .map(|n| n as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        other => {
            rep.error(
                span(v),
                format!("{what} must be a number, found {}", type_name(other)),
            );
            return None;
        }
    };
    match parsed.filter(|n| n.is_finite()) {
        Some(n) => Some(n),
        None => {
            rep.error(span(v), format!("{what} must be a finite number"));
            None
        }
    }
}

pub(crate) fn as_u16(rep: &mut Reporter<'_>, v: &Val<'_>, what: &str) -> Option<u16> {
    let n = as_number(rep, v, what)?;
    if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) {
        Some(n as u16)
    } else {
        rep.error(
            span(v),
            format!("{what} must be a whole number from 0 to 65535"),
        );
        None
    }
}

/// A string or an array of strings, with each string's span.
pub(crate) fn string_list<'t>(
    rep: &mut Reporter<'_>,
    v: &'t Val<'_>,
    what: &str,
) -> Option<Vec<(&'t str, Range<usize>)>> {
    match v.get_ref() {
        DeValue::String(s) => Some(vec![(Cow::as_ref(s), span(v))]),
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in items.iter() {
                match as_str(rep, item, what) {
                    Some(s) => out.push((s, span(item))),
                    None => ok = false,
                }
            }
            if out.is_empty() && ok {
                rep.error(span(v), format!("{what} must not be empty"));
                return None;
            }
            ok.then_some(out)
        }
        other => {
            rep.error(
                span(v),
                format!(
                    "{what} must be a string or a list of strings, found {}",
                    type_name(other)
                ),
            );
            None
        }
    }
}

/// Iterate the tables of an array of tables (`[[rule]]`), reporting non-table items.
pub(crate) fn tables<'t, 'i>(
    rep: &mut Reporter<'_>,
    v: &'t Val<'i>,
    what: &str,
) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
    let Some(items) = as_array(rep, v, what) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| as_table(rep, item, what).map(|t| (t, span(item))))
        .collect()
}

/// A required string key.
pub(crate) fn required_str<'t>(
    rep: &mut Reporter<'_>,
    table: &'t DeTable<'_>,
    table_span: &Range<usize>,
    key: &str,
    what: &str,
) -> Option<(&'t str, Range<usize>)> {
    match get(table, key) {
        Some(v) => as_str(rep, v, &format!("`{key}`")).map(|s| (s, span(v))),
        None => {
            rep.error_hint(
                table_span.clone(),
                format!("{what} has no `{key}`"),
                format!("add `{key} = \"...\"`"),
            );
            None
        }
    }
}
