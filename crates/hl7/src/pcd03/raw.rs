//! Raw-field helpers of the PCD-03 reader: fields and components split in one pass,
//! UTF-8 validated once per segment, decoded only where an escape makes it necessary.

use std::borrow::Cow;

use super::Coded;
use crate::message::Located;
use crate::segment::find_byte;
use crate::{Delimiters, Field, Value};

/// Components 1-6 of a repetition's plain text (see [`crate::Repetition`]'s `plain_text`),
/// `""` beyond the last, split in one pass.
pub(super) fn plain_components(text: &str, sep: Option<u8>) -> [&str; 6] {
    let mut out = [""; 6];
    let Some(sep) = sep else {
        out[0] = text;
        return out;
    };
    let mut slots = out.iter_mut();
    crate::segment::for_each_piece(text.as_bytes(), sep, 6, |start, end| {
        if let Some(slot) = slots.next() {
            // `sep` is ASCII, so both sides of it are on character boundaries.
            *slot = text.get(start..end).unwrap_or("");
        }
    });
    out
}

// The reader works on raw field bytes: for every piece it reads, an absent field, an
// empty one and one beyond the last are the same (no value), so fields are plain slices,
// `b""` when absent, and everything is split in one pass per level.

/// A raw field: as text when its segment is UTF-8 and the separators that split it are
/// ASCII (so every piece is UTF-8 too: one validation per segment instead of per value),
/// else as bytes, read through the general accessors.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> Raw<'a> {
    pub(super) fn bytes(self) -> &'a [u8] {
        match self {
            Raw::Text(t) => t.as_bytes(),
            Raw::Bytes(b) => b,
        }
    }

    /// The general (decoding) reading of this field.
    pub(super) fn field(self, delims: &Delimiters) -> Field<'a> {
        Field::new(self.bytes(), *delims)
    }
}

/// Whether the separators the text path splits on are ASCII (then every piece of UTF-8 text
/// split on them is UTF-8).
pub(super) fn ascii_separators(delims: &Delimiters) -> bool {
    [delims.field, delims.repetition, delims.component]
        .iter()
        .all(u8::is_ascii)
}

/// The fields of a (non-MSH) segment, found from the separator offsets the parse recorded,
/// as text when they are UTF-8 (and the separators ASCII).
pub(super) struct Fields<'m, 'a> {
    segment: Located<'m, 'a>,
    /// The segment as text, when known to be UTF-8.
    text: Option<&'a str>,
    /// Without `text`, whether to validate each field read on its own.
    check_each: bool,
}

impl<'m, 'a> Fields<'m, 'a> {
    /// The segment's text from `message` (the message from an offset on, as text, when it is
    /// UTF-8 and its separators ASCII: validated once for every segment read), else, with
    /// `check_each` false, the whole segment validated at once (for segments where most
    /// fields are read) or, with `check_each`, every field read validated on its own.
    pub(super) fn new(
        segment: Located<'m, 'a>,
        message: Option<(usize, &'a str)>,
        delims: &Delimiters,
        check_each: bool,
    ) -> Self {
        let start = segment.start();
        let text = match message {
            Some((base, m)) => start
                .checked_sub(base)
                .and_then(|from| m.get(from..from + segment.raw().len())),
            None if check_each || !ascii_separators(delims) => None,
            None => core::str::from_utf8(segment.raw()).ok(),
        };
        Self {
            segment,
            text,
            check_each: check_each && text.is_none() && ascii_separators(delims),
        }
    }

    /// Field `n` (HL7 numbering), empty when absent.
    pub(super) fn get(&self, n: usize) -> Raw<'a> {
        let Some(range) = self.segment.field_range(n) else {
            return Raw::Bytes(&[]);
        };
        // An ASCII separator sits on character boundaries, so `get` never fails here.
        if let Some(t) = self.text.and_then(|t| t.get(range.clone())) {
            return Raw::Text(t);
        }
        let bytes = self.segment.raw().get(range).unwrap_or_default();
        if self.check_each {
            if let Ok(t) = core::str::from_utf8(bytes) {
                return Raw::Text(t);
            }
        }
        Raw::Bytes(bytes)
    }
}

