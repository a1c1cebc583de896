//! Store tests on real files in a temporary directory.

use super::*;
use crate::store::contract::{insert, user};
use crate::store::records::{ImportedHashes, RefreshSession, RefreshState, User};
use crate::store::{Store, UniqueField};

#[test]
fn ids_are_sequential_and_indexes_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(insert(&store, user("alice", "Alice@Example.com")).unwrap().id, 1);
    assert_eq!(insert(&store, user("bob", "bob@example.com")).unwrap().id, 2);
    assert!(matches!(
        insert(&store, user("ALICE", "x@example.com")),
        Err(StoreError::Duplicate(UniqueField::Username))
    ));
    assert!(matches!(
        insert(&store, user("carol", "alice@EXAMPLE.com")),
        Err(StoreError::Duplicate(UniqueField::Email))
    ));
    store
        .read(|r| {
            assert_eq!(r.user_id_by_name("Alice")?, Some(1));
            assert_eq!(r.user_id_by_email("ALICE@example.COM")?, Some(1));
            assert_eq!(r.stats()?.total, 2);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn chosen_ids_are_kept_only_when_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let with_id = |name: &str, id: u64| User { id, ..user(name, &format!("{name}@example.com")) };
    let put = |u: &User| store.write(|tx| tx.insert_user_with_id(u));
    assert_eq!(insert(&store, user("first", "first@example.com")).unwrap().id, 1);
    assert!(!put(&with_id("one", 1)).unwrap(), "held");
    assert!(!put(&with_id("zero", 0)).unwrap(), "never an id");
    assert!(put(&with_id("seven", 7)).unwrap());
    assert!(!put(&with_id("again", 7)).unwrap());
    assert!(
        put(&with_id("five", 5)).is_ok_and(|kept| !kept),
        "below the counter: perhaps a deleted account's"
    );
    assert_eq!(insert(&store, user("next", "next@example.com")).unwrap().id, 8, "the counter moved past 7");
    assert!(matches!(put(&with_id("FIRST", 20)), Err(StoreError::Duplicate(UniqueField::Username))));
    assert!(matches!(
        put(&User { id: 21, ..user("other", "SEVEN@example.com") }),
        Err(StoreError::Duplicate(UniqueField::Email))
    ));
    store
        .read(|r| {
            assert_eq!(r.user_id_by_name("seven")?, Some(7));
            assert_eq!(r.user(7)?.map(|u| u.username), Some("seven".into()));
            assert_eq!(r.stats()?.total, 3);
            // Ids 2..=6 are a gap: the page falls back to a scan and stays right.
            let page = r.users_page(1, 10)?;
            assert_eq!(page.users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![7, 8]);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn imported_hashes_are_counted_with_every_user_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bcrypt = |name: &str, cost: &str| User {
        password_hash: format!("$2b${cost}$xyz"),
        ..user(name, &format!("{name}@example.com"))
    };
    let counted = || store.read(|r| r.imported_hashes()).unwrap();
    insert(&store, user("plain", "plain@example.com")).unwrap();
    assert_eq!(counted(), ImportedHashes::default());
    let mut a = insert(&store, bcrypt("a", "12")).unwrap();
    assert!(store.write(|tx| tx.insert_user_with_id(&User { id: 9, ..bcrypt("b", "10") })).unwrap());
    assert_eq!(counted(), ImportedHashes { bcrypt: 2, max_bcrypt_cost: 12 });
    a.password_hash = "$scrypt$...".into();
    store.write(|tx| tx.update_user(&a)).unwrap();
    assert_eq!(counted(), ImportedHashes { bcrypt: 1, max_bcrypt_cost: 12 });
    let b = store.read(|r| r.user(9)).unwrap().unwrap();
    store.write(|tx| tx.delete_user(&b)).unwrap();
    assert_eq!(counted(), ImportedHashes::default());
}

#[test]
fn failed_closure_aborts_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r: Result<(), StoreError> = store.write(|tx| {
        tx.insert_user(user("alice", "a@example.com"))?;
        Err(StoreError::Database("boom".into()))
    });
    assert!(r.is_err());
    assert_eq!(store.read(|r| r.user_id_by_name("alice")).unwrap(), None);
    assert_eq!(store.read(|r| r.stats()).unwrap().total, 0);
}

#[test]
fn email_change_moves_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut a = insert(&store, user("alice", "a@example.com")).unwrap();
    insert(&store, user("bob", "b@example.com")).unwrap();
    a.email = "B@example.com".into();
    assert!(matches!(store.write(|tx| tx.update_user(&a)), Err(StoreError::Duplicate(UniqueField::Email))));
    a.email = "new@example.com".into();
    store.write(|tx| tx.update_user(&a)).unwrap();
    store
        .read(|r| {
            assert_eq!(r.user_id_by_email("a@example.com")?, None);
            assert_eq!(r.user_id_by_email("new@example.com")?, Some(1));
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn data_survives_reopen_and_permissions_are_tight() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open(&data).unwrap();
        insert(&store, user("alice", "a@example.com")).unwrap();
        let key = [7u8; 32];
        let s = RefreshSession {
            user_id: 1,
            family: "f".into(),
            scopes: vec![],
            session_epoch: 0,
            created_at: 0,
            expires_at: 10,
            state: RefreshState::Active,
        };
        store.write(|tx| tx.put_refresh(&key, &s)).unwrap();
    }
    let store = Store::open(&data).unwrap();
    assert_eq!(store.read(|r| r.user_by_name("alice")).unwrap().map(|u| u.id), Some(1));
    assert!(store.read(|r| r.refresh(&[7u8; 32])).unwrap().is_some());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join(DB_FILE)), 0o600);
}

