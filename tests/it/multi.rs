//! Several real `gatehouse serve` processes on one PostgreSQL database (SPEC §12):
//! the guarantees of one instance hold across many. Each test makes a database of
//! its own (see `pg.rs`; skipped without PostgreSQL unless it is required), starts
//! two or three instances on it, and sends requests to different instances.

use crate::binary::{cli_env, Running};
use crate::harness::{ca, get, post_form, post_json, Resp, PASSWORD};
use crate::pg;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "/api/v1/auth/token";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const CHANGE: &str = "/api/v1/auth/change-password";
const ME: &str = "/api/v1/users/me";

/// Instances sharing one database, each with a data directory of its own.
struct Fleet {
    url: String,
    roots: Vec<tempfile::TempDir>,
    nodes: Vec<Running>,
}

impl Fleet {
    /// `n` instances on a new database, or `None` without PostgreSQL.
    async fn start(n: usize, extra: &[&str]) -> Option<Self> {
        let url = pg::fresh_database()?;
        let mut fleet = Fleet { url, roots: Vec::new(), nodes: Vec::new() };
        for _ in 0..n {
            fleet.add(extra).await;
        }
        Some(fleet)
    }

    async fn add(&mut self, extra: &[&str]) {
        let root = tempfile::tempdir().unwrap();
        // One public issuer, as behind a load balancer (the default names the port).
        let mut args = vec![
            "--database",
            self.url.as_str(),
            "--database-pool-size",
            "4",
            "--issuer",
            "https://gatehouse.test",
        ];
        args.extend_from_slice(extra);
        self.nodes.push(Running::start(root.path(), &args).await);
        self.roots.push(root);
    }

    fn node(&self, i: usize) -> &Running {
        &self.nodes[i % self.nodes.len()]
    }

    /// An operator command straight to the database (no admin socket involved).
    async fn cli(&self, args: &[&str]) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--json", "--database", &self.url, "--data-dir"]);
        let data = dir.path().join("cli");
        all.push(data.to_str().unwrap());
        let (ok, stdout, stderr) = cli_env(dir.path(), &all, &[]).await;
        assert!(ok, "gatehouse {args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap()
    }
}

fn expect(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
}

async fn register(s: &Running, name: &str) {
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
    expect(&s.call(post_json("/api/v1/users/register", body)).await, 201, &format!("register {name}"));
}

async fn login(s: &Running, name: &str, password: &str) -> Resp {
    s.call(post_form(TOKEN, &[("username", name), ("password", password)])).await
}

async fn tokens(s: &Running, name: &str) -> Value {
    let r = login(s, name, PASSWORD).await;
    expect(&r, 200, &format!("login {name}"));
    r.json()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["kid"].as_str().unwrap().to_owned()
}

