//! Flushing what the core queues outside any transaction (audit entries, API-key
//! use): when a flush returns, everything queued before it is written, even while
//! another flush (the server's background task) is still writing what it took.
//! Besides the public API, these reach the core's store (to hold its one write
//! transaction) and the queues' lengths.

use super::fixture::{ctx, micros, Fixture, T0};
use crate::domain::Error;
use crate::store::records::AuditEvent;
use crate::store::AuditQuery;
use std::fmt::Debug;
use std::sync::{mpsc, PoisonError};
use std::time::Duration;

/// Holds the store's one write transaction while a first `flush` takes the queue
/// and waits to write it; then starts a second `flush`, which finds the queue
/// empty. Returns what the first flush wrote, what the second did, what
/// `written` read right after the second returned, and whether the second
/// returned while the first was still held back.
fn two_flushes<W: Send>(
    f: &Fixture,
    flush: &(dyn Fn() -> usize + Sync),
    taken: &(dyn Fn() -> bool + Sync),
    written: &(dyn Fn() -> W + Sync),
) -> (usize, (usize, W), bool) {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let auth = &f.auth;
        s.spawn(move || {
            auth.store.write(|_| {
                started_tx.send(()).unwrap();
                released.recv().unwrap();
                Ok::<_, Error>(())
            })
        });
        started.recv().unwrap();
        let first = s.spawn(flush);
        for _ in 0..1000 {
            if taken() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let was_taken = taken();
        let second = s.spawn(|| (flush(), written()));
        std::thread::sleep(Duration::from_millis(100));
        let returned_early = second.is_finished();
        release.send(()).unwrap();
        assert!(was_taken, "the first flush took the queue");
        (first.join().unwrap(), second.join().unwrap(), returned_early)
    })
}

/// Asserts `two_flushes`' outcome: the second flush waited and saw `expect`.
fn second_waited<W: PartialEq + Debug>(outcome: (usize, (usize, W), bool), first: usize, expect: W) {
    let (wrote, second, returned_early) = outcome;
    assert_eq!(wrote, first, "the first flush wrote what was queued");
    assert_eq!(second, (0, expect), "after the second flush, everything queued before it is written");
    assert!(!returned_early, "the second flush returned while the first was still writing");
}

#[test]
fn an_audit_flush_returns_only_when_what_was_queued_before_it_is_written() {
    let f = Fixture::new();
    let logged = || f.auth.audit_log(&AuditQuery { limit: 1000, ..AuditQuery::default() }).unwrap().len();
    let before = logged();
    for i in 0..3 {
        f.auth.audit_refusal(&ctx(), AuditEvent::LoginFailure, None, format!("refusal {i}"));
    }
    let flush = || f.auth.flush_audit().unwrap();
    let outcome = two_flushes(&f, &flush, &|| f.auth.audit_queued() == 0, &logged);
    second_waited(outcome, 3, before + 3);
}

#[test]
fn a_key_use_flush_returns_only_when_what_was_recorded_before_it_is_written() {
    let f = Fixture::new();
    f.register("alice");
    let who = f.who(&f.login("alice"));
    let key = f.auth.generate_key(&ctx(), &who).unwrap();
    // A use two minutes on is worth writing (uses within a minute are not).
    f.advance(120);
    f.auth.authenticate_key(&key.secret).unwrap();
    // As stored (listing the keys would merge in the use not yet written).
    let last_used = || {
        let keys = f.auth.store.read(|r| r.api_keys_of(who.user.id)).unwrap();
        keys[0].1.last_used
    };
    assert_eq!(last_used(), None);
    let flush = || f.auth.flush_key_usage().unwrap();
    let taken = || f.auth.key_usage.lock().unwrap_or_else(PoisonError::into_inner).is_empty();
    second_waited(two_flushes(&f, &flush, &taken, &last_used), 1, Some(micros(T0 + 120)));
}
