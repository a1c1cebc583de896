//! The engine against a real PostgreSQL: `GATEHOUSE_TEST_PG` names a server
//! (`tests/pg/cluster.sh start` makes a throwaway one); each test gets a new
//! database in it. Without it these tests pass with a note on stderr, unless
//! `GATEHOUSE_TEST_PG_REQUIRED` is set (as `.ci/run` does): then they fail.

use super::*;
use crate::store::contract::{self, user};
use crate::store::records::{AuditEvent, User};
use crate::store::{Store, UniqueField};
use std::sync::atomic::{AtomicU64, Ordering};

/// Options for a new, empty database, or `None` (after saying why) to skip.
pub fn database() -> Option<Options> {
    let Ok(base) = std::env::var("GATEHOUSE_TEST_PG") else {
        assert!(
            std::env::var_os("GATEHOUSE_TEST_PG_REQUIRED").is_none(),
            "GATEHOUSE_TEST_PG_REQUIRED is set but GATEHOUSE_TEST_PG is not"
        );
        eprintln!("skipped: no PostgreSQL for this test (set GATEHOUSE_TEST_PG; see tests/pg/cluster.sh)");
        return None;
    };
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!("gh_unit_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    });
    let (head, query) = base.split_once('?').map_or((base.as_str(), ""), |(h, q)| (h, q));
    let root = head.rsplit_once('/').map_or(head, |(r, _)| r);
    let url = if query.is_empty() { format!("{root}/{name}") } else { format!("{root}/{name}?{query}") };
    Some(Options::new(&url, 4).unwrap())
}

fn open(o: &Options) -> Store {
    Store::new(Arc::new(Postgres::open(o).unwrap()))
}

#[test]
fn keeps_the_contract() {
    if database().is_none() {
        return;
    }
    contract::all(&|| open(&database().unwrap()));
}

#[test]
fn rows_copy_to_and_from_the_embedded_engine() {
    let (Some(a), Some(b)) = (database(), database()) else { return };
    let dir = tempfile::tempdir().unwrap();
    contract::round_trip(&Store::open(dir.path()).unwrap(), &open(&a));
    let dir = tempfile::tempdir().unwrap();
    contract::round_trip(&open(&b), &Store::open(dir.path()).unwrap());
}

#[test]
fn concurrent_writers_are_serialized_exactly() {
    let Some(o) = database() else { return };
    let stores: Vec<Store> = (0..3).map(|_| open(&o)).collect();
    stores[0].write(|tx| tx.insert_user(user("counter", "c@example.com"))).unwrap();
    let runs = AtomicU64::new(0);
    std::thread::scope(|s| {
        for store in &stores {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10 {
                        store
                            .write(|tx| {
                                runs.fetch_add(1, Ordering::Relaxed);
                                let mut u = tx.user(1)?.unwrap();
                                u.failed_logins += 1;
                                tx.update_user(&u)
                            })
                            .unwrap();
                    }
                });
            }
        }
    });
    let u = stores[1].read(|r| r.user(1)).unwrap().unwrap();
    assert_eq!(u.failed_logins, 120, "no increment lost across 12 writers on 3 instances");
    assert!(runs.load(Ordering::Relaxed) >= 120);
}

#[test]
fn racing_inserts_of_one_name_give_one_user_and_duplicates() {
    let Some(o) = database() else { return };
    let stores: Vec<Store> = (0..2).map(|_| open(&o)).collect();
    let results: Vec<Result<User, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = &stores[i % 2];
                s.spawn(move || store.write(|tx| tx.insert_user(user("same", &format!("m{i}@example.com")))))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(StoreError::Duplicate(UniqueField::Username)))));
    assert_eq!(stores[0].read(|r| r.stats()).unwrap().total, 1);
}

#[test]
fn a_swallowed_error_never_commits() {
    let Some(o) = database() else { return };
    let pg = Postgres::open(&o).unwrap();
    let r = pg.write_tx(&mut |tx| {
        tx.insert_user(user("alice", "a@example.com"))?;
        // A statement PostgreSQL refuses: the transaction is dead from here on.
        let _ = tx.exec(sql::Op::Batch("SELECT 1/0".into()));
        Ok(())
    });
    assert!(matches!(r, Err(StoreError::Database(_))), "{r:?}");
    assert_eq!(pg.read_tx_user("alice"), None);
}

