//! Delimiters declared by MSH-1 and MSH-2 (HL7 v2.5 §2.5.4, v2.7 §2.5.4 truncation character).

use crate::message::ParseError;

/// The delimiters a message declares for itself in MSH-1 (field separator) and MSH-2
/// (encoding characters, in the order component, repetition, escape, subcomponent, truncation).
///
/// When MSH-2 declares only the component separator, `repetition` is set to the field
/// separator: a field never contains the field separator, so no field is split into
/// repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    /// Field separator (MSH-1, usually `|`).
    pub field: u8,
    /// Component separator (MSH-2 first character, usually `^`).
    pub component: u8,
    /// Repetition separator (MSH-2 second character, usually `~`).
    pub repetition: u8,
    /// Escape character (MSH-2 third character, usually `\`), if declared.
    pub escape: Option<u8>,
    /// Subcomponent separator (MSH-2 fourth character, usually `&`), if declared.
    pub subcomponent: Option<u8>,
    /// Truncation character (MSH-2 fifth character, v2.7 `#`), if declared.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    /// `|^~\&` with no truncation character.
    fn default() -> Self {
        Self {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
            truncation: None,
        }
    }
}

/// Maximum number of encoding characters in MSH-2 (v2.7 adds the truncation character).
pub(crate) const MAX_ENCODING_CHARS: usize = 5;

/// A delimiter must be printable ASCII punctuation: not alphanumeric, not a space, never CR/LF.
fn usable(b: u8) -> bool {
    b.is_ascii_punctuation()
}

impl Delimiters {
    /// Read MSH-1 and MSH-2 from the start of a segment that begins with `MSH`.
    ///
    /// Returns the delimiters and the offset just past MSH-2 (the field separator that opens
    /// MSH-3, or the end of the segment). `seg` must already be cut at the segment terminator.
    pub(crate) fn from_msh(seg: &[u8]) -> Result<(Self, usize), ParseError> {
        let field = *seg.get(3).ok_or(ParseError::BadDelimiters)?;
        if !usable(field) {
            return Err(ParseError::BadDelimiters);
        }
        let enc_start = 4;
        let rest = seg.get(enc_start..).unwrap_or(&[]);
        let enc_len = rest.iter().position(|&b| b == field).unwrap_or(rest.len());
        if enc_len == 0 || enc_len > MAX_ENCODING_CHARS {
            return Err(ParseError::BadDelimiters);
        }
        let enc = rest.get(..enc_len).ok_or(ParseError::BadDelimiters)?;
        for (i, &b) in enc.iter().enumerate() {
            // Distinct, usable, and different from the field separator.
            if !usable(b) || b == field || enc.get(..i).is_some_and(|prev| prev.contains(&b)) {
                return Err(ParseError::BadDelimiters);
            }
        }
        let component = *enc.first().ok_or(ParseError::BadDelimiters)?;
        let delims = Self {
            field,
            component,
            repetition: enc.get(1).copied().unwrap_or(field),
            escape: enc.get(2).copied(),
            subcomponent: enc.get(3).copied(),
            truncation: enc.get(4).copied(),
        };
        Ok((delims, enc_start + enc_len))
    }

    /// True when `b` is one of the separators or the escape or truncation character.
    pub fn is_delimiter(&self, b: u8) -> bool {
        b == self.field
            || b == self.component
            || b == self.repetition
            || Some(b) == self.escape
            || Some(b) == self.subcomponent
            || Some(b) == self.truncation
    }
}