#[test]
fn garbage_file_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let junk = vec![0xAB_u8; 64 * 1024];
    fs::write(&path, &junk).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), junk, "the file was not touched");
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Embedded::open(dir.path()).unwrap();
        let txn = store.db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(META_SCHEMA, (SCHEMA_VERSION + 1).to_le_bytes().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let before = fs::read(dir.path().join(DB_FILE)).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
    assert_eq!(fs::read(dir.path().join(DB_FILE)).unwrap(), before, "the refused file is untouched");
}

#[test]
fn second_open_reports_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
}

#[test]
fn users_page_reads_only_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| {
            for i in 0..30 {
                tx.insert_user(user(&format!("u{i}"), &format!("u{i}@example.com")))?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let page = store.read(|r| r.users_page(10, 5)).unwrap();
    assert_eq!(page.users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![11, 12, 13, 14, 15]);
    assert_eq!(page.rows_scanned, 5);
    let tail = store.read(|r| r.users_page(28, 100)).unwrap();
    assert_eq!(tail.users.len(), 2);
    assert!(store.read(|r| r.users_page(u64::MAX, 100)).unwrap().users.is_empty());
}

/// Issue 3: with 100 000 users, a page of 100 and the dashboard counters are read
/// without touching the other rows.
#[test]
fn hundred_thousand_users_page_and_stats_touch_only_what_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for batch in 0..100 {
        store
            .write(|tx| {
                for i in 0..1000 {
                    let n = batch * 1000 + i;
                    let mut u = user(&format!("user{n:06}"), &format!("user{n:06}@example.com"));
                    u.is_active = n % 10 != 0;
                    tx.insert_user(u)?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
    let page = store.read(|r| r.users_page(50_000, 100)).unwrap();
    assert_eq!(page.users.len(), 100);
    assert_eq!(page.users[0].id, 50_001);
    assert_eq!(page.rows_scanned, 100, "only the page's rows were read");
    let stats = store.read(|r| r.stats()).unwrap();
    assert_eq!((stats.total, stats.active, stats.by_role), (100_000, 90_000, [100_000, 0, 0, 0]));
    let found = store.read(|r| r.search_users("user09999", 20)).unwrap();
    assert_eq!(found.len(), 10);
}

#[test]
fn search_by_username_or_email_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .write(|tx| {
            tx.insert_user(user("alice", "wonder@example.com"))?;
            tx.insert_user(user("alfred", "butler@example.com"))?;
            tx.insert_user(user("bob", "alice.b@example.com"))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(store.read(|r| r.search_users("AL", 10)).unwrap(), vec![1, 2, 3]);
    assert_eq!(store.read(|r| r.search_users("alice", 10)).unwrap(), vec![1, 3]);
    assert_eq!(store.read(|r| r.search_users("alice", 1)).unwrap(), vec![1]);
    assert!(store.read(|r| r.search_users("zed", 10)).unwrap().is_empty());
}

#[test]
fn api_keys_are_indexed_by_owner() {
    use crate::store::records::ApiKeyRecord;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = |id: &str, user_id: u64| ApiKeyRecord {
        id: id.into(),
        verifier: [9; 32],
        user_id,
        name: id.into(),
        prefix: "gh_x".into(),
        scopes: None,
        created_at: 0,
        expires_at: None,
        last_used: None,
        legacy: false,
    };
    store
        .write(|tx| {
            tx.put_api_key(&[1; 16], &key("a", 1))?;
            tx.put_api_key(&[2; 16], &key("b", 1))?;
            tx.put_api_key(&[3; 16], &key("c", 2))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let ids =
        |uid| store.read(|r| r.api_keys_of(uid)).unwrap().into_iter().map(|(_, k)| k.id).collect::<Vec<_>>();
    assert_eq!(ids(1), ["a", "b"]);
    assert_eq!(ids(2), ["c"]);
    store.write(|tx| tx.delete_api_key(&[1; 16], &key("a", 1))).unwrap();
    assert_eq!(ids(1), ["b"]);
    assert!(store.read(|r| r.api_key(&[1; 16])).unwrap().is_none());
}

#[test]
fn backup_is_a_verified_copy_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    for i in 0..50 {
        insert(&store, user(&format!("user{i}"), &format!("u{i}@example.com"))).unwrap();
    }
    let dest = dir.path().join("backup.redb");
    let counts = store.backup_to(&dest).unwrap();
    assert!(counts.contains(&("users", 50)));
    assert!(store.backup_to(&dest).is_err(), "an existing file is never overwritten");
    // The copy is a full database: open it as a data directory.
    let restored = dir.path().join("restored");
    fs::create_dir_all(&restored).unwrap();
    fs::copy(&dest, restored.join(DB_FILE)).unwrap();
    let copy = Store::open(&restored).unwrap();
    assert_eq!(copy.read(|r| r.user_by_name("user49")).unwrap().map(|u| u.id), Some(50));
    assert_eq!(copy.read(|r| r.stats()).unwrap().total, 50);
    drop(copy);
    assert_eq!(check_file(&restored).unwrap(), counts);
}