impl Postgres {
    fn read_tx_user(&self, name: &str) -> Option<u64> {
        let mut found = None;
        self.read(&mut |r| {
            found = r.user_id_by_name(name)?;
            Ok(())
        })
        .unwrap();
        found
    }
}

#[test]
fn cached_reads_see_every_acknowledged_write_of_another_instance() {
    let Some(o) = database() else { return };
    let (a, b) = (open(&o), open(&o));
    a.write(|tx| tx.insert_user(user("alice", "a@example.com"))).unwrap();
    // Wait until both listeners are up, so the cache is in use.
    let deadline = Instant::now() + Duration::from_secs(10);
    while [&a, &b].iter().any(|s| s.settings_epoch() == 0) {
        assert!(Instant::now() < deadline, "listeners did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    for round in 1..=20u32 {
        assert_eq!(b.read_cached(|r| r.user(1)).unwrap().unwrap().token_version, round - 1);
        assert!(!b.read_cached(|r| r.is_revoked(&format!("jti{round}"))).unwrap());
        a.write(|tx| {
            let mut u = tx.user(1)?.unwrap();
            u.token_version = round;
            tx.update_user(&u)?;
            tx.revoke_jti(&format!("jti{round}"), 1 << 40)
        })
        .unwrap();
        // Acknowledged on A: B's very next read sees it (no sleep in between).
        assert_eq!(b.read_cached(|r| r.user(1)).unwrap().unwrap().token_version, round);
        assert!(b.read_cached(|r| r.is_revoked(&format!("jti{round}"))).unwrap());
    }
    let epoch = b.settings_epoch();
    a.write(|tx| tx.put_keys(&crate::store::records::KeySet::default())).unwrap();
    assert!(b.settings_epoch() > epoch, "a key change elsewhere moves the epoch");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let Some(o) = database() else { return };
    let store = Postgres::open(&o).unwrap();
    let tx = store.tx(Mode::Write);
    tx.put(META, b"schema_version".to_vec(), (crate::store::SCHEMA_VERSION + 1).to_le_bytes().to_vec())
        .unwrap();
    tx.commit().unwrap();
    let err = Postgres::open(&o).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == crate::store::SCHEMA_VERSION + 1),
        "{err}"
    );
}

#[test]
fn an_unreachable_server_is_unavailable_not_a_hang() {
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = Options::new(&format!("postgres://nobody:s3cret@127.0.0.1:{port}/x?sslmode=disable"), 2).unwrap();
    let started = Instant::now();
    let err = Postgres::open(&o).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        !format!("{o:?}").contains("s3cret") && !o.describe().contains("s3cret"),
        "no password in messages"
    );
}

#[test]
fn audit_entries_from_two_instances_never_collide() {
    let Some(o) = database() else { return };
    let (a, b) = (open(&o), open(&o));
    let rec = |at| crate::store::records::AuditRecord {
        at,
        event: AuditEvent::Logout,
        user_id: Some(1),
        username: None,
        ip: None,
        user_agent: None,
        detail: None,
    };
    std::thread::scope(|s| {
        for store in [&a, &b] {
            s.spawn(move || {
                for _ in 0..20 {
                    store.write(|tx| tx.append_audit(&rec(1_000))).unwrap();
                }
            });
        }
    });
    let n =
        a.read(|r| r.audit(&crate::store::AuditQuery { limit: 100, ..Default::default() })).unwrap().len();
    assert_eq!(n, 40);
}

/// Writers that conflicted together must not sleep alike before retrying, or they
/// meet again: the pauses of one process's retries spread over their whole range.
/// (No database needed.)
#[test]
fn retry_pauses_are_spread_and_bounded() {
    for attempt in [1, 3, 6, 20] {
        let cap = Duration::from_micros(200 + (1000u64 << attempt.min(6)));
        let pauses: Vec<Duration> = (0..200).map(|_| backoff(attempt)).collect();
        assert!(pauses.iter().all(|p| *p >= Duration::from_micros(200) && *p < cap), "{pauses:?}");
        let distinct: std::collections::BTreeSet<_> = pauses.iter().collect();
        assert!(distinct.len() > 150, "attempt {attempt}: only {} distinct pauses of 200", distinct.len());
        let (lo, hi) = (pauses.iter().min().unwrap(), pauses.iter().max().unwrap());
        assert!(*hi - *lo > (cap - Duration::from_micros(200)) / 2, "attempt {attempt}: {lo:?}..{hi:?}");
    }
}
