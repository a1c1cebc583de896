//! The import against a database the tutorial's real app wrote
//! (`tests/fixtures/tutorial`, made by `make.sh`: see `tests/external/tutorial_app.py`),
//! and against hand-made rows for every kind of bad value.

use super::*;
use crate::clock::Clock;
use crate::domain::{Auth, Ctx, Error, HashParams, Hashing, Policy};
use crate::store::records::Role;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn accounts() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("tutorial/accounts.json")).unwrap()).unwrap()
}

/// A core on a fresh data directory, its clock pinned at the fixture's creation.
fn core() -> (tempfile::TempDir, Auth) {
    let dir = tempfile::tempdir().unwrap();
    let hashing = Hashing { params: HashParams { log_n: 4, r: 8, p: 1 }, memory_bytes: 1 << 20 };
    let clock = Clock::pinned(1_796_500_000); // 2026-12-05
    let at = crate::domain::StoreLocation::Dir(dir.path().to_path_buf());
    let auth = Auth::open(&at, hashing, clock, Policy::default(), "https://test").unwrap();
    (dir, auth)
}

const SKIP: ImportOptions = ImportOptions { dry_run: false, skip_invalid: true };

fn import(auth: &Auth, rows: &[TutorialRow], opts: ImportOptions) -> ImportReport {
    auth.import_tutorial(&Ctx::cli(), rows, opts).unwrap()
}

fn users(auth: &Auth) -> Vec<crate::domain::Account> {
    auth.list_users(0, 100).unwrap()
}

#[test]
fn the_real_tutorial_database_reads_and_maps() {
    let rows = read_tutorial(&fixture("tutorial/auth.db")).unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0].role, Cell::Text("USER".into()));
    assert_eq!(rows[2].role, Cell::Text("SUPER_ADMIN".into()), "the enum's name, not its value");
    let (_dir, auth) = core();
    let report = import(&auth, &rows, ImportOptions { dry_run: true, skip_invalid: false });
    assert!(report.refused && report.dry_run);
    assert_eq!(report.imported.len(), 6);
    let bad = &report.skipped[0];
    assert_eq!((bad.tutorial_id, bad.username.as_str(), bad.kind), (7, "mallory\n", SkipKind::Invalid));
    assert_eq!(
        bad.reason,
        r#"username "mallory\n": Username can only contain letters, numbers, hyphens, and underscores"#
    );
}

#[test]
fn an_invalid_row_refuses_everything_a_dry_run_writes_nothing_and_twice_is_once() {
    let rows = read_tutorial(&fixture("tutorial/auth.db")).unwrap();
    let (_dir, auth) = core();
    let before = auth.table_counts().unwrap();
    let refused = import(&auth, &rows, ImportOptions::default());
    assert!(refused.refused);
    let dry = import(&auth, &rows, ImportOptions { dry_run: true, skip_invalid: true });
    assert!(!dry.refused && dry.imported.len() == 6);
    assert_eq!(auth.table_counts().unwrap(), before, "nothing written, not even an audit entry");
    assert_eq!(auth.bcrypt_ceiling(), None, "nor the ceiling raised");

    let done = import(&auth, &rows, SKIP);
    let ids: Vec<(i64, u64)> = done.imported.iter().map(|u| (u.tutorial_id, u.id)).collect();
    assert_eq!(ids, [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)], "every id kept");
    assert_eq!(done.imported, dry.imported, "the dry run said exactly this");
    let after = auth.table_counts().unwrap();
    let again = import(&auth, &rows, SKIP);
    assert!(again.imported.is_empty());
    assert_eq!((again.count(SkipKind::AlreadyPresent), again.count(SkipKind::Invalid)), (6, 1));
    assert_eq!(auth.table_counts().unwrap(), after, "the second run changed nothing");
    assert_eq!(auth.bcrypt_hashes().unwrap(), (6, 6));
    assert_eq!(auth.bcrypt_ceiling(), Some(12));
}

