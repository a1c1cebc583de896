//! Token checks without a database round trip: a process-local cache of the rows a
//! credential check reads (a user, a denylisted jti, a session, an API key), kept
//! exact across instances by acknowledged invalidation under a lease.
//!
//! - Every write transaction that changes a cached table sends the changed keys
//!   with `pg_notify` *inside* the transaction, so PostgreSQL delivers them to every
//!   listening instance when (and only if) it commits, in commit order.
//! - Each instance evicts what it receives and answers with an acknowledgement. The
//!   writer evicts locally as soon as its commit returns, then waits until every
//!   live instance has acknowledged before the write is acknowledged to its client.
//! - Which instances are live, and whether this one may use its cache at all, comes
//!   from heartbeats on the same channel (see `coherence.rs`): an instance answers
//!   from memory only while its own recent heartbeat has come back through its
//!   listener (its lease). A writer that waits longer than a lease for a silent
//!   instance may go on: that instance's lease has run out, so it reads the database.
//! - A fill that raced an invalidation is dropped: readers take a ticket (the
//!   generation of the key's shard) before reading the database and may store what
//!   they read only if the generation has not moved since.
//! - Fail closed: without a listener or a lease, every lookup reads the database;
//!   when the listener is back the cache starts empty.
//!
//! Bounded: at most [`MAX_ENTRIES`] keys; a full cache is emptied.

use super::sql::T;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The tables whose point lookups may be cached (index = slot).
pub(super) const CACHED: [T; 4] = ["users", "revoked_jti", "sessions", "api_keys"];
/// Most keys held.
pub const MAX_ENTRIES: usize = 50_000;
/// Invalidation generations are kept per shard of keys.
const SHARDS: usize = 64;

/// The slot of a cached table.
pub(super) fn slot(t: T) -> Option<u8> {
    CACHED.iter().position(|c| *c == t).and_then(|i| u8::try_from(i).ok())
}

/// What one write transaction changed that other processes may hold.
#[derive(Debug, Default)]
pub(super) struct Touched {
    pub keys: Vec<(u8, Vec<u8>)>,
    pub settings: bool,
}

impl Touched {
    /// Notes a write of `k` in `t`.
    pub fn record(&mut self, t: T, k: &[u8]) {
        if let Some(s) = slot(t) {
            self.keys.push((s, k.to_vec()));
        } else if t == "meta" && k == super::SETTINGS_KEY {
            self.settings = true;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && !self.settings
    }
}

/// A write this process committed (or is committing) and waits to see acknowledged.
#[derive(Debug)]
pub(super) struct Pending {
    /// Taken just before COMMIT was sent (no later than the commit itself).
    pub sent: Instant,
    /// The instances that must acknowledge, fixed when our own echo arrives.
    pub need: Option<HashSet<u64>>,
    pub acks: HashSet<u64>,
}

pub(super) struct Inner {
    /// The listener is connected and listening.
    pub listening: bool,
    /// Answers from memory are allowed until then (our own heartbeat came back).
    pub lease_until: Option<Instant>,
    map: HashMap<(u8, Vec<u8>), Option<Vec<u8>>>,
    gens: [u64; SHARDS],
    /// Other instances, by the time their last message arrived.
    pub peers: HashMap<u64, Instant>,
    pub pending: HashMap<u64, Pending>,
    /// Our heartbeats in flight: number, when sent.
    pub beats: VecDeque<(u64, Instant)>,
}

fn shard(slot: u8, k: &[u8]) -> usize {
    let h = k.iter().fold(u64::from(slot).wrapping_add(0xcbf2_9ce4_8422_2325), |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % SHARDS as u64) as usize
}

/// The cache and the state of the invalidation protocol.
pub(super) struct Cache {
    inner: Mutex<Inner>,
    pub changed: Condvar,
    settings: AtomicU64,
    /// This process's id on the channel.
    pub instance: u64,
    pub next_seq: AtomicU64,
    /// Asks the listener to reconnect (its own messages stopped coming back).
    pub reconnect: tokio::sync::Notify,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("instance", &self.instance).finish_non_exhaustive()
    }
}

