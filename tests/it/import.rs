//! `gatehouse import tutorial` with the real binary, offline and through a running
//! server's admin socket, on a database the tutorial's own app wrote
//! (`tests/fixtures/tutorial`, see `tests/external/tutorial_app.py`); then signing in
//! over HTTPS with the tutorial's passwords and API key. `.ci/run` also runs the
//! whole move against the live app (`tests/external/tutorial_import.sh`).

use crate::binary::{Proc, Running, EXIT_LIMIT};
use crate::harness::{delete, get, post_form, TestServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

const TOKEN: &str = "/api/v1/auth/token";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tutorial").join(name)
}

fn accounts() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("accounts.json")).unwrap()).unwrap()
}

fn password(name: &str) -> String {
    accounts()["accounts"][name]["password"].as_str().unwrap().to_owned()
}

/// Runs `gatehouse ARGS --data-dir ROOT/data` and waits for it.
async fn gatehouse(root: &Path, args: &[&str]) -> (ExitStatus, Proc) {
    let data = root.join("data");
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(crate::harness::store_args(&data));
    let mut p = Proc::spawn(root, &all, Stdio::null());
    let status = p.wait(EXIT_LIMIT).await;
    (status, p)
}

/// `import tutorial --sqlite ROOT/auth.db` with `flags`.
async fn import(root: &Path, flags: &[&str]) -> (ExitStatus, Proc) {
    let db = root.join("auth.db");
    let mut args = vec!["import", "tutorial", "--sqlite", db.to_str().unwrap()];
    args.extend_from_slice(flags);
    gatehouse(root, &args).await
}

fn copy_fixture(root: &Path) -> Vec<u8> {
    std::fs::copy(fixture("auth.db"), root.join("auth.db")).unwrap();
    std::fs::read(root.join("auth.db")).unwrap()
}

async fn sign_in(s: &Running, name: &str, pw: &str) -> crate::harness::Resp {
    s.call(post_form(TOKEN, &[("username", name), ("password", pw)])).await
}

