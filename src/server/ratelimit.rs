//! In-process rate limiting: the tutorial's sliding window, without Redis, in
//! bounded memory.
//!
//! Each key (a client address, or an API key) has a sliding-window counter: the
//! count in the current window plus the previous window's count weighted by how
//! much of it still overlaps the last `window`. Windows start at a key's first
//! request, so a burst is counted exactly. One entry is a few dozen bytes; the table
//! holds at most `capacity` keys and, when full, first drops idle keys and then the
//! stalest ones, so millions of distinct clients cannot grow it.

use crate::clock::Micros;
use crate::config::Rate;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::PoisonError;

/// The outcome of one check, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The limit (requests per window).
    pub limit: u32,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// Unix time (seconds) by which the window has fully reset.
    pub reset: i64,
    /// Seconds until a request would be allowed again (0 when allowed).
    pub retry_after: u64,
    /// Whether this is the key's first refusal in its current window (the one worth
    /// an audit entry; the rest of the burst adds nothing).
    pub first_refusal: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: Micros,
    prev: u32,
    curr: u32,
    /// Refused at least once in the current window.
    refused: bool,
}

/// One limiter (login, register or API), keyed by `K`.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    capacity: usize,
    table: Mutex<HashMap<K, Entry>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter for `rate` holding at most `capacity` keys.
    pub fn new(rate: Rate, capacity: usize) -> Self {
        Self { rate, capacity: capacity.max(1), table: Mutex::new(HashMap::new()) }
    }

    fn window(&self) -> Micros {
        i64::try_from(self.rate.window.as_micros()).unwrap_or(i64::MAX).max(1)
    }

    /// Counts one request for `key` at `now` and says whether it may proceed.
    pub fn check(&self, key: &K, now: Micros) -> Decision {
        let window = self.window();
        let limit = self.rate.count;
        // A poisoned lock (a panic elsewhere) still counts: limits are never skipped.
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.contains_key(key) && table.len() >= self.capacity {
            evict(&mut table, now, window, self.capacity);
        }
        let fresh = Entry { start: now, prev: 0, curr: 0, refused: false };
        let e = table.entry(key.clone()).or_insert(fresh);
        let elapsed = now - e.start;
        if elapsed >= 2 * window {
            *e = fresh;
        } else if elapsed >= window {
            *e = Entry { start: e.start + window, prev: e.curr, curr: 0, refused: false };
        }
        let into = (now - e.start) as f64 / window as f64;
        let weighted = f64::from(e.prev) * (1.0 - into);
        let used = weighted + f64::from(e.curr);
        let reset = (e.start + window + window) / 1_000_000;
        if used + 1.0 > f64::from(limit) {
            // When will `used` fall below limit - 1? Either the current window ends
            // (curr becomes the weighted previous) or prev's weight decays enough.
            let retry = if e.curr >= limit || e.prev == 0 {
                e.start + window - now
            } else {
                let need = 1.0 - (f64::from(limit) - 1.0 - f64::from(e.curr)) / f64::from(e.prev);
                ((need * window as f64) as Micros + e.start - now).max(0)
            };
            let retry_after = u64::try_from((retry + 999_999).div_euclid(1_000_000)).unwrap_or(1).max(1);
            let first_refusal = !e.refused;
            e.refused = true;
            return Decision { allowed: false, limit, remaining: 0, reset, retry_after, first_refusal };
        }
        e.curr += 1;
        let remaining = (f64::from(limit) - used - 1.0).floor().max(0.0) as u32;
        Decision { allowed: true, limit, remaining, reset, retry_after: 0, first_refusal: false }
    }

    /// Drops keys idle for two windows (called by the cleanup task).
    pub fn sweep(&self, now: Micros) -> usize {
        let window = self.window();
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let before = t.len();
        t.retain(|_, e| now - e.start < 2 * window);
        before - t.len()
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room: idle keys first, then the stalest tenth of the table.
fn evict<K: Hash + Eq + Clone>(table: &mut HashMap<K, Entry>, now: Micros, window: Micros, capacity: usize) {
    table.retain(|_, e| now - e.start < 2 * window);
    if table.len() < capacity {
        return;
    }
    let mut starts: Vec<Micros> = table.values().map(|e| e.start).collect();
    let cut = (capacity / 10).max(1).min(starts.len() - 1);
    starts.select_nth_unstable(cut);
    let threshold = starts[cut];
    table.retain(|_, e| e.start > threshold);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: Micros = 1_000_000;

    fn limiter(count: u32, secs: u64, cap: usize) -> Limiter<u32> {
        Limiter::new(Rate { count, window: Duration::from_secs(secs) }, cap)
    }

    #[test]
    fn burst_is_exact_and_headers_count_down() {
        let l = limiter(5, 60, 100);
        let t0 = 1_000 * S;
        for i in 0..5 {
            let d = l.check(&1, t0 + i);
            assert!(d.allowed);
            assert_eq!(d.remaining, 4 - u32::try_from(i).unwrap());
        }
        let d = l.check(&1, t0 + 10 * S);
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining), (5, 0));
        assert_eq!(d.retry_after, 50);
        assert!(d.first_refusal);
        assert!(!l.check(&1, t0 + 11 * S).first_refusal, "once per window");
        assert!(l.check(&1, t0 + 61 * S).first_refusal, "and again in the next one");
        assert!(l.check(&2, t0 + 10 * S).allowed, "keys are independent");
    }

    #[test]
    fn window_slides() {
        let l = limiter(5, 60, 100);
        let t0 = 0;
        for _ in 0..5 {
            assert!(l.check(&1, t0).allowed);
        }
        // Half a window later, half the old burst still counts: 2.5 used, 2 more fit.
        assert!(l.check(&1, t0 + 90 * S).allowed);
        assert!(l.check(&1, t0 + 90 * S).allowed);
        assert!(!l.check(&1, t0 + 90 * S).allowed);
        // Two windows of quiet forget everything.
        for _ in 0..5 {
            assert!(l.check(&1, t0 + 300 * S).allowed);
        }
    }

    #[test]
    fn memory_stays_bounded_under_many_distinct_keys() {
        let cap = 10_000;
        let l = limiter(100, 60, cap);
        for k in 0..1_000_000u32 {
            l.check(&k, i64::from(k));
            assert!(l.len() <= cap);
        }
        assert!(l.len() <= cap);
        // A key seen recently survives eviction of stale ones and is still limited.
        let hot = 5_000_000u32;
        let now = 2_000_000;
        for _ in 0..100 {
            l.check(&hot, now);
        }
        assert!(!l.check(&hot, now).allowed);
        l.sweep(now + 1_000 * S);
        assert!(l.is_empty(), "idle keys are swept");
    }
}
