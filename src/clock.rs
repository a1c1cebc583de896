//! The one source of "now".
//!
//! Production reads the system clock; tests pin it and move it forward, so expiry,
//! lockout and same-second revocation can be tested without sleeping. Nothing else
//! in the crate calls `SystemTime::now()`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, the unit every stored timestamp uses.
pub type Micros = i64;

/// A cheap-to-clone handle on the current time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None` reads the system clock; `Some` holds a pinned time in microseconds.
    pinned: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The real clock.
    pub fn system() -> Self {
        Self { pinned: None }
    }

    /// A clock pinned at `unix_secs`, moved only by [`Clock::advance`].
    pub fn pinned(unix_secs: i64) -> Self {
        Self { pinned: Some(Arc::new(AtomicI64::new(unix_secs.saturating_mul(1_000_000)))) }
    }

    /// Moves a pinned clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(p) = &self.pinned {
            let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
            p.fetch_add(micros, Ordering::SeqCst);
        }
    }

    /// Now, in microseconds since the epoch.
    pub fn now_micros(&self) -> Micros {
        match &self.pinned {
            Some(p) => p.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }

    /// Now, in whole seconds since the epoch (JWT `iat`/`exp` unit).
    pub fn now_secs(&self) -> i64 {
        self.now_micros().div_euclid(1_000_000)
    }
}

/// Formats a timestamp as RFC 3339 in UTC with microseconds, as Pydantic does for
/// an aware datetime (`2026-11-29T06:33:05.123456Z`).
pub fn rfc3339(micros: Micros) -> String {
    let t = if micros >= 0 { UNIX_EPOCH + Duration::from_micros(micros.unsigned_abs()) } else { UNIX_EPOCH };
    humantime::format_rfc3339_micros(t).to_string()
}

/// Parses an RFC 3339 date-time (§5.6: `2026-11-01T00:00:00Z`,
/// `2026-11-01t01:00:00.5+01:00`, any year 0000–9999) into microseconds since the
/// epoch, negative before 1970; digits past the microsecond are dropped. A leap
/// second (`:60`) is accepted where RFC 3339 allows one, at 23:59 UTC, and read as
/// the second after. Anything else (no offset, a space for `T`) is `None`.
pub fn parse_rfc3339(s: &str) -> Option<Micros> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() || (b[4], b[7], b[13], b[16]) != (b'-', b'-', b':', b':') {
        return None;
    }
    if !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (year, month, day) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let (hour, minute, second) = (digits(&s[11..13])?, digits(&s[14..16])?, digits(&s[17..19])?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (fraction, zone) = split_fraction(&s[19..])?;
    let offset_minutes = match zone.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(&zone[1..3])?, digits(&zone[4..6])?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    if second == 60 && (hour * 60 + minute - offset_minutes).rem_euclid(1440) != 1439 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_minutes * 60;
    let micros = digits(format!("{fraction:0<6}").get(..6)?)?;
    Some(secs * 1_000_000 + micros)
}

/// A run of ASCII digits as a number (no sign, no spaces).
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `.digits` (at least one) at the start of `rest`, and what follows: the digits
/// ("" without a fraction) and the zone.
fn split_fraction(rest: &str) -> Option<(&str, &str)> {
    let Some(after_dot) = rest.strip_prefix('.') else { return Some(("", rest)) };
    let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
    (n > 0).then(|| after_dot.split_at(n))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_clock_moves_only_when_advanced() {
        let c = Clock::pinned(1_000);
        assert_eq!(c.now_secs(), 1_000);
        c.advance(Duration::from_millis(1_500));
        assert_eq!(c.now_secs(), 1_001);
        assert_eq!(c.now_micros(), 1_001_500_000);
    }

    #[test]
    fn parses_rfc3339() {
        let p = parse_rfc3339;
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2023-11-14T22:13:20.123456Z"), Some(1_700_000_000_123_456));
        assert_eq!(p(&rfc3339(1_700_000_000_123_456)), Some(1_700_000_000_123_456));
        // Offsets, lower case, fractions of any length, years before 1970.
        assert_eq!(p("2023-11-14t23:13:20+01:00"), Some(1_700_000_000_000_000));
        assert_eq!(p("2023-11-14T21:43:20.5-00:30"), Some(1_700_000_000_500_000));
        assert_eq!(p("2023-11-14T22:13:20.1234567891z"), Some(1_700_000_000_123_456));
        assert_eq!(p("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(p("0000-03-01T00:00:00Z"), Some(-62_162_035_200_000_000));
        assert_eq!(p("1005-03-28T01:24:36+15:08"), Some(-30_445_076_604_000_000));
        assert_eq!(p("2000-02-29T00:00:00Z"), Some(951_782_400_000_000));
        // A leap second only at 23:59 UTC, read as the next second.
        assert_eq!(p("2016-12-31T23:59:60Z"), p("2017-01-01T00:00:00Z"));
        assert_eq!(p("2016-12-31T15:59:60-08:00"), p("2017-01-01T00:00:00Z"));
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20+24:00",
            "2023-11-14T24:00:00Z",
            "2023-11-14T12:00:60Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-11-00T00:00:00Z",
            "+023-11-14T22:13:20Z",
            "2023-11-14T22:13:20Z ",
            "２023-11-14T22:13:20Z",
            "yesterday",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_like_pydantic() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
    }
}
