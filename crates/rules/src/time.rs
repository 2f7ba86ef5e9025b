//! HL7 timestamps (DTM: `YYYYMMDD[HH[MM[SS[.S+]]]][+/-ZZZZ]`) to Unix milliseconds, for the
//! stale-order rule. No clock is read here: "now" is always passed in.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parse an HL7 DTM to Unix milliseconds. A timestamp without an offset is read in
/// `default_offset_minutes` (the sender's local time, as configured). `None` if malformed.
pub fn parse_hl7_ts(text: &str, default_offset_minutes: i32) -> Option<i64> {
    let text = text.trim().as_bytes();
    let (body, offset) = match text.iter().position(|&b| b == b'+' || b == b'-') {
        Some(i) => {
            let (b, o) = text.split_at(i);
            let sign = if o.first() == Some(&b'-') { -1 } else { 1 };
            let zone = o.get(1..)?;
            if zone.len() != 4 {
                return None;
            }
            let hh = digits(zone.get(..2)?)? as i32;
            let mm = digits(zone.get(2..)?)? as i32;
            if hh > 14 || mm > 59 {
                return None;
            }
            (b, sign * (hh * 60 + mm))
        }
        None => (text, default_offset_minutes),
    };
    let (whole, fraction) = match body.iter().position(|&b| b == b'.') {
        Some(i) => (body.get(..i)?, body.get(i + 1..)),
        None => (body, None),
    };
    if whole.len() < 8 || whole.len() > 14 || whole.len() % 2 != 0 {
        return None;
    }
    let part = |r: std::ops::Range<usize>| whole.get(r).map_or(Some(0), digits);
    let y = i64::from(digits(whole.get(..4)?)?);
    let mo = digits(whole.get(4..6)?)?;
    let d = digits(whole.get(6..8)?)?;
    let (h, mi, s) = (part(8..10)?, part(10..12)?, part(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let ms = match fraction {
        Some(f) if !f.is_empty() && f.len() <= 4 && f.iter().all(u8::is_ascii_digit) => {
            let mut v = digits(f)? as i64;
            for _ in f.len()..3 {
                v *= 10;
            }
            if f.len() == 4 {
                v /= 10;
            }
            v
        }
        Some(_) => return None,
        None => 0,
    };
    let secs = days_from_civil(y, mo, d) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s)
        - i64::from(offset) * 60;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dtm_with_and_without_offset() {
        // 2026-11-29T08:14:00Z
        assert_eq!(parse_hl7_ts("20261129081400", 0), Some(1_795_940_040_000));
        assert_eq!(
            parse_hl7_ts("20261129081400+0000", 0),
            Some(1_795_940_040_000)
        );
        assert_eq!(
            parse_hl7_ts("20261129091400+0100", 0),
            Some(1_795_940_040_000)
        );
        assert_eq!(
            parse_hl7_ts("20261129031400", -300),
            Some(1_795_940_040_000)
        );
        assert_eq!(parse_hl7_ts("20261129081400.5", 0), Some(1_795_940_040_500));
        assert_eq!(parse_hl7_ts("20261129", 0), Some(1_795_910_400_000));
    }

    #[test]
    fn refuses_malformed_timestamps() {
        for bad in [
            "",
            "2026",
            "202611290814001",
            "20261329081400",
            "20261129251400",
            "2026112908140O",
            "20261129081400+01",
            "20261129081400.12345",
        ] {
            assert_eq!(parse_hl7_ts(bad, 0), None, "{bad}");
        }
    }
}
