//! Upgrades: a database written by schema 1 (a fixture committed to the repository,
//! so an accidental change to a stored record's layout fails here) still opens and
//! serves; migrations run forward after a backup copy; a newer file is refused.

use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::store::embedded::migrate::Migration;
use gatehouse::store::{check_file, Reads, Store, StoreError, Writes, DB_FILE, SCHEMA_VERSION};
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
    if crate::pg::file_engine_only("the fixture is a redb file") {
        return;
    }
    assert_eq!(SCHEMA_VERSION, 2, "a new schema needs a migration and a new fixture");
    let (_dir, data) = fixture();
    let counts = check_file(&data).unwrap();
    assert!(counts.contains(&("users", 1)) && counts.contains(&("api_keys", 1)), "{counts:?}");
    let stored = |data: &Path| {
        let store = Store::open(data).unwrap();
        let hash = store.read(|r| r.user_by_name("fixture")).unwrap().unwrap().password_hash;
        (
            store.read(|r| r.hash_cost()).unwrap(),
            gatehouse::crypto::password::HashParams::of_stored(&hash).unwrap(),
        )
    };
    let (recorded, fixture_params) = stored(&data);
    assert_eq!(recorded, None, "the fixture predates the recorded maximum");
    // Its signing keys are a version-1 record, from before keys had an algorithm:
    // they read as EdDSA keys, and the server signs with the fixture's own key.
    let fixture_keys = Store::open(&data).unwrap().read(|r| r.keys()).unwrap().keys;
    assert_eq!(fixture_keys.len(), 1);
    assert_eq!(fixture_keys[0].alg, gatehouse::store::records::KeyAlg::EdDSA);
    let server = gatehouse::app::start(
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
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("EdDSA"), Some(fixture_keys[0].kid.as_str()))
    );
    let me = c.call(get("/api/v1/users/me").bearer(&token)).await;
    assert_eq!(me.json()["full_name"], "Fixture User");
    server.shutdown().await;
    // Opening it found the most expensive stored parameters once and recorded them.
    let (recorded, _) = stored(&data);
    let recorded = recorded.unwrap();
    assert_eq!(
        (recorded.log_n, recorded.r, recorded.p),
        (fixture_params.log_n, fixture_params.r, fixture_params.p)
    );
}

fn migrated(data: &Path, target: u32, steps: &[Migration]) -> Result<Store, StoreError> {
    let engine = gatehouse::store::embedded::Embedded::open_migrating(data, target, steps)?;
    Ok(Store::new(std::sync::Arc::new(engine)))
}

/// A stand-in for a future schema 3: rewrites every user record.
fn shout_names(tx: &mut gatehouse::store::embedded::WriteTx<'_>) -> Result<(), StoreError> {
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
    let real = gatehouse::store::embedded::migrate::MIGRATIONS[0];
    let to_3 = [real, Migration { from: 2, describe: "test: upper-case display names", run: shout_names }];
    {
        let store = migrated(&data, 3, &to_3).unwrap();
        let u = store.read(|r| r.user_by_name("fixture")).unwrap().unwrap();
        assert_eq!(u.full_name.as_deref(), Some("FIXTURE USER"));
    }
    let backup = data.join(format!("{DB_FILE}.schema-1.bak"));
    assert!(backup.exists(), "a copy is taken before migrating");
    // Opening again does not migrate twice.
    drop(migrated(&data, 3, &to_3).unwrap());
    // This release (schema 2) refuses the migrated file rather than misread it.
    assert!(matches!(Store::open(&data), Err(StoreError::NewerSchema { found: 3, supported: 2, .. })));
    // A missing step is an error, not a silent skip.
    let (_dir2, data2) = fixture();
    assert!(migrated(&data2, 4, &to_3).is_err());
}
