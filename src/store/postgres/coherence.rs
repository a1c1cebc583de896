//! The cache invalidation protocol (see `cache.rs` for what it guarantees): the
//! messages on the channel and the waits that make a write safe to acknowledge.
//!
//! Messages (one `pg_notify` payload each; ids and numbers in hex):
//! - `i W.S K...`: writer W's transaction S changed keys K (`<slot><hex key>`, or
//!   `s` for the signing keys). Delivered at commit, in commit order.
//! - `a W.S A`: instance A has applied W's S.
//! - `h A.N`: A's heartbeat N. A's own heartbeat coming back through its listener
//!   renews A's lease: A has applied everything committed before it was sent.
//! - `b A`: A is stopping (others stop waiting for it).
//!
//! Why a writer may acknowledge after waiting at most [`ACK_WAIT`]: an instance
//! that has not applied the write has not seen any heartbeat of its own sent after
//! the write either (commit order), so its lease ends within [`LEASE`] of the commit
//! and [`ACK_WAIT`] ≥ [`LEASE`]. An instance heard from less recently than
//! [`LIVE_WINDOW`] ≥ [`LEASE`] before the commit had no lease left at the commit.

use super::cache::{Cache, Pending, Touched};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often an instance sends a heartbeat.
pub(super) const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a heartbeat that came back lets an instance answer from memory.
pub(super) const LEASE: Duration = Duration::from_secs(2);
/// Instances heard from within this long before a commit must acknowledge it.
const LIVE_WINDOW: Duration = LEASE;
/// Longest wait for acknowledgements after a commit returned.
const ACK_WAIT: Duration = Duration::from_millis(2500);
/// Longest payload sent (PostgreSQL's limit is 8000 bytes).
const MAX_PAYLOAD: usize = 7000;

fn hex_id(s: &str) -> Option<u64> {
    u64::from_str_radix(s, 16).ok()
}

fn pair(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('.')?;
    Some((hex_id(a)?, hex_id(b)?))
}

fn parse_key(p: &str) -> Option<(u8, Vec<u8>)> {
    let (slot, hex) = p.split_at_checked(1)?;
    let slot: u8 = slot.parse().ok()?;
    if usize::from(slot) >= super::cache::CACHED.len() || hex.len() % 2 != 0 {
        return None;
    }
    let key: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
    key.map(|k| (slot, k))
}

impl Cache {
    /// The payloads announcing `t` (none when nothing cached changed), registered
    /// as awaiting acknowledgement. Call just before sending COMMIT.
    pub fn payloads(&self, t: &Touched) -> (Vec<String>, Vec<u64>) {
        if t.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let (mut out, mut seqs) = (Vec::new(), Vec::new());
        let start = |out: &mut Vec<String>, seqs: &mut Vec<u64>| {
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            seqs.push(seq);
            out.push(format!("i {:x}.{seq:x}", self.instance));
        };
        start(&mut out, &mut seqs);
        let entries = t.keys.iter().map(Some).chain(t.settings.then_some(None));
        for e in entries {
            if out.last().is_some_and(|p| p.len() > MAX_PAYLOAD) {
                start(&mut out, &mut seqs);
            }
            if let Some(p) = out.last_mut() {
                match e {
                    Some((s, k)) => {
                        let _ = write!(p, " {s}");
                        for b in k {
                            let _ = write!(p, "{b:02x}");
                        }
                    }
                    None => p.push_str(" s"),
                }
            }
        }
        let sent = Instant::now();
        let mut inner = self.inner();
        for s in &seqs {
            inner.pending.insert(*s, Pending { sent, need: None, acks: HashSet::new() });
        }
        (out, seqs)
    }