/// Point 3: of N concurrent refreshes of one token sent to different instances,
/// exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_across_instances_have_one_winner() {
    let Some(fleet) = Fleet::start(3, &[]).await else { return };
    register(fleet.node(0), "alice").await;
    for round in 0..3 {
        let t = tokens(fleet.node(round), "alice").await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let c = fleet.node(i).client.clone();
            let body = json!({"refresh_token": t["refresh_token"]});
            tasks.push(tokio::spawn(async move { c.call(post_json(REFRESH, body)).await.status }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                200 => won += 1,
                401 => {}
                other => panic!("round {round}: unexpected {other}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
}

/// Point 3: N concurrent wrong passwords spread over instances lock the account
/// after exactly the configured count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_across_instances_lock_after_exactly_the_limit() {
    let Some(fleet) = Fleet::start(3, &["--max-failed-logins", "5"]).await else { return };
    register(fleet.node(0), "alice").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let c = fleet.node(i).client.clone();
        tasks.push(tokio::spawn(async move {
            c.call(post_form(TOKEN, &[("username", "alice"), ("password", "WrongPass123!")])).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 401);
    }
    let shown = fleet.cli(&["user", "show", "alice"]).await;
    assert_eq!(shown["data"]["failed_logins"], 5, "exactly the limit was counted: {shown}");
    assert!(!shown["data"]["locked_until"].is_null(), "{shown}");
    for i in 0..3 {
        let r = login(fleet.node(i), "alice", PASSWORD).await;
        expect(&r, 401, &format!("the right password on instance {i} while locked"));
        assert!(r.header("retry-after").is_some());
    }
}

/// Point 3: a logout acknowledged by A is refused by B on the very next request
/// (B had the token cached as valid a moment before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_by_the_others_at_once() {
    let Some(fleet) = Fleet::start(2, &[]).await else { return };
    register(fleet.node(0), "alice").await;
    for round in 0..10 {
        let t = tokens(fleet.node(0), "alice").await;
        let at = text(&t, "access_token");
        for _ in 0..3 {
            expect(&fleet.node(1).call(get(ME).bearer(&at)).await, 200, "B before the logout");
        }
        let body = json!({"refresh_token": t["refresh_token"]});
        expect(&fleet.node(0).call(post_json(LOGOUT, body).bearer(&at)).await, 200, "logout on A");
        expect(&fleet.node(1).call(get(ME).bearer(&at)).await, 401, &format!("B right after, round {round}"));
        let body = json!({"refresh_token": t["refresh_token"]});
        expect(&fleet.node(1).call(post_json(REFRESH, body)).await, 401, "its refresh token on B");
    }
}

/// Point 3: a password change on A revokes the sessions B was serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_on_one_instance_revokes_sessions_on_the_others() {
    let Some(fleet) = Fleet::start(2, &[]).await else { return };
    register(fleet.node(0), "alice").await;
    let on_b = tokens(fleet.node(1), "alice").await;
    let at_b = text(&on_b, "access_token");
    expect(&fleet.node(1).call(get(ME).bearer(&at_b)).await, 200, "B's own session");
    let at_a = text(&tokens(fleet.node(0), "alice").await, "access_token");
    let change = json!({"current_password": PASSWORD, "new_password": "NewSecure456!"});
    expect(&fleet.node(0).call(post_json(CHANGE, change).bearer(&at_a)).await, 200, "change on A");
    expect(&fleet.node(1).call(get(ME).bearer(&at_b)).await, 401, "B's access token");
    let body = json!({"refresh_token": on_b["refresh_token"]});
    expect(&fleet.node(1).call(post_json(REFRESH, body)).await, 401, "B's refresh token");
    expect(&login(fleet.node(1), "alice", "NewSecure456!").await, 200, "the new password on B");
}

/// Point 3: a key rotation made on A is used by B (and an emergency rotation
/// withdraws the old key on B at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_on_one_instance_is_used_by_the_others() {
    let Some(fleet) = Fleet::start(2, &[]).await else { return };
    register(fleet.node(0), "alice").await;
    let old = text(&tokens(fleet.node(1), "alice").await, "access_token");
    // Through A's admin socket, as an operator on A's host would.
    let data_a = fleet.roots[0].path().join("data");
    let args = ["keys", "rotate", "--emergency", "--json", "--data-dir", data_a.to_str().unwrap()];
    let (ok, stdout, stderr) = cli_env(fleet.roots[0].path(), &args, &[]).await;
    assert!(ok, "{stderr}");
    let rotated: Value = serde_json::from_str(&stdout).unwrap();
    let new_kid = rotated["data"]["kid"].as_str().unwrap_or_default().to_owned();
    expect(&fleet.node(1).call(get(ME).bearer(&old)).await, 401, "old key's token on B");
    let fresh = text(&tokens(fleet.node(1), "alice").await, "access_token");
    assert_eq!(kid(&fresh), new_kid, "B signs with A's new key: {rotated}");
    let jwks = fleet.node(1).call(get("/.well-known/jwks.json")).await.json();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, [new_kid.as_str()], "B publishes only the new key");
    expect(&fleet.node(0).call(get(ME).bearer(&fresh)).await, 200, "A accepts B's token");
}

