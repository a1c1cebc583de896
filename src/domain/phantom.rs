//! Lockout for names without a usable account. A locked account's login answer
//! says so (`Retry-After`), so its owner knows to wait; if unknown and deactivated
//! names never got that answer, the hint would tell an attacker which usernames
//! exist. So failed logins for those names are counted here, in memory, exactly as
//! an account's are, and lock "them" the same way: from outside, a name that does
//! not exist behaves like one whose password is never guessed.
//!
//! With a store several instances share (PostgreSQL), the counts live in the store
//! instead ([`Auth::phantom_fail`]), counted in the failing login's own transaction
//! with the same rule, so they are exact across instances as an account's are;
//! they are short-lived state there too (an unlogged table, aged out by cleanup).
//!
//! Bounded in bytes, whatever names are tried: a name is kept only as a 16-byte
//! digest of its folded form (the caller refuses names longer than any account's
//! before they get here), at most [`CAPACITY`] of them ([`MAX_BYTES`] with the
//! table's own overhead). An entry ages out with the lock window — `lockout` after
//! its last failure, or when its lock ends — as an account's failures do; when the
//! table is full, aged entries go first, then everything (an attacker who can fill
//! it can also just try real names).

use super::{Auth, Error};
use crate::clock::Micros;
use crate::crypto::secrets::sha256;
use crate::store::records::shared::PhantomRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;

/// Names tracked at most.
pub const CAPACITY: usize = 10_000;
/// What the table may occupy at most, in bytes (asserted by a test).
pub const MAX_BYTES: usize = 1 << 20;

/// A name as the table keys it.
type Digest = [u8; 16];

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    last_failure: Micros,
    locked_until: Option<Micros>,
}

impl Entry {
    /// Whether the entry no longer matters at `now`: its lock ended, or (unlocked)
    /// its last failure is a whole lock window old.
    fn aged(&self, now: Micros, window: Micros) -> bool {
        match self.locked_until {
            Some(until) => until <= now,
            None => now.saturating_sub(self.last_failure) >= window,
        }
    }

    /// Counts one failure at `now`; the seconds until the lock ends when the name
    /// is locked (already, or by this failure), as an account would be after `max`
    /// failures within the lock `window`.
    fn fail(&mut self, now: Micros, max: u32, window: Micros) -> Option<u64> {
        if let Some(until) = self.locked_until {
            if until > now {
                return Some(secs_until(until, now));
            }
        }
        if self.aged(now, window) {
            // An expired lock, or failures a whole window old: count afresh, as
            // for an account.
            *self = Entry::default();
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        if self.failures >= max {
            let until = now.saturating_add(window);
            self.locked_until = Some(until);
            return Some(secs_until(until, now));
        }
        None
    }
}

impl From<PhantomRecord> for Entry {
    fn from(r: PhantomRecord) -> Self {
        Entry { failures: r.failures, last_failure: r.last_failure, locked_until: r.locked_until }
    }
}

impl From<Entry> for PhantomRecord {
    fn from(e: Entry) -> Self {
        PhantomRecord { failures: e.failures, last_failure: e.last_failure, locked_until: e.locked_until }
    }
}

/// Failed logins per folded name without an account.
#[derive(Debug, Default)]
pub struct PhantomLocks {
    names: Mutex<HashMap<Digest, Entry>>,
}

fn digest(folded: &str) -> Digest {
    let full = sha256(folded.as_bytes());
    let mut d = [0u8; 16];
    d.copy_from_slice(&full[..16]);
    d
}

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl PhantomLocks {
    /// Records a failed login for the folded `name` at `now`; returns the seconds
    /// until the lock ends when the name is locked (already, or by this failure), as
    /// an account would be after `max` failures within the lock window `lockout`.
    pub fn fail(&self, name: &str, now: Micros, max: u32, lockout: Duration) -> Option<u64> {
        if max == 0 {
            return None;
        }
        let window = micros(lockout);
        let key = digest(name);
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if names.len() >= CAPACITY && !names.contains_key(&key) {
            names.retain(|_, e| !e.aged(now, window));
            if names.len() >= CAPACITY {
                names.clear();
            }
        }
        names.entry(key).or_default().fail(now, max, window)
    }

    /// Drops aged entries (called by the cleanup task); returns how many.
    pub fn sweep(&self, now: Micros, lockout: Duration) -> usize {
        let window = micros(lockout);
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let before = names.len();
        names.retain(|_, e| !e.aged(now, window));
        before - names.len()
    }

    /// Names tracked now (for tests).
    pub fn len(&self) -> usize {
        self.names.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no name is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the table's storage occupies now: its buckets (key, entry and one
    /// control byte each; a map of capacity c has c·8/7 of them), however long the
    /// names tried were.
    pub fn bytes(&self) -> usize {
        let slot = std::mem::size_of::<(Digest, Entry)>() + 1;
        (self.names.lock().unwrap_or_else(PoisonError::into_inner).capacity() * 8).div_ceil(7) * slot
    }
}

impl Auth {
    /// A failed login for the folded `name` without a usable account: counted in
    /// memory, or in the store when other instances share it.
    pub(super) fn phantom_fail(&self, name: &str, now: Micros) -> Result<Option<u64>, Error> {
        let (max, lockout) = (self.policy.max_failed_logins, self.policy.lockout);
        if !self.store.is_shared() {
            return Ok(self.phantom.fail(name, now, max, lockout));
        }
        if max == 0 {
            return Ok(None);
        }
        let key = digest(name);
        self.store.write(|tx| {
            let mut e: Entry = tx.phantom(&key)?.map(Entry::from).unwrap_or_default();
            let locked = e.fail(now, max, micros(lockout));
            tx.put_phantom(&key, Some(&e.into()))?;
            Ok(locked)
        })
    }

    /// Forgets failed logins of names without an account once they have aged out
    /// (called by the cleanup task); returns how many names were dropped.
    pub fn sweep_phantoms(&self) -> usize {
        let (now, lockout) = (self.clock.now_micros(), self.policy.lockout);
        if !self.store.is_shared() {
            return self.phantom.sweep(now, lockout);
        }
        let window = micros(lockout);
        let swept = self.store.write(|tx| {
            tx.purge_phantoms(&|r: &PhantomRecord| Entry::from(*r).aged(now, window), SWEEP_BATCH)
        });
        swept.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not forget aged failed logins of unknown names");
            0
        })
    }
}