    /// After the commit returned: evicts locally at once, then waits until every
    /// live instance has acknowledged (at most [`ACK_WAIT`]; see the module doc).
    pub fn committed(&self, t: &Touched, seqs: &[u64]) {
        self.evict(&t.keys);
        if t.settings {
            self.settings_changed();
        }
        if seqs.is_empty() {
            return;
        }
        let deadline = Instant::now() + ACK_WAIT;
        let mut inner = self.inner();
        loop {
            let done = seqs.iter().all(|s| {
                inner.pending.get(s).is_none_or(|p| p.need.as_ref().is_some_and(|n| n.is_subset(&p.acks)))
            });
            let left = deadline.saturating_duration_since(Instant::now());
            if done || left.is_zero() {
                if !done {
                    let echoed = seqs.iter().all(|s| inner.pending.get(s).is_none_or(|p| p.need.is_some()));
                    if echoed {
                        tracing::warn!("an instance did not acknowledge a cache invalidation in time; its lease has run out, so it reads the database");
                    } else if inner.listening {
                        tracing::warn!("this instance's cache invalidations did not come back; reconnecting its listener");
                        self.reconnect.notify_one();
                    }
                }
                for s in seqs {
                    inner.pending.remove(s);
                }
                return;
            }
            inner = super::link::blocking(|| {
                self.changed.wait_timeout(inner, left).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0)
            });
        }
    }

    /// Stops waiting for `seqs` (their transaction did not commit).
    pub fn forget(&self, seqs: &[u64]) {
        let mut inner = self.inner();
        for s in seqs {
            inner.pending.remove(s);
        }
    }

    /// Applies one message; returns the acknowledgement to send, if any.
    pub fn on_message(&self, payload: &str) -> Option<String> {
        let mut parts = payload.split(' ');
        let (kind, head) = (parts.next()?, parts.next()?);
        match kind {
            "i" => self.on_invalidation(pair(head)?, parts),
            "a" => {
                let (writer, seq) = pair(head)?;
                let by = hex_id(parts.next()?)?;
                let mut inner = self.inner();
                if by != self.instance {
                    inner.peers.insert(by, Instant::now());
                }
                if writer == self.instance {
                    if let Some(p) = inner.pending.get_mut(&seq) {
                        p.acks.insert(by);
                    }
                    self.changed.notify_all();
                }
                None
            }
            "h" => {
                let (from, n) = pair(head)?;
                let mut inner = self.inner();
                if from != self.instance {
                    inner.peers.insert(from, Instant::now());
                    return None;
                }
                while let Some((m, sent)) = inner.beats.front().copied() {
                    if m > n {
                        break;
                    }
                    inner.beats.pop_front();
                    if m == n {
                        inner.lease_until = Some(sent + LEASE);
                    }
                }
                None
            }
            "b" => {
                let from = hex_id(head)?;
                let mut inner = self.inner();
                inner.peers.remove(&from);
                for p in inner.pending.values_mut() {
                    if let Some(need) = &mut p.need {
                        need.remove(&from);
                    }
                }
                self.changed.notify_all();
                None
            }
            _ => None,
        }
    }

    fn on_invalidation<'a>(
        &self,
        (writer, seq): (u64, u64),
        entries: impl Iterator<Item = &'a str>,
    ) -> Option<String> {
        let mut keys = Vec::new();
        for e in entries {
            if e == "s" {
                self.settings_changed();
            } else if let Some(k) = parse_key(e) {
                keys.push(k);
            } else {
                self.clear(); // unreadable: assume the worst
                self.settings_changed();
            }
        }
        self.evict(&keys);
        let mut inner = self.inner();
        if writer != self.instance {
            inner.peers.insert(writer, Instant::now());
            return Some(format!("a {writer:x}.{seq:x} {:x}", self.instance));
        }
        // Our own echo: everything committed before the write has been applied here,
        // heartbeats included, so the instances that must acknowledge are known now.
        let me = self.instance;
        let peers: Vec<(u64, Instant)> =
            inner.peers.iter().filter(|(k, _)| **k != me).map(|(k, v)| (*k, *v)).collect();
        if let Some(p) = inner.pending.get_mut(&seq) {
            let cutoff = p.sent.checked_sub(LIVE_WINDOW);
            let need =
                peers.into_iter().filter(|(_, seen)| cutoff.is_none_or(|c| *seen >= c)).map(|(id, _)| id);
            p.need = Some(need.collect());
        }
        self.changed.notify_all();
        None
    }

    /// The next heartbeat to send (its time is noted now).
    pub fn beat(&self) -> String {
        let n = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.inner();
        inner.beats.push_back((n, Instant::now()));
        while inner.beats.len() > 64 {
            inner.beats.pop_front();
        }
        format!("h {:x}.{n:x}", self.instance)
    }

    /// The message that tells the others this instance is stopping.
    pub fn bye(&self) -> String {
        format!("b {:x}", self.instance)
    }

    /// The listener is connected and listening: start again from empty (answers
    /// from memory wait for the first heartbeat to come back).
    pub fn listening(&self) {
        let mut inner = self.inner();
        inner.clear();
        inner.listening = true;
        inner.lease_until = None;
        inner.beats.clear();
        drop(inner);
        self.settings_changed();
    }

    /// The listener is gone: read through until it is back.
    pub fn lost(&self) {
        let mut inner = self.inner();
        let was = std::mem::replace(&mut inner.listening, false);
        inner.lease_until = None;
        inner.clear();
        drop(inner);
        if was {
            tracing::warn!(
                "cache invalidation listener disconnected; token checks read the database until it is back"
            );
        }
        self.changed.notify_all();
    }

    /// Whether the listener is up and this instance holds a lease.
    pub fn ready(&self) -> bool {
        let inner = self.inner();
        inner.listening && inner.lease_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(id: u64) -> Cache {
        let c = Cache::new(id);
        c.listening();
        let beat = c.beat();
        c.on_message(&beat);
        assert!(c.ready());
        c
    }

    #[test]
    fn payloads_round_trip_split_and_are_acknowledged() {
        let (a, b) = (listening(1), listening(2));
        let mut t = Touched::default();
        t.record("users", &[0, 0, 0, 0, 0, 0, 0, 5]);
        t.record("meta", super::super::SETTINGS_KEY);
        t.record("audit", b"ignored");
        let (p, seqs) = a.payloads(&t);
        assert_eq!(p, vec![format!("i 1.{:x} 00000000000000005 s", seqs[0])]);
        // b hears a's heartbeat first, so a hears b as a peer before its echo.
        assert_eq!(a.on_message(&b.beat()), None);
        let epoch = b.settings_epoch();
        let ack = b.on_message(&p[0]).unwrap();
        b.on_message(&ack);
        assert!(!b.inner().peers.contains_key(&2), "an instance never waits for itself");
        assert!(b.settings_epoch() > epoch);
        assert_eq!(a.on_message(&p[0]), None, "own echo: no ack");
        assert_eq!(a.inner().pending[&seqs[0]].need, Some(HashSet::from([2])));
        a.on_message(&ack);
        a.committed(&t, &seqs); // acknowledged: returns at once
        assert!(a.inner().pending.is_empty());
        let mut big = Touched::default();
        for i in 0..2000u64 {
            big.record("revoked_jti", &i.to_be_bytes());
        }
        let (p, seqs) = a.payloads(&big);
        assert!(p.len() > 1 && p.iter().all(|s| s.len() < 8000));
        a.forget(&seqs);
        assert_eq!(parse_key("3ff"), Some((3, vec![0xff])));
        assert_eq!(parse_key("9ff"), None);
        assert_eq!(parse_key("1f"), None);
    }

    #[test]
    fn a_stopping_instance_is_not_waited_for() {
        let (a, b) = (listening(1), listening(2));
        a.on_message(&b.beat());
        let mut t = Touched::default();
        t.record("sessions", b"k");
        let (p, seqs) = a.payloads(&t);
        a.on_message(&p[0]);
        a.on_message(&b.bye());
        let started = Instant::now();
        a.committed(&t, &seqs);
        assert!(started.elapsed() < ACK_WAIT, "did not wait for the instance that left");
    }

    #[test]
    fn without_acknowledgements_a_writer_waits_out_the_lease() {
        let a = listening(1);
        let mut t = Touched::default();
        t.record("users", b"k");
        let (_, seqs) = a.payloads(&t);
        let started = Instant::now();
        a.committed(&t, &seqs); // its own echo never comes
        assert!(started.elapsed() >= LEASE);
    }
}