impl Cache {
    /// An empty cache, off until the listener is connected and holds a lease.
    pub fn new(instance: u64) -> Self {
        let inner = Inner {
            listening: false,
            lease_until: None,
            map: HashMap::new(),
            gens: [0; SHARDS],
            peers: HashMap::new(),
            pending: HashMap::new(),
            beats: VecDeque::new(),
        };
        Self {
            inner: Mutex::new(inner),
            changed: Condvar::new(),
            settings: AtomicU64::new(0),
            instance,
            next_seq: AtomicU64::new(1),
            reconnect: tokio::sync::Notify::new(),
        }
    }

    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cached answer (`Some(None)`: known absent).
    pub fn lookup(&self, slot: u8, k: &[u8]) -> Option<Option<Vec<u8>>> {
        let inner = self.inner();
        if !inner.usable() {
            return None;
        }
        inner.map.get(&(slot, k.to_vec())).cloned()
    }

    /// Taken before reading the database: `None` when the cache is off.
    pub fn ticket(&self, slot: u8, k: &[u8]) -> Option<u64> {
        let inner = self.inner();
        inner.usable().then(|| inner.gens[shard(slot, k)])
    }

    /// Keeps what was read, unless the key was invalidated since `ticket`.
    pub fn fill(&self, slot: u8, k: &[u8], ticket: u64, v: &Option<Vec<u8>>) {
        let mut inner = self.inner();
        if !inner.usable() || inner.gens[shard(slot, k)] != ticket {
            return;
        }
        if inner.map.len() >= MAX_ENTRIES {
            inner.map.clear();
        }
        inner.map.insert((slot, k.to_vec()), v.clone());
    }

    /// Drops `keys` (and makes fills of them in flight void).
    pub fn evict(&self, keys: &[(u8, Vec<u8>)]) {
        let mut inner = self.inner();
        for (slot, k) in keys {
            inner.gens[shard(*slot, k)] += 1;
            inner.map.remove(&(*slot, k.clone()));
        }
    }

    /// Forgets everything (and voids fills in flight).
    pub fn clear(&self) {
        self.inner().clear();
    }

    /// Notes that shared settings may have changed (see `Backend::settings_epoch`).
    pub fn settings_changed(&self) {
        self.settings.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves when shared settings may have changed elsewhere.
    pub fn settings_epoch(&self) -> u64 {
        self.settings.load(Ordering::Relaxed)
    }
}

impl Inner {
    /// Whether lookups may be answered from memory now.
    fn usable(&self) -> bool {
        self.listening && self.lease_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn clear(&mut self) {
        self.map.clear();
        for g in &mut self.gens {
            *g += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) fn on() -> Cache {
        let c = Cache::new(7);
        let mut inner = c.inner();
        inner.listening = true;
        inner.lease_until = Some(Instant::now() + Duration::from_secs(60));
        drop(inner);
        c
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let c = on();
        let t = c.ticket(0, b"k").unwrap();
        c.evict(&[(0, b"k".to_vec())]);
        c.fill(0, b"k", t, &Some(b"old".to_vec()));
        assert_eq!(c.lookup(0, b"k"), None, "not cached");
        let t = c.ticket(0, b"k").unwrap();
        c.fill(0, b"k", t, &None);
        assert_eq!(c.lookup(0, b"k"), Some(None), "absence is cached too");
    }

    #[test]
    fn no_answers_without_a_listener_or_a_lease() {
        let c = on();
        c.fill(2, &[1, 2], c.ticket(2, &[1, 2]).unwrap(), &Some(vec![9]));
        assert_eq!(c.lookup(2, &[1, 2]), Some(Some(vec![9])));
        c.inner().lease_until = Some(Instant::now());
        assert_eq!(c.lookup(2, &[1, 2]), None, "lease over");
        assert_eq!(c.ticket(2, &[1, 2]), None, "no fills either");
        c.inner().lease_until = Some(Instant::now() + Duration::from_secs(60));
        c.inner().listening = false;
        assert_eq!(c.lookup(2, &[1, 2]), None, "no listener");
    }

    #[test]
    fn bounded() {
        let c = on();
        for i in 0..(MAX_ENTRIES as u64 + 10) {
            let k = i.to_be_bytes();
            c.fill(0, &k, c.ticket(0, &k).unwrap(), &None);
        }
        assert!(c.inner().map.len() <= MAX_ENTRIES);
    }
}
