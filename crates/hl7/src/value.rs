//! A raw value at any level of the hierarchy, with the delimiters needed to decode it.

use std::borrow::Cow;

use crate::{Delimiters, escape, number};

pub use crate::number::MAX_NUMBER_LEN;

/// A leaf or any level's raw bytes with the delimiters needed to decode escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
    delims: Delimiters,
}

impl<'a> Value<'a> {
    /// A value over `raw`, decoded with `delims`.
    pub fn new(raw: &'a [u8], delims: Delimiters) -> Self {
        Self { raw, delims }
    }

    /// The bytes as they appear on the wire (escapes not decoded).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The delimiters used to decode this value.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// True when the raw value has no bytes.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Escape sequences decoded (HL7 v2.5 §2.7): `\F\ \S\ \T\ \R\ \E\`, `\P\` (truncation,
    /// v2.7), `\Xhh..\` hex and `\.br\` (to CR); other or malformed sequences are kept raw.
    /// Borrowed when there is nothing to decode.
    pub fn decoded(&self) -> Cow<'a, [u8]> {
        escape::decode(self.raw, &self.delims)
    }

    /// The decoded bytes as text: UTF-8 when valid, otherwise each byte read as ISO-8859-1,
    /// so this never fails.
    pub fn to_text(&self) -> String {
        bytes_to_text(&self.decoded())
    }

    /// Like [`Value::to_text`], but borrowed from the message when there is nothing to decode
    /// and the bytes are UTF-8 (the common case: no allocation).
    pub fn text(&self) -> Cow<'a, str> {
        match self.decoded() {
            Cow::Borrowed(bytes) => match core::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => Cow::Owned(bytes_to_text(bytes)),
            },
            Cow::Owned(bytes) => Cow::Owned(bytes_to_text(&bytes)),
        }
    }

    /// The decoded value parsed as an HL7 NM (optional sign, digits, optional `.` and digits;
    /// surrounding spaces trimmed). `None` if it is not a number or longer than
    /// [`MAX_NUMBER_LEN`] bytes.
    pub fn as_number(&self) -> Option<f64> {
        number::parse_nm(&self.decoded())
    }

    /// True when the decoded value equals `other`, ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, other: &[u8]) -> bool {
        self.decoded().eq_ignore_ascii_case(other)
    }
}

/// UTF-8 when valid, ISO-8859-1 otherwise (every byte maps to the code point of equal value).
pub(crate) fn bytes_to_text(bytes: &[u8]) -> String {
    match core::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}
