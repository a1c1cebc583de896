//! Group commit under real concurrency: shared commits, failures that stay their
//! own, the single-writer order, and durability of what was acknowledged.

use super::super::Embedded;
use crate::store::records::User;
use crate::store::{Backend, Reads, StoreError, Writes};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

fn user(name: &str) -> User {
    crate::store::contract::user(name, &format!("{name}@example.com"))
}

fn open() -> (tempfile::TempDir, Arc<Embedded>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Embedded::open(dir.path()).unwrap());
    (dir, db)
}

/// Inserts `name`, holding the batch for `hold` first so that others queue up.
fn insert(db: &Embedded, name: &str, hold: Duration, runs: &AtomicUsize) -> Result<(), StoreError> {
    db.write(&mut |tx: &mut dyn Writes| {
        runs.fetch_add(1, Ordering::SeqCst);
        thread::sleep(hold);
        tx.insert_user(user(name))?;
        Ok(())
    })
}

fn names(db: &Embedded) -> Vec<String> {
    let mut out = Vec::new();
    db.read(&mut |r: &dyn Reads| {
        out = r.users_page(0, 1000)?.users.into_iter().map(|u| u.username).collect();
        Ok(())
    })
    .unwrap();
    out.sort();
    out
}

/// Starts `name` writers at once (after `first`, which holds its batch open).
fn race<F>(db: &Arc<Embedded>, n: usize, f: F) -> Vec<thread::Result<Result<(), StoreError>>>
where
    F: Fn(&Embedded, usize) -> Result<(), StoreError> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let go = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (db, f, go) = (Arc::clone(db), Arc::clone(&f), Arc::clone(&go));
            thread::spawn(move || {
                go.wait();
                f(&db, i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join()).collect()
}

#[test]
fn concurrent_writers_share_commits_and_every_write_lands() {
    let (_dir, db) = open();
    let before = db.group.commits();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let results = race(&db, 16, move |db, i| insert(db, &format!("u{i:02}"), Duration::from_millis(3), &r));
    assert!(results.into_iter().all(|r| matches!(r, Ok(Ok(())))));
    assert_eq!(names(&db).len(), 16);
    assert_eq!(runs.load(Ordering::SeqCst), 16, "nobody failed, so nobody ran twice");
    let commits = db.group.commits() - before;
    assert!(commits < 16, "16 writers needed {commits} commits");
}

#[test]
fn a_failure_before_writing_leaves_the_batch_alone() {
    let (_dir, db) = open();
    insert(&db, "taken", Duration::ZERO, &AtomicUsize::new(0)).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let results = race(&db, 12, move |db, i| {
        // Every third writer asks for a name that is taken: refused before writing.
        let name = if i % 3 == 0 { "taken".to_owned() } else { format!("u{i:02}") };
        insert(db, &name, Duration::from_millis(2), &r)
    });
    let refused = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(StoreError::Duplicate(crate::store::UniqueField::Username)))))
        .count();
    assert_eq!(refused, 4);
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(Ok(())))).count(), 8);
    assert_eq!(names(&db).len(), 9);
    assert_eq!(runs.load(Ordering::SeqCst), 12, "a refusal before writing re-runs nobody");
}

