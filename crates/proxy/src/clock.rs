//! Wall-clock formatting for audit records and HL7 timestamps (UTC, no time-zone database).

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
    ms: u32,
}

fn parts(t: SystemTime) -> Parts {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        y,
        mo,
        d,
        h: rem / 3600,
        mi: rem % 3600 / 60,
        s: rem % 60,
        ms: since.subsec_millis(),
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-29T06:15:00.123Z`.
///
/// Written digit by digit: every audit line carries one, and `format!` with padding cost about
/// ten times as much.
pub fn rfc3339(t: SystemTime) -> String {
    let p = parts(t);
    let mut out = String::with_capacity(24);
    if (0..=9999).contains(&p.y) {
        digits(&mut out, p.y.unsigned_abs(), 4);
    } else {
        // Outside RFC 3339's four-digit years (a clock far off): still readable.
        out.push_str(&format!("{:04}", p.y));
    }
    for (sep, value, width) in [
        ('-', u64::from(p.mo), 2),
        ('-', u64::from(p.d), 2),
        ('T', p.h, 2),
        (':', p.mi, 2),
        (':', p.s, 2),
        ('.', u64::from(p.ms), 3),
    ] {
        out.push(sep);
        digits(&mut out, value, width);
    }
    out.push('Z');
    out
}

/// The last `width` decimal digits of `value`, zero padded.
fn digits(out: &mut String, value: u64, width: u32) {
    for place in (0..width).rev() {
        let d = (value / 10u64.pow(place)) % 10;
        out.push(char::from(b'0' + d as u8));
    }
}

/// HL7 DTM in UTC, e.g. `20261129061500+0000`.
pub fn hl7_timestamp(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}+0000",
        p.y, p.mo, p.d, p.h, p.mi, p.s
    )
}

/// Where wall-clock time comes from, so that time-bounded state (break-glass) can be tested by
/// moving a clock instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<SystemTime>);

impl ManualClock {
    /// A clock standing at `t`.
    pub fn at(t: SystemTime) -> Self {
        ManualClock(std::sync::Mutex::new(t))
    }

    /// Move the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_pads_every_part() {
        let t = UNIX_EPOCH + Duration::from_millis(1_000 * 86_400 * 31 + 3_723_004);
        assert_eq!(rfc3339(t), "1970-02-01T01:02:03.004Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_933_012_345);
        assert_eq!(rfc3339(t), "2026-11-29T06:16:52.345Z");
        assert_eq!(hl7_timestamp(t), "20261129061652+0000");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
