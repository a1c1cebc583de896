//! Upgrades: a database written by schema 1 (a fixture committed to the repository,
//! so an accidental change to a stored record's layout fails here) still opens and
//! serves; migrations run forward after a backup copy; a newer file is refused.

use crate::harness::*;
use gatehouse::store::migrate::Migration;
use gatehouse::store::{check_file, Store, StoreError, DB_FILE, SCHEMA_VERSION};
use std::path::{Path, PathBuf};

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-1").join(DB_FILE);
    std::fs::copy(src, data.join(DB_FILE)).unwrap();
    (dir, data)
}

#[tokio::test]
async fn schema_1_fixture_opens_checks_and_serves() {
    assert_eq!(SCHEMA_VERSION, 1, "a new schema needs a migration and a new fixture");
    let (_dir, data) = fixture();
    let counts = check_file(&data).unwrap();
    assert!(counts.contains(&("users", 1)) && counts.contains(&("api_keys", 1)), "{counts:?}");
    let server = gatehouse::server::start(
        config(&data, &["--issuer", "https://fixture"]),
        gatehouse::clock::Clock::system(),
    )
    .await
    .unwrap();
    let c = Client::new(server.local_addr(), &ca().ca_der);
    let r = c
        .call(post_form("/api/v1/auth/token", &[("username", "fixture"), ("password", "Fixture-Pass1!")]))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let me = c.call(get("/api/v1/users/me").bearer(r.json()["access_token"].as_str().unwrap())).await;
    assert_eq!(me.json()["full_name"], "Fixture User");
    server.shutdown().await;
}

/// A stand-in for a future schema 2: rewrites every user record.
fn shout_names(tx: &mut gatehouse::store::WriteTx<'_>) -> Result<(), StoreError> {
    for id in tx.all_user_ids()? {
        if let Some(mut u) = tx.user(id)? {
            u.full_name = u.full_name.map(|n| n.to_uppercase());
            tx.update_user(&u)?;
        }
    }
    Ok(())
}

#[test]
fn migrations_run_forward_after_a_backup_and_newer_files_are_refused() {
    let (_dir, data) = fixture();
    let to_2 = [Migration { from: 1, describe: "test: upper-case display names", run: shout_names }];
    {
        let store = Store::open_migrating(&data, 2, &to_2).unwrap();
        let u = store.read(|r| r.user_by_name("fixture")).unwrap().unwrap();
        assert_eq!(u.full_name.as_deref(), Some("FIXTURE USER"));
    }
    let backup = data.join(format!("{DB_FILE}.schema-1.bak"));
    assert!(backup.exists(), "a copy is taken before migrating");
    // Opening again does not migrate twice.
    drop(Store::open_migrating(&data, 2, &to_2).unwrap());
    // This release (schema 1) refuses the migrated file rather than misread it.
    assert!(matches!(Store::open(&data), Err(StoreError::NewerSchema { found: 2, supported: 1, .. })));
    // A missing step is an error, not a silent skip.
    let (_dir2, data2) = fixture();
    assert!(Store::open_migrating(&data2, 3, &to_2).is_err());
}