#[test]
fn every_column_carries_over() {
    let (_dir, auth) = core();
    import(&auth, &read_tutorial(&fixture("tutorial/auth.db")).unwrap(), SKIP);
    let want = accounts();
    for u in users(&auth) {
        let a = &want["accounts"][&u.username];
        assert_eq!(u.id, a["id"].as_u64().unwrap(), "{}", u.username);
        assert_eq!(u.email, a["email"].as_str().unwrap());
        assert_eq!(u.full_name.as_deref(), a["full_name"].as_str());
        assert_eq!(u.role.as_str(), a["role"].as_str().unwrap());
        assert_eq!(u.is_active, a["is_active"].as_bool().unwrap());
        let created = a["created_at"].as_str().unwrap();
        assert_eq!(Some(u.created_at), rows::parse_time(created), "{created} read as UTC");
        assert!(u.bcrypt_hash);
        assert!(!u.is_verified);
    }
    let carol = auth.user_by_name("carol").unwrap();
    assert_eq!(carol.role, Role::SuperAdmin, "super_admin stays super_admin");
    assert!(auth.user_by_name("alice").unwrap().last_login.is_some());
    let frank = auth.user_by_name("frank").unwrap();
    assert_eq!((frank.failed_logins, frank.locked_until), (5, rows::parse_time("2099-01-01 00:00:00")));
    assert_eq!(auth.admin_count().unwrap(), 2, "carol and dave: the setup code is no longer needed");
}

#[test]
fn sign_ins_check_bcrypt_once_then_scrypt() {
    let (_dir, auth) = core();
    import(&auth, &read_tutorial(&fixture("tutorial/auth.db")).unwrap(), SKIP);
    let want = accounts();
    let pw = |name: &str| want["accounts"][name]["password"].as_str().unwrap().to_owned();
    let ctx = Ctx::default();
    let work = |f: &dyn Fn()| {
        let before = auth.password_work();
        f();
        auth.password_work() - before
    };
    let unknown = work(&|| assert!(auth.login(&ctx, "nobody", "x", &[]).is_err()));
    let wrong = work(&|| assert!(auth.login(&ctx, "dave", "Wrong-Passw0rd!", &[]).is_err()));
    assert_eq!(wrong, unknown, "an imported account's failure costs what an unknown name's does");
    assert!(auth.login(&ctx, "alice", &pw("alice"), &[]).is_ok());
    assert!(!auth.user_by_name("alice").unwrap().bcrypt_hash, "scrypt since that sign-in");
    assert_eq!(auth.bcrypt_hashes().unwrap(), (5, 6));
    let scrypt_wrong = work(&|| assert!(auth.login(&ctx, "alice", "Wrong-Passw0rd!", &[]).is_err()));
    assert_eq!(scrypt_wrong, unknown, "and a scrypt account's too, while bcrypt hashes remain");
    assert!(auth.login(&ctx, "alice", &pw("alice"), &[]).is_ok(), "the scrypt hash verifies");
    assert!(
        matches!(auth.login(&ctx, "bob", &pw("bob"), &[]), Err(Error::Unauthenticated(_))),
        "deactivated"
    );
    assert!(matches!(auth.login(&ctx, "frank", &pw("frank"), &[]), Err(Error::Locked(_))), "still locked");
    assert!(auth.login(&ctx, "carol", &pw("carol"), &[]).is_ok());
}

#[test]
fn the_api_key_works_is_listed_and_can_be_revoked() {
    let (_dir, auth) = core();
    import(&auth, &read_tutorial(&fixture("tutorial/auth.db")).unwrap(), SKIP);
    let want = accounts();
    let key = want["api_key"].as_str().unwrap();
    let who = auth.authenticate_key(key).unwrap();
    assert_eq!(who.user.username, "alice");
    assert!(auth.authenticate_key(want["replaced_api_key"].as_str().unwrap()).is_err(), "replaced there");
    let keys = auth.list_keys(&who).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "imported from the tutorial");
    assert_eq!(keys[0].prefix, key[..11]);
    assert!(keys[0].legacy, "the tutorial's generate replaces it and its revoke removes it");
    auth.revoke_generated_key(&Ctx::default(), &who).unwrap();
    assert!(auth.authenticate_key(key).is_err());
}