/// A refusal that rests on a write of its own batch (the name was taken by an
/// earlier member) is answered only once that write is durable: when it returns,
/// the name is there for everyone, even while a later member still holds the batch.
#[test]
fn a_refusal_is_answered_only_after_what_it_rests_on_is_durable() {
    let (_dir, db) = open();
    let started = Arc::new(AtomicUsize::new(0));
    let spawn = |name: &'static str, hold: u64| {
        let (db, started) = (Arc::clone(&db), Arc::clone(&started));
        thread::spawn(move || insert(&db, name, Duration::from_millis(hold), &started))
    };
    let first = spawn("bob", 150);
    for _ in 0..2000 {
        if started.load(Ordering::SeqCst) > 0 {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let refused = spawn("bob", 0);
    thread::sleep(Duration::from_millis(30));
    let last = spawn("carol", 400);
    let answer = refused.join().unwrap();
    assert!(matches!(answer, Err(StoreError::Duplicate(_))), "{answer:?}");
    assert!(names(&db).contains(&"bob".to_owned()), "refused for a name no reader could see yet");
    assert!(first.join().unwrap().is_ok() && last.join().unwrap().is_ok());
}

/// Waits (at most 10 s) until `n` writers are inside `Group::write`, not yet run.
fn until_waiting(db: &Embedded, n: usize) {
    for _ in 0..2000 {
        if db.group.lock().waiting >= n {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The first writer holds its batch open until the spoiler and the others have
/// queued up behind it (a batch closes only when nobody is waiting), so the
/// spoiler is certain to share its batch, however slow the machine.
fn with_spoiler(spoil: fn(&mut dyn Writes) -> Result<(), StoreError>) -> (Arc<Embedded>, tempfile::TempDir) {
    let (dir, db) = open();
    let first_runs = Arc::new(AtomicUsize::new(0));
    let first = {
        let (db, runs) = (Arc::clone(&db), Arc::clone(&first_runs));
        thread::spawn(move || {
            db.write(&mut |tx: &mut dyn Writes| {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Itself, the spoiler and the six others.
                    until_waiting(&db, 8);
                }
                tx.insert_user(user("first"))?;
                Ok(())
            })
        })
    };
    for _ in 0..2000 {
        if first_runs.load(Ordering::SeqCst) > 0 {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let spoiler = {
        let db = Arc::clone(&db);
        thread::spawn(move || db.write(&mut |tx: &mut dyn Writes| spoil(tx)))
    };
    let others: Vec<_> = (0..6)
        .map(|i| {
            let db = Arc::clone(&db);
            thread::spawn(move || insert(&db, &format!("u{i}"), Duration::ZERO, &AtomicUsize::new(0)))
        })
        .collect();
    assert!(matches!(first.join(), Ok(Ok(()))));
    for o in others {
        assert!(matches!(o.join(), Ok(Ok(()))));
    }
    assert!(matches!(spoiler.join(), Err(_) | Ok(Err(_))), "the spoiler alone fails");
    assert_eq!(first_runs.load(Ordering::SeqCst), 2, "the abandoned batch's members ran again");
    let mut expected: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    expected.push("first".into());
    expected.sort();
    assert_eq!(names(&db), expected, "nothing of the spoiler is kept");
    (db, dir)
}

#[test]
fn a_failure_after_writing_fails_only_its_writer() {
    with_spoiler(|tx| {
        tx.insert_user(user("spoiler"))?;
        Err(StoreError::Aborted)
    });
}

#[test]
fn a_panicking_writer_fails_only_itself() {
    with_spoiler(|tx| {
        tx.insert_user(user("spoiler"))?;
        panic!("a bug in one closure");
    });
}

#[test]
fn read_modify_write_stays_exact_under_contention() {
    let (_dir, db) = open();
    insert(&db, "alice", Duration::ZERO, &AtomicUsize::new(0)).unwrap();
    let results = race(&db, 24, |db, _| {
        db.write(&mut |tx: &mut dyn Writes| {
            let mut u = tx.user(1)?.ok_or(StoreError::Aborted)?;
            u.failed_logins += 1;
            tx.update_user(&u)
        })
    });
    assert!(results.into_iter().all(|r| matches!(r, Ok(Ok(())))));
    let mut count = 0;
    db.read(&mut |r: &dyn Reads| {
        count = r.user(1)?.map_or(0, |u| u.failed_logins);
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 24, "every increment saw the one before it");
}

#[test]
fn acknowledged_writes_are_in_the_durable_file() {
    let (dir, db) = open();
    let results = race(&db, 12, |db, i| {
        insert(db, &format!("u{i:02}"), Duration::from_millis(1), &AtomicUsize::new(0))
    });
    assert!(results.into_iter().all(|r| matches!(r, Ok(Ok(())))));
    // A copy of the file as it is now, opened on its own, holds only what the last
    // durable commit holds: everything acknowledged must be there.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join(super::super::DB_FILE), copy.path().join(super::super::DB_FILE)).unwrap();
    let reopened = Embedded::open(copy.path()).unwrap();
    assert_eq!(names(&reopened).len(), 12);
}

/// A write method that changed a table without marking the transaction dirty would
/// let a closure that fails after it be taken for a refusal, and its half-done
/// changes be committed with the rest of its batch. Every method of the `Writes`
/// implementation must mark it (before its first change); this reads the source so
/// that a method added later cannot forget.
#[test]
fn every_write_method_marks_the_transaction_dirty() {
    let src = include_str!("tx.rs");
    let start = src.find("impl Writes for WriteTx<'_> {").unwrap();
    let body = &src[start..];
    let end = body.find("\n}\n").unwrap();
    let methods: Vec<&str> = body[..end].split("\n    fn ").skip(1).collect();
    assert!(methods.len() >= 20, "found {} methods", methods.len());
    for m in methods {
        let name = m.split('(').next().unwrap();
        let first_change =
            [".insert(", ".remove(", "_purge(", "_append(", "_trim("].iter().filter_map(|p| m.find(p)).min();
        let mark = m.find("self.dirty = true;");
        assert!(
            mark.is_some() && first_change.is_none_or(|c| mark < Some(c)),
            "Writes::{name} must set `self.dirty = true` before its first change"
        );
    }
}