/// Point 6: `kill -9` of one instance in the middle of a write burst loses nothing
/// it acknowledged, and the others keep serving throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_instance_loses_nothing_and_the_others_keep_serving() {
    let Some(mut fleet) = Fleet::start(2, &[]).await else { return };
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (c, acked, killed, attempts) =
            (fleet.node(0).client.clone(), acked.clone(), killed.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            while !killed.load(Ordering::SeqCst) && attempts.fetch_add(1, Ordering::SeqCst) < 400 {
                let name = format!("burst{t}_{}", attempts.load(Ordering::SeqCst));
                let body =
                    json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
                let sent = tokio::time::timeout(
                    Duration::from_secs(15),
                    c.send(post_json("/api/v1/users/register", body)),
                );
                match sent.await {
                    Ok(Ok(r)) if r.status == 201 => acked.lock().unwrap().push(name),
                    _ if killed.load(Ordering::SeqCst) => break,
                    other => panic!("{name} before the kill: {other:?}"),
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 30 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::SeqCst);
    fleet.nodes[0].proc.child.kill().unwrap(); // SIGKILL
    let _ = fleet.nodes[0].proc.child.wait();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t).await.expect("a burst task hung").unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 10, "only {} acknowledged before the kill", acked.len());
    let b = fleet.node(1);
    expect(&b.call(get("/health")).await, 200, "B right after A died");
    for name in &acked {
        expect(&login(b, name, PASSWORD).await, 200, &format!("{name}, acknowledged by A, on B"));
    }
    // A replacement instance joins and serves the same data.
    fleet.nodes.remove(0);
    fleet.add(&[]).await;
    expect(&login(fleet.nodes.last().unwrap(), &acked[0], PASSWORD).await, 200, "on a new instance");
}

/// A private cluster (stopped and started by the test), destroyed when dropped.
struct Cluster {
    dir: PathBuf,
    url: String,
}

fn cluster_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg/cluster.sh")
}

impl Cluster {
    /// Starts one (`ssl`: with this certificate and key), or `None` without
    /// PostgreSQL's binaries when it is not required.
    fn start(ssl: Option<(&Path, &Path)>) -> Option<Self> {
        let mut cmd = Command::new(cluster_sh());
        cmd.arg("start");
        if let Some((cert, key)) = ssl {
            cmd.arg("--ssl").arg(cert).arg(key);
        }
        let out = cmd.output().unwrap();
        if out.status.code() == Some(2) && std::env::var_os("GATEHOUSE_TEST_PG_REQUIRED").is_none() {
            eprintln!("skipped: {}", String::from_utf8_lossy(&out.stderr).trim());
            return None;
        }
        assert!(out.status.success(), "cluster.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let var = |name: &str| {
            let line = stdout.lines().find(|l| l.starts_with(&format!("export {name}="))).unwrap();
            line.split_once('=').unwrap().1.trim_matches('\'').to_owned()
        };
        Some(Self { dir: PathBuf::from(var("GATEHOUSE_TEST_PG_DIR")), url: var("GATEHOUSE_TEST_PG") })
    }

    fn server(&self, action: &str) {
        let out = Command::new(cluster_sh()).arg(action).arg(&self.dir).output().unwrap();
        assert!(out.status.success(), "cluster.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(cluster_sh()).arg("destroy").arg(&self.dir).output();
    }
}

/// Point 6: PostgreSQL stops mid-run: requests that need it fail with 503 (never a
/// 500 or a hang) and the log says why, once; when it returns, so does service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopping_gives_503_and_service_returns_with_it() {
    if std::env::var_os("GATEHOUSE_TEST_PG").is_none()
        && std::env::var_os("GATEHOUSE_TEST_PG_REQUIRED").is_none()
    {
        eprintln!("skipped: no PostgreSQL configured for this run");
        return;
    }
    let Some(cluster) = Cluster::start(None) else { return };
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &["--database", &cluster.url, "--database-pool-size", "4"]).await;
    register(&s, "alice").await;
    let t = tokens(&s, "alice").await;
    let at = text(&t, "access_token");
    expect(&s.call(get(ME).bearer(&at)).await, 200, "before");
    cluster.server("stop-server");
    for what in ["/health", ME] {
        let r = s.call(get(what).bearer(&at)).await;
        expect(&r, 503, &format!("{what} with PostgreSQL stopped"));
    }
    expect(&login(&s, "alice", PASSWORD).await, 503, "a login with PostgreSQL stopped");
    let log = s.proc_stderr();
    let line = "database unavailable: requests that need it fail with 503";
    assert_eq!(log.matches(line).count(), 1, "one clear line, not one per request:\n{log}");
    cluster.server("start-server");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.call(get(ME).bearer(&at)).await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {} {}", r.status, String::from_utf8_lossy(&r.body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    expect(&login(&s, "alice", PASSWORD).await, 200, "a login after it returned");
    assert!(s.proc_stderr().contains("database reachable again"));
}