#[tokio::test]
async fn offline_import_refuses_bad_rows_then_imports_once_and_everyone_signs_in() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let original = copy_fixture(dir);
    let modified = std::fs::metadata(dir.join("auth.db")).unwrap().modified().unwrap();

    let (status, p) = import(dir, &[]).await;
    assert_eq!(status.code(), Some(1), "{}", p.stdout());
    let err = p.stderr();
    assert!(err.contains(r#"tutorial id 7      "mallory\n""#), "{err}");
    assert!(err.contains("nothing was imported: 1 row is invalid"), "{err}");

    let (status, p) = import(dir, &["--dry-run", "--skip-invalid"]).await;
    assert!(status.success(), "{}", p.stderr());
    assert!(p.stdout().contains("would import 6:"), "{}", p.stdout());
    assert!(p.stdout().ends_with("dry run: nothing was written\n"), "{}", p.stdout());

    let (status, p) = import(dir, &["--skip-invalid", "--json"]).await;
    assert!(status.success(), "{}", p.stderr());
    let out: Value = serde_json::from_str(&p.stdout()).unwrap();
    assert_eq!(
        out["data"]["totals"],
        serde_json::json!({"imported": 6, "already_present": 0, "duplicate": 0, "invalid": 1})
    );
    assert_eq!(out["data"]["imported"][2]["role"], "super_admin");

    let (status, p) = import(dir, &["--skip-invalid"]).await;
    assert!(status.success(), "{}", p.stderr());
    assert!(
        p.stdout().contains("totals: 0 imported, 6 already present, 0 duplicate, 1 invalid"),
        "{}",
        p.stdout()
    );
    assert_eq!(std::fs::read(dir.join("auth.db")).unwrap(), original, "the tutorial's file is only read");
    assert_eq!(std::fs::metadata(dir.join("auth.db")).unwrap().modified().unwrap(), modified);
    let beside: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!beside.iter().any(|n| n.to_string_lossy().starts_with("auth.db-")), "{beside:?}");

    let (status, p) = gatehouse(dir, &["user", "list"]).await;
    assert!(status.success(), "{}", p.stderr());
    assert!(
        p.stdout().contains("6 of 6 accounts still have an imported bcrypt password hash"),
        "{}",
        p.stdout()
    );

    let s = Running::start(dir, &[]).await;
    let r = sign_in(&s, "alice", &password("alice")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let alice = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = sign_in(&s, "bob", &password("bob")).await;
    assert_eq!((r.status, r.detail()), (401, "Incorrect username or password".into()), "deactivated");
    let r = sign_in(&s, "frank", &password("frank")).await;
    assert!(r.status == 401 && r.header("retry-after").is_some(), "the tutorial's lock holds");
    let key = accounts()["api_key"].as_str().unwrap().to_owned();
    let me = s.call(get("/api/v1/users/me").header("X-API-Key", &key)).await;
    assert_eq!((me.status, me.json()["username"].clone()), (200, "alice".into()));
    let carol =
        sign_in(&s, "carol", &password("carol")).await.json()["access_token"].as_str().unwrap().to_owned();
    let metrics = String::from_utf8(s.call(get("/metrics").bearer(&carol)).await.body.to_vec()).unwrap();
    assert!(metrics.contains("gatehouse_password_hashes{algorithm=\"bcrypt\"} 4\n"), "{metrics}");
    assert!(metrics.contains("gatehouse_password_hashes{algorithm=\"scrypt\"} 2\n"), "{metrics}");

    // Alice sees the tutorial's key among hers and revokes it like any other.
    let keys = s.call(get("/api/v1/api-keys").bearer(&alice)).await.json();
    let listed = keys.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{keys}");
    assert_eq!(listed[0]["name"], "imported from the tutorial");
    assert!(key.starts_with(listed[0]["prefix"].as_str().unwrap()), "{keys}");
    let id = listed[0]["id"].as_str().unwrap();
    assert_eq!(s.call(delete(&format!("/api/v1/api-keys/{id}")).bearer(&alice)).await.status, 200);
    let me = s.call(get("/api/v1/users/me").header("X-API-Key", &key)).await;
    assert_eq!((me.status, me.detail()), (401, "Invalid API key".into()), "revoked");

    // Through the running server's admin socket: alice's hash is scrypt now.
    let (status, p) = gatehouse(dir, &["user", "show", "alice"]).await;
    assert!(status.success(), "{}", p.stderr());
    assert!(p.stdout().contains(r#"password_hash: "scrypt""#), "{}", p.stdout());
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

#[tokio::test]
async fn import_through_the_running_servers_socket_takes_effect_at_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    copy_fixture(dir);
    let s = Running::start(dir, &[]).await;
    let (status, p) = import(dir, &["--skip-invalid"]).await;
    assert!(status.success(), "{}", p.stderr());
    assert!(p.stdout().contains("imported 6:"), "{}", p.stdout());
    let r = sign_in(&s, "dave", &password("dave")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (status, p) = gatehouse(dir, &["user", "show", "erin"]).await;
    assert!(status.success() && p.stdout().contains(r#"role: "moderator""#), "{}", p.stdout());
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

#[tokio::test]
async fn bad_files_are_refused_with_a_clear_message() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("text.db", b"id,username\n1,alice\n".to_vec(), "is not an SQLite 3 database"),
        ("truncated.db", std::fs::read(fixture("auth.db")).unwrap()[..20_000].to_vec(), "is truncated"),
        (
            "other.db",
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlite/other.db"))
                .unwrap(),
            "table users is not the tutorial's (models/user.py): it has no column username",
        ),
        ("empty.db", Vec::new(), "is not an SQLite 3 database"),
    ];
    for (name, bytes, want) in cases {
        std::fs::write(dir.join(name), bytes).unwrap();
        let file = dir.join(name);
        let (status, p) = gatehouse(dir, &["import", "tutorial", "--sqlite", file.to_str().unwrap()]).await;
        assert_eq!(status.code(), Some(1), "{name}");
        assert!(p.stderr().contains(want), "{name}: {}", p.stderr());
    }
    let (status, p) = gatehouse(dir, &["import", "tutorial", "--sqlite", "/nonexistent/auth.db"]).await;
    assert_eq!(status.code(), Some(1));
    assert!(p.stderr().contains("cannot read /nonexistent/auth.db"), "{}", p.stderr());
    assert!(!dir.join("data").exists(), "a file that cannot be read touches no data directory");
}

/// In-process: an import the running server executes raises its login work ceiling
/// at once, so an unknown name costs what an imported account costs from then on.
#[tokio::test]
async fn an_import_raises_the_running_servers_work_ceiling() {
    let s = TestServer::start().await;
    let auth = s.server.as_ref().unwrap().auth().clone();
    let rows = gatehouse::domain::import::read_tutorial(&fixture("auth.db")).unwrap();
    let req = gatehouse::ops::Request::ImportTutorial {
        source: "fixture".into(),
        rows,
        dry_run: false,
        skip_invalid: true,
    };
    let reply = tokio::task::spawn_blocking({
        let auth = auth.clone();
        move || gatehouse::ops::execute(&auth, req)
    })
    .await
    .unwrap();
    assert!(reply.ok, "{}", reply.message);
    let mut spent = Vec::new();
    for name in ["nobody", "dave", "nobody"] {
        let before = auth.password_work();
        let call = post_form(TOKEN, &[("username", name), ("password", "Wrong-Passw0rd!")]);
        assert_eq!(s.call(call).await.status, 401);
        spent.push(auth.password_work() - before);
    }
    assert_eq!(spent[0], spent[1], "{spent:?}");
    assert_eq!(spent[1], spent[2], "{spent:?}");
    assert_eq!(auth.bcrypt_ceiling(), Some(12));
    s.stop().await;
}
