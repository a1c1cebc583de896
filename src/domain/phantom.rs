//! Lockout for names without a usable account. A locked account's login answer
//! says so (`Retry-After`), so its owner knows to wait; if unknown and deactivated
//! names never got that answer, the hint would tell an attacker which usernames
//! exist. So failed logins for those names are counted here, in memory, exactly as
//! an account's are, and lock "them" the same way: from outside, a name that does
//! not exist behaves like one whose password is never guessed.
//!
//! Bounded: at most [`CAPACITY`] names are tracked; when full, expired and
//! unlocked entries go first, then everything (an attacker who can fill the table
//! can also just try real names).

use crate::clock::Micros;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Names tracked at most.
pub const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    locked_until: Option<Micros>,
}

/// Failed logins per folded name without an account.
#[derive(Debug, Default)]
pub struct PhantomLocks {
    names: Mutex<HashMap<String, Entry>>,
}

impl PhantomLocks {
    /// Records a failed login for `name` at `now`; returns the seconds until the
    /// lock ends when the name is locked (already, or by this failure), as an
    /// account would be after `max` failures in a row for `lockout`.
    pub fn fail(&self, name: &str, now: Micros, max: u32, lockout: Duration) -> Option<u64> {
        if max == 0 {
            return None;
        }
        let Ok(mut names) = self.names.lock() else { return None };
        if names.len() >= CAPACITY && !names.contains_key(name) {
            names.retain(|_, e| e.locked_until.is_some_and(|t| t > now));
            if names.len() >= CAPACITY {
                names.clear();
            }
        }
        let e = names.entry(name.to_owned()).or_default();
        if let Some(until) = e.locked_until {
            if until > now {
                return Some(secs_until(until, now));
            }
            // An expired lock: start counting afresh, as for an account.
            *e = Entry::default();
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures >= max {
            let until = now.saturating_add(i64::try_from(lockout.as_micros()).unwrap_or(i64::MAX));
            e.locked_until = Some(until);
            return Some(secs_until(until, now));
        }
        None
    }

    /// Names tracked now (for tests).
    pub fn len(&self) -> usize {
        self.names.lock().map_or(0, |n| n.len())
    }

    /// Whether no name is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whole seconds from `now` to `until` (at least 1).
pub fn secs_until(until: Micros, now: Micros) -> u64 {
    u64::try_from(until.saturating_sub(now)).unwrap_or(0).div_ceil(1_000_000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    #[test]
    fn locks_like_an_account_and_unlocks_after_the_lockout() {
        let p = PhantomLocks::default();
        let lockout = Duration::from_secs(1800);
        for _ in 0..4 {
            assert_eq!(p.fail("ghost", 0, 5, lockout), None);
        }
        assert_eq!(p.fail("ghost", 0, 5, lockout), Some(1800));
        assert_eq!(p.fail("ghost", 10 * MIN, 5, lockout), Some(1200), "counting down, not extended");
        assert_eq!(p.fail("ghost", 30 * MIN, 5, lockout), None, "after the lock, counting starts afresh");
        assert_eq!(p.fail("other", 0, 0, lockout), None, "lockout off");
    }

    #[test]
    fn stays_bounded() {
        let p = PhantomLocks::default();
        for i in 0..(CAPACITY + 10) {
            p.fail(&format!("name{i}"), 0, 5, Duration::from_secs(60));
        }
        assert!(p.len() <= CAPACITY, "{}", p.len());
    }
}
