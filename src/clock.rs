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
    fn formats_like_pydantic() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
    }
}