/// The text before the first `sep` in `text` (all of it without one).
pub(super) fn before(text: &str, sep: u8) -> Option<&str> {
    match find_byte(sep, text.as_bytes()) {
        Some(end) => text.get(..end),
        None => Some(text),
    }
}

/// True when `raw` has no escape character, i.e. decodes to itself.
pub(super) fn unescaped(raw: &[u8], delims: &Delimiters) -> bool {
    delims.escape.is_none_or(|e| find_byte(e, raw).is_none())
}

/// [`Coded::from_field`] of a raw (non-MSH) field.
pub(super) fn coded<'a>(field: Raw<'a>, delims: &Delimiters) -> Coded<'a> {
    if let Raw::Text(text) = field {
        // The plain case of `Coded::from_field`, without building the views.
        let rep = before(text, delims.repetition).filter(|r| unescaped(r.as_bytes(), delims));
        if let Some(rep) = rep {
            return Coded::from_plain(rep, Some(delims.component));
        }
    }
    Coded::from_field(Some(field.field(delims)))
}

/// [`Value::text`] of a raw value, borrowed without a second UTF-8 check when it is text.
pub(super) fn text_of<'a>(raw: Raw<'a>, delims: &Delimiters) -> Cow<'a, str> {
    match raw {
        Raw::Text(t) if unescaped(t.as_bytes(), delims) => Cow::Borrowed(t),
        _ => Value::new(raw.bytes(), *delims).text(),
    }
}

/// Whether raw OBX-3 names the observation `code` / `name` (either triplet; both ASCII).
/// Compared on the raw bytes when nothing needs decoding (every OBX of every order is tested
/// this way): a component that is not UTF-8 has a non-ASCII byte, so it equals neither, as
/// its decoded text would not.
pub(super) fn observation_is(field: &[u8], delims: &Delimiters, code: &str, name: &str) -> bool {
    // Usually OBX-3.1 is the code itself: a raw first component equal to it (an ASCII code
    // without the escape character decodes to itself) answers at once.
    let code_bytes = code.as_bytes();
    if let Some(after) = field.strip_prefix(code_bytes) {
        let ends = after
            .first()
            .is_none_or(|&b| b == delims.component || b == delims.repetition);
        let plain_code = delims.escape.is_none_or(|e| !code_bytes.contains(&e));
        if ends && plain_code {
            return true;
        }
    }
    let rep = match find_byte(delims.repetition, field) {
        Some(end) => field.get(..end).unwrap_or_default(),
        None => field,
    };
    if !unescaped(rep, delims) {
        return Coded::from_field(Some(Field::new(field, *delims))).names(code, name);
    }
    let mut comps: [&[u8]; 5] = [&[]; 5];
    let mut slots = comps.iter_mut();
    crate::segment::for_each_piece(rep, delims.component, 5, |start, end| {
        if let Some(slot) = slots.next() {
            *slot = rep.get(start..end).unwrap_or_default();
        }
    });
    let [id, text, _, alt_id, alt_text] = comps;
    let (code, name) = (code.as_bytes(), name.as_bytes());
    id == code || alt_id == code || text == name || alt_text == name
}

/// Component 1 of the first repetition of a raw field, as text; `None` when empty.
pub(super) fn first_text<'a>(field: Raw<'a>, delims: &Delimiters) -> Option<Cow<'a, str>> {
    let comp = match field {
        // Component 1 of repetition 1 ends at whichever separator comes first.
        Raw::Text(t) => {
            match crate::segment::find_either(delims.repetition, delims.component, t.as_bytes()) {
                Some(end) => t.get(..end).map(Raw::Text),
                None => Some(Raw::Text(t)),
            }
        }
        Raw::Bytes(_) => None,
    };
    let comp = match comp {
        Some(comp) => comp,
        None => Raw::Bytes(field.field(delims).component(1)?.raw()),
    };
    (!comp.bytes().is_empty()).then(|| text_of(comp, delims))
}