/// Names forgotten per sweep of a shared store.
const SWEEP_BATCH: usize = 10_000;

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
    fn failures_age_out_with_the_lock_window() {
        let p = PhantomLocks::default();
        let lockout = Duration::from_secs(1800);
        for i in 0..4 {
            assert_eq!(p.fail("ghost", i * MIN, 5, lockout), None);
        }
        // 30 minutes after the last failure, the four are forgotten.
        assert_eq!(p.fail("ghost", 33 * MIN, 5, lockout), None);
        for i in 0..3 {
            assert_eq!(p.fail("ghost", 34 * MIN + i, 5, lockout), None);
        }
        assert_eq!(p.fail("ghost", 35 * MIN, 5, lockout), Some(1800), "five within the window lock");
        assert_eq!(p.sweep(35 * MIN + 1, lockout), 0, "locked: kept");
        p.fail("brief", 40 * MIN, 5, lockout);
        assert_eq!(p.sweep(65 * MIN, lockout), 1, "the lock ended: swept");
        assert_eq!(p.sweep(70 * MIN, lockout), 1, "a failure 30 minutes old: swept");
        assert!(p.is_empty());
    }

    #[test]
    fn stays_bounded_in_entries_and_bytes() {
        let p = PhantomLocks::default();
        for i in 0..(CAPACITY + 10) {
            p.fail(&format!("name{i}-{}", "x".repeat(40)), 0, 5, Duration::from_secs(60));
            assert!(p.len() <= CAPACITY, "{}", p.len());
        }
        assert!(p.bytes() <= MAX_BYTES, "{} bytes", p.bytes());
    }

    #[test]
    fn names_are_kept_as_digests() {
        let p = PhantomLocks::default();
        p.fail(&"a".repeat(50), 0, 5, Duration::from_secs(60));
        let names = p.names.lock().unwrap();
        assert_eq!(names.keys().map(|k| k.len()).collect::<Vec<_>>(), [16]);
    }

    #[test]
    fn a_poisoned_table_still_counts_and_locks() {
        let p = PhantomLocks::default();
        let lockout = Duration::from_secs(1800);
        // A panic while the table is held poisons its lock.
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let _held = p.names.lock();
                panic!("a panic elsewhere, holding the table");
            })
            .join()
        });
        assert!(p.names.is_poisoned());
        for i in 0..4 {
            assert_eq!(p.fail("ghost", i * MIN, 5, lockout), None);
        }
        assert_eq!(p.fail("ghost", 5 * MIN, 5, lockout), Some(1800), "lockout is never skipped");
    }
}