/// TLS to the database with our rustls: the server's certificate is verified
/// against --database-ca (and SCRAM is bound to the channel); without that CA the
/// connection is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_connection_can_be_tls_with_channel_binding() {
    if std::env::var_os("GATEHOUSE_TEST_PG").is_none()
        && std::env::var_os("GATEHOUSE_TEST_PG_REQUIRED").is_none()
    {
        eprintln!("skipped: no PostgreSQL configured for this run");
        return;
    }
    let Some(cluster) = Cluster::start(Some((&ca().cert(), &ca().key()))) else { return };
    let url = format!("{}&channel_binding=require", cluster.url);
    let root = tempfile::tempdir().unwrap();
    let ca_file = ca().ca_pem();
    let args = ["--database", url.as_str(), "--database-ca", ca_file.to_str().unwrap()];
    let s = Running::start(root.path(), &args).await;
    register(&s, "alice").await;
    tokens(&s, "alice").await;
    drop(s);
    let other = tempfile::tempdir().unwrap();
    let (ok, _, stderr) =
        cli_env(other.path(), &["user", "list", "--database", &url, "--data-dir", "unused"], &[]).await;
    assert!(
        !ok && stderr.contains("database"),
        "a server certificate no CA vouches for is refused: {stderr}"
    );
}

/// Point 5: `migrate-store` copies a data directory to PostgreSQL and back,
/// verified table by table, and refuses a target that is not empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_to_postgres_and_back_verified() {
    let Some(url) = pg::fresh_database() else { return };
    let root = tempfile::tempdir().unwrap();
    // The data directory's file, whatever the suite's backend.
    // A fixed issuer, so its tokens stay valid on the server started after the copy.
    let s = Running::start(root.path(), &["--database", "", "--issuer", "https://gatehouse.test"]).await;
    register(&s, "alice").await;
    register(&s, "bob").await;
    let t = tokens(&s, "alice").await;
    assert_eq!(s.stop("TERM").await.code(), Some(0));
    let data = root.path().join("data");
    let to_pg = ["migrate-store", "--from", data.to_str().unwrap(), "--to", &url, "--json"];
    let (ok, out, err) = cli_env(root.path(), &to_pg, &[]).await;
    assert!(ok, "{err}");
    let first: Value = serde_json::from_str(&out).unwrap();
    let users = first["tables"].as_array().unwrap().iter().find(|t| t["table"] == "users").unwrap().clone();
    assert_eq!(users["rows"], 2);
    let (ok, _, err) = cli_env(root.path(), &to_pg, &[]).await;
    assert!(!ok && err.contains("not empty"), "a second copy into the same database is refused: {err}");

    let pg_root = tempfile::tempdir().unwrap();
    let on_pg =
        Running::start(pg_root.path(), &["--database", &url, "--issuer", "https://gatehouse.test"]).await;
    expect(
        &on_pg.call(get(ME).bearer(&text(&t, "access_token"))).await,
        200,
        "a token from before, on PostgreSQL",
    );
    register(&on_pg, "carol").await;
    drop(on_pg);
    let back = root.path().join("back");
    let to_dir = ["migrate-store", "--from", &url, "--to", back.to_str().unwrap(), "--json"];
    let (ok, out, err) = cli_env(root.path(), &to_dir, &[]).await;
    assert!(ok, "{err}");
    let second: Value = serde_json::from_str(&out).unwrap();
    let users = second["tables"].as_array().unwrap().iter().find(|t| t["table"] == "users").unwrap().clone();
    assert_eq!(users["rows"], 3);
    let (ok, _, err) = cli_env(root.path(), &["check", "--data-dir", back.to_str().unwrap()], &[]).await;
    assert!(ok, "the copy back is a healthy data directory: {err}");
}
