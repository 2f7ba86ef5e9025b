//! HL7 NM data type (HL7 v2.5 §2A.3.47): optional sign, digits, optional decimal point.

use nom::{
    IResult, Parser,
    character::complete::{digit0, one_of},
    combinator::{all_consuming, opt, recognize},
    sequence::pair,
};

/// Longest NM text accepted by [`crate::Value::as_number`], after trimming spaces.
pub const MAX_NUMBER_LEN: usize = 64;

fn nm(input: &[u8]) -> IResult<&[u8], &[u8]> {
    all_consuming(recognize((
        opt(one_of("+-")),
        digit0,
        opt(pair(nom::character::complete::char('.'), digit0)),
    )))
    .parse(input)
}

/// Parse NM text; `None` when it is not a number or longer than [`MAX_NUMBER_LEN`].
pub(crate) fn parse_nm(text: &[u8]) -> Option<f64> {
    let text = text.trim_ascii_start();
    let text = text.trim_ascii_end();
    if text.is_empty() || text.len() > MAX_NUMBER_LEN {
        return None;
    }
    let (_, matched) = nm(text).ok()?;
    if !matched.iter().any(u8::is_ascii_digit) {
        return None;
    }
    let s = core::str::from_utf8(matched).ok()?;
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::parse_nm;

    #[test]
    fn numbers() {
        assert_eq!(parse_nm(b"250"), Some(250.0));
        assert_eq!(parse_nm(b" -1.5 "), Some(-1.5));
        assert_eq!(parse_nm(b"+.5"), Some(0.5));
        assert_eq!(parse_nm(b"5."), Some(5.0));
        assert_eq!(parse_nm(b"."), None);
        assert_eq!(parse_nm(b"-"), None);
        assert_eq!(parse_nm(b"1e5"), None);
        assert_eq!(parse_nm(b"inf"), None);
        assert_eq!(parse_nm(b"NaN"), None);
        assert_eq!(parse_nm(b"1 2"), None);
        assert_eq!(parse_nm(b"0x10"), None);
        assert_eq!(parse_nm(&[b'9'; 65]), None);
        assert!(parse_nm(&[b'9'; 64]).is_some());
    }
}
