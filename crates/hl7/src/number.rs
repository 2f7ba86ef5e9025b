//! HL7 NM data type (HL7 v2.5 §2A.3.47): optional sign, digits, optional decimal point.

/// Longest NM text accepted by [`crate::Value::as_number`], after trimming spaces.
pub const MAX_NUMBER_LEN: usize = 64;

/// The NM grammar (optional sign, digits, optional `.` and digits), for numbers too long for
/// [`short_decimal`].
fn is_nm(text: &[u8]) -> bool {
    let body = match text.first() {
        Some(b'+' | b'-') => text.get(1..).unwrap_or_default(),
        _ => text,
    };
    let mut dot = false;
    body.iter().all(|&b| match b {
        b'0'..=b'9' => true,
        b'.' if !dot => {
            dot = true;
            true
        }
        _ => false,
    })
}

/// Parse NM text; `None` when it is not a number or longer than [`MAX_NUMBER_LEN`].
///
/// Numbers are read for every quantity of every order, so the common case takes
/// [`short_decimal`]; only longer numbers are checked against the grammar and given to
/// `str::parse`.
pub(crate) fn parse_nm(text: &[u8]) -> Option<f64> {
    let text = text.trim_ascii();
    if text.is_empty() || text.len() > MAX_NUMBER_LEN {
        return None;
    }
    if let Some(value) = short_decimal(text) {
        return Some(value);
    }
    if !is_nm(text) {
        return None;
    }
    let s = core::str::from_utf8(text).ok()?;
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A bare decimal (optional sign, 1 to 15 digits with at most one `.`, nothing else, not even
/// spaces) read in one pass; `None` for anything else, which callers send to their general
/// reader. With at most 15 digits the value is `digits / 10^decimals`: both are exact in an
/// `f64` and IEEE division rounds correctly, so this is the value `str::parse` gives
/// (Clinger's fast path).
pub fn short_decimal(text: &[u8]) -> Option<f64> {
    let (negative, body) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, text),
    };
    let (mut digits, mut count, mut decimals) = (0u64, 0usize, None::<usize>);
    for &b in body {
        match b {
            b'0'..=b'9' if count < 15 => {
                digits = digits * 10 + u64::from(b - b'0');
                count += 1;
                if let Some(d) = decimals.as_mut() {
                    *d += 1;
                }
            }
            b'.' if decimals.is_none() => decimals = Some(0),
            _ => return None,
        }
    }
    if count == 0 {
        return None;
    }
    let value = digits as f64 / POW10.get(decimals.unwrap_or(0)).copied()?;
    Some(if negative { -value } else { value })
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

#[cfg(test)]
mod tests {
    use super::{is_nm, parse_nm};
    use nom::{
        IResult, Parser,
        character::complete::{digit0, one_of},
        combinator::{all_consuming, opt, recognize},
        sequence::pair,
    };

    /// The NM grammar in nom, the reference [`is_nm`] is tested against.
    fn nm(input: &[u8]) -> IResult<&[u8], &[u8]> {
        all_consuming(recognize((
            opt(one_of("+-")),
            digit0,
            opt(pair(nom::character::complete::char('.'), digit0)),
        )))
        .parse(input)
    }

    #[test]
    fn loop_grammar_is_the_nom_grammar() {
        let alphabet = [b'+', b'-', b'.', b'0', b'7', b'e', b' '];
        // Every string of up to four symbols from an alphabet that covers each branch.
        let mut inputs = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = inputs
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            inputs.extend(longer);
        }
        inputs.sort();
        inputs.dedup();
        assert!(inputs.len() > 2000);
        for input in &inputs {
            assert_eq!(
                is_nm(input),
                nm(input).is_ok(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            // The single-pass reader accepts exactly the grammar's numbers with a digit.
            let trimmed = input.trim_ascii();
            assert_eq!(
                parse_nm(input).is_some(),
                is_nm(trimmed) && trimmed.iter().any(u8::is_ascii_digit),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn fast_path_is_str_parse() {
        // Every sign, digit count up to and past the fast path's 15, every decimal position.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 1 + (seed % 18) as usize;
            let mut text: Vec<u8> = (0..len)
                .map(|i| b'0' + ((seed >> (i * 3 % 60)) % 10) as u8)
                .collect();
            if seed & 0x100 != 0 {
                text.insert(((seed >> 20) as usize) % (len + 1), b'.');
            }
            match (seed >> 40) % 3 {
                0 => text.insert(0, b'-'),
                1 => text.insert(0, b'+'),
                _ => {}
            }
            let reference = core::str::from_utf8(&text)
                .ok()
                .and_then(|s| s.parse::<f64>().ok());
            let got = parse_nm(&text);
            assert_eq!(
                got.map(f64::to_bits),
                reference.map(f64::to_bits),
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }

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
