//! Escape sequences in text (HL7 v2.5 §2.7 "Use of escape sequences in text fields").

use std::borrow::Cow;

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::tag,
    character::complete::hex_digit1,
    combinator::{all_consuming, map, value},
    sequence::preceded,
};

use crate::Delimiters;

/// The meaning of one escape sequence body (the bytes between two escape characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sequence<'a> {
    /// `\F\` field separator.
    Field,
    /// `\S\` component separator.
    Component,
    /// `\T\` subcomponent separator.
    Subcomponent,
    /// `\R\` repetition separator.
    Repetition,
    /// `\E\` escape character.
    Escape,
    /// `\P\` truncation character (v2.7).
    Truncation,
    /// `\Xhh..\` hexadecimal bytes (digits only, not yet checked for even length).
    Hex(&'a [u8]),
    /// `\.br\` line break.
    LineBreak,
}

/// Recognize a whole escape body with nom; anything else is kept raw by the caller.
fn escape_body(input: &[u8]) -> IResult<&[u8], Sequence<'_>> {
    all_consuming(alt((
        value(Sequence::Field, tag(&b"F"[..])),
        value(Sequence::Component, tag(&b"S"[..])),
        value(Sequence::Subcomponent, tag(&b"T"[..])),
        value(Sequence::Repetition, tag(&b"R"[..])),
        value(Sequence::Escape, tag(&b"E"[..])),
        value(Sequence::Truncation, tag(&b"P"[..])),
        map(preceded(tag(&b"X"[..]), hex_digit1), Sequence::Hex),
        value(Sequence::LineBreak, tag(&b".br"[..])),
    )))
    .parse(input)
}

fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Append the decoded bytes of `body` to `out`; false when the sequence must be kept raw.
fn decode_body(body: &[u8], delims: &Delimiters, out: &mut Vec<u8>) -> bool {
    let Ok((_, esc)) = escape_body(body) else {
        return false;
    };
    let single = match esc {
        Sequence::Field => Some(delims.field),
        Sequence::Component => Some(delims.component),
        Sequence::Subcomponent => delims.subcomponent,
        Sequence::Repetition => Some(delims.repetition),
        Sequence::Escape => delims.escape,
        Sequence::Truncation => delims.truncation,
        Sequence::LineBreak => Some(b'\r'),
        Sequence::Hex(digits) => {
            if digits.len() % 2 != 0 {
                return false;
            }
            for pair in digits.chunks_exact(2) {
                let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
                    return false;
                };
                let (Some(hi), Some(lo)) = (hex_nibble(hi), hex_nibble(lo)) else {
                    return false;
                };
                out.push((hi << 4) | lo);
            }
            return true;
        }
    };
    match single {
        Some(b) => {
            out.push(b);
            true
        }
        None => false,
    }
}

/// Decode the escape sequences in `raw`; borrowed when there is nothing to decode.
///
/// Unknown, malformed or unterminated sequences are kept as they are.
pub(crate) fn decode<'a>(raw: &'a [u8], delims: &Delimiters) -> Cow<'a, [u8]> {
    let Some(esc) = delims.escape else {
        return Cow::Borrowed(raw);
    };
    if crate::segment::find_byte(esc, raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.iter().position(|&b| b == esc) {
        out.extend_from_slice(rest.get(..open).unwrap_or(&[]));
        let after = rest.get(open + 1..).unwrap_or(&[]);
        let Some(close) = after.iter().position(|&b| b == esc) else {
            // Unterminated: keep the remainder raw.
            out.extend_from_slice(rest.get(open..).unwrap_or(&[]));
            rest = &[];
            break;
        };
        let body = after.get(..close).unwrap_or(&[]);
        let mark = out.len();
        if !decode_body(body, delims, &mut out) {
            out.truncate(mark);
            out.push(esc);
            out.extend_from_slice(body);
            out.push(esc);
        }
        rest = after.get(close + 1..).unwrap_or(&[]);
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// Escape arbitrary text for a field using the given delimiters (HL7 v2.5 §2.7.1).
///
/// Delimiters become `\F\ \S\ \T\ \R\ \E\ \P\`; CR and LF become a space so that text can
/// never start a new segment. Without an escape character, delimiters become a space too.
pub fn escape_text(text: &[u8], delims: &Delimiters) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        let code = if b == b'\r' || b == b'\n' {
            out.push(b' ');
            continue;
        } else if b == delims.field {
            b'F'
        } else if b == delims.component {
            b'S'
        } else if Some(b) == delims.subcomponent {
            b'T'
        } else if b == delims.repetition {
            b'R'
        } else if Some(b) == delims.escape {
            b'E'
        } else if Some(b) == delims.truncation {
            b'P'
        } else {
            out.push(b);
            continue;
        };
        match delims.escape {
            Some(esc) => out.extend_from_slice(&[esc, code, esc]),
            None => out.push(b' '),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(raw: &[u8]) -> Vec<u8> {
        decode(raw, &Delimiters::default()).into_owned()
    }

    #[test]
    fn standard_sequences() {
        assert_eq!(d(br"a\F\b\S\c\T\d\R\e\E\f"), b"a|b^c&d~e\\f");
        assert_eq!(d(br"\X41\\X4142\"), b"AAB");
        assert_eq!(d(br"x\.br\y"), b"x\ry");
    }

    #[test]
    fn malformed_kept_raw() {
        assert_eq!(d(br"\X4\"), br"\X4\");
        assert_eq!(d(br"\XZZ\"), br"\XZZ\");
        assert_eq!(d(br"\H\bold\N\"), br"\H\bold\N\");
        assert_eq!(d(br"abc\F"), br"abc\F");
        assert_eq!(d(br"\\"), br"\\");
        // \P\ without a declared truncation character stays raw.
        assert_eq!(d(br"\P\"), br"\P\");
    }

    #[test]
    fn borrowed_when_plain() {
        assert!(matches!(
            decode(b"plain", &Delimiters::default()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escape_round_trip() {
        let delims = Delimiters {
            truncation: Some(b'#'),
            ..Delimiters::default()
        };
        let text = b"a|b^c~d\\e&f#g";
        let esc = escape_text(text, &delims);
        assert_eq!(esc, br"a\F\b\S\c\R\d\E\e\T\f\P\g");
        assert_eq!(decode(&esc, &delims).as_ref(), text);
        assert_eq!(escape_text(b"x\r\ny", &delims), b"x  y");
    }
}