#[test]
fn taken_ids_are_renumbered_and_duplicates_skipped() {
    let (_dir, auth) = core();
    let first = crate::domain::users::NewUser {
        username: "root".into(),
        email: "BOB@example.com".into(),
        password: "R00t-Passw0rd!".into(),
        full_name: None,
    };
    auth.create_user(&Ctx::cli(), &first, Role::SuperAdmin).unwrap();
    let report = import(&auth, &read_tutorial(&fixture("tutorial/auth.db")).unwrap(), SKIP);
    let bob = report.skipped.iter().find(|s| s.tutorial_id == 2).unwrap();
    assert_eq!(bob.kind, SkipKind::Duplicate);
    assert_eq!(bob.reason, r#"email "Bob@example.com" belongs to account id 1 here"#);
    let alice = &report.imported[0];
    assert_eq!((alice.tutorial_id, alice.id), (1, 7), "id 1 is taken: a new one after the kept ones");
    assert_eq!(report.imported[1].id, 3);
}

/// A valid row, changed by `f`.
fn row(id: i64, name: &str, f: impl FnOnce(&mut TutorialRow)) -> TutorialRow {
    let text = |s: &str| Cell::Text(s.to_owned());
    let mut r = TutorialRow {
        id: Cell::Int(id),
        username: text(name),
        email: text(&format!("{name}@example.com")),
        hashed_password: text("$2b$04$2aoPv3NF7/cVx5zZZ7T7dekNYicy7chpch0Hia53vip3gSSQ8cNc6"),
        full_name: Cell::Null,
        role: text("USER"),
        is_active: Cell::Int(1),
        is_verified: Cell::Int(0),
        created_at: text("2026-01-02 03:04:05.000006"),
        updated_at: text("2026-01-02T03:04:05+01:00"),
        last_login: Cell::Null,
        failed_login_attempts: Cell::Null,
        locked_until: text("2026-01-01 00:00:00"),
        api_key: Cell::Null,
    };
    f(&mut r);
    r
}

#[test]
fn bad_values_are_named_and_nothing_is_half_imported() {
    let text = |s: &str| Cell::Text(s.to_owned());
    let cases: Vec<(TutorialRow, &str)> = vec![
        (
            row(2, "plain", |r| r.hashed_password = text("Str0ngPassw0rd!")),
            "hashed_password (Str0ngP…): not a bcrypt hash ($2a$, $2b$ or $2y$)",
        ),
        (
            row(3, "scrypt", |r| r.hashed_password = text("$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA")),
            "($scrypt…): not a bcrypt hash",
        ),
        (
            row(4, "costly", |r| {
                r.hashed_password = text("$2b$15$2aoPv3NF7/cVx5zZZ7T7dekNYicy7chpch0Hia53vip3gSSQ8cNc6")
            }),
            "bcrypt cost 15 is over the limit of 14",
        ),
        (row(5, "short", |r| r.hashed_password = text("$2b$12$short")), "not a well-formed bcrypt hash"),
        (row(6, "root", |r| r.role = text("ROOT")), r#"role "ROOT" is not one of the tutorial's"#),
        (row(7, "flag", |r| r.is_active = Cell::Int(2)), "is_active is the number 2, not 0 or 1"),
        (
            row(8, "real", |r| r.is_verified = Cell::Other("a real number".into())),
            "is_verified is a real number, not 0 or 1",
        ),
        (
            row(9, "when", |r| r.created_at = text("yesterday")),
            r#"created_at "yesterday" is not a date and time"#,
        ),
        (
            row(10, "neg", |r| r.failed_login_attempts = Cell::Int(-1)),
            "failed_login_attempts -1 is out of range",
        ),
        (
            row(11, "key", |r| r.api_key = text("lmsc_short")),
            "api_key is not a key gatehouse can keep (10 characters",
        ),
        (
            row(12, "mail", |r| r.email = text("not-an-email")),
            r#"email "not-an-email": value is not a valid email address"#,
        ),
        (row(13, "long", |r| r.full_name = text(&"x".repeat(101))), "full_name"),
        (row(0, "zero", |_| {}), "id 0 is not a positive number"),
        (
            row(14, "both", |r| (r.role, r.email) = (Cell::Null, Cell::Int(5))),
            "email is the number 5, not text; role is empty (NULL), not text",
        ),
    ];
    let (_dir, auth) = core();
    let before = auth.table_counts().unwrap();
    let mut rows: Vec<TutorialRow> = cases.iter().map(|(r, _)| r.clone()).collect();
    rows.push(row(1, "fine", |_| {}));
    let report = import(&auth, &rows, ImportOptions::default());
    assert!(report.refused);
    assert_eq!(auth.table_counts().unwrap(), before);
    for (r, want) in &cases {
        let Cell::Int(id) = r.id else { unreachable!() };
        let got =
            report.skipped.iter().find(|s| s.tutorial_id == id).unwrap_or_else(|| panic!("{id}: {report:?}"));
        assert_eq!(got.kind, SkipKind::Invalid);
        assert!(got.reason.contains(want), "{id}: {} lacks {want:?}", got.reason);
    }
    let ok = import(&auth, &rows, SKIP);
    assert_eq!(ok.imported.len(), 1);
    let fine = auth.user_by_name("fine").unwrap();
    assert_eq!(fine.updated_at, rows::parse_time("2026-01-02 02:04:05").unwrap(), "+01:00 honoured");
    assert_eq!((fine.locked_until, fine.failed_logins), (None, 0), "a lock that ended is gone");
}

#[test]
fn duplicates_within_the_file_are_compared_as_gatehouse_compares() {
    let (_dir, auth) = core();
    let key = "lmsc_".to_owned() + &"ab".repeat(32);
    let rows = [
        row(1, "ann", |r| r.api_key = Cell::Text(key.clone())),
        row(2, "Ann", |r| r.email = Cell::Text("other@example.com".into())),
        row(3, "bea", |r| r.email = Cell::Text("ANN@example.com".into())),
        row(4, "cid", |r| r.api_key = Cell::Text(key.clone())),
    ];
    let report = import(&auth, &rows, SKIP);
    assert_eq!(report.imported.len(), 1);
    let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            r#"username "ann" is also tutorial id 1's (case-insensitively); only the first is imported"#,
            r#"email "ANN@example.com" is also tutorial id 1's (case-insensitively); only the first is imported"#,
            "its API key is also tutorial id 1's; only the first is imported",
        ]
    );
}

#[test]
fn files_that_are_not_the_tutorials() {
    let other = read_tutorial(&fixture("sqlite/other.db")).unwrap_err();
    assert_eq!(
        other.to_string(),
        format!(
            "{}: table users is not the tutorial's (models/user.py): it has no column username, email, hashed_password, full_name, role, is_active, is_verified, created_at, updated_at, last_login, failed_login_attempts, locked_until, api_key",
            fixture("sqlite/other.db").display()
        )
    );
    let redb = read_tutorial(&fixture("schema-1/gatehouse.redb")).unwrap_err();
    assert!(redb.to_string().ends_with("is not an SQLite 3 database"), "{redb}");
    // Extra columns (here `note`) are ignored; this one's rows are otherwise the tutorial's.
    assert_eq!(read_tutorial(&fixture("sqlite/rows.db")).unwrap().len(), 273);
}
