//! Tests that run the real `gatehouse` binary (restart, signals, crash safety, CLI).
//!
//! Each test starts `gatehouse serve` as a child process on 127.0.0.1:0 in its own
//! temporary directory, waits for `--ready-file` to name the bound address, and talks
//! to it over real TLS with the harness client. What only a real process can show is
//! tested here: data and signing keys surviving a restart, SIGTERM/SIGINT draining
//! and exiting 0, `kill -9` losing nothing acknowledged, start-up refusing a damaged
//! or newer database and leaving its contents as they were, and the operator CLI.
//!
//! Every wait is a bounded poll, and every child is killed and reaped when its guard
//! ([`Proc`]) is dropped, so a failing test never leaves a server behind.

use crate::harness::{self, ca, get, post_form, post_json, Client, Resp, PASSWORD};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const POLL: Duration = Duration::from_millis(20);
/// Generous: a loaded 2-core CI machine may start slowly, but never this slowly.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How long a stopping (or failing) process may take to exit.
pub(crate) const EXIT_LIMIT: Duration = Duration::from_secs(15);
/// Deadline for one raw-socket step (a read or a connect).
const IO_LIMIT: Duration = Duration::from_secs(15);

const REGISTER: &str = "/api/v1/users/register";
const TOKEN: &str = "/api/v1/auth/token";
const ME: &str = "/api/v1/users/me";

/// Every scope, in the tutorial's order: what a super_admin is granted by default.
const ALL_SCOPES: &str =
    "profile:read profile:write posts:read posts:write posts:delete users:read users:write admin";

/// Unique log-file names across the tests of this process.
static RUNS: AtomicUsize = AtomicUsize::new(0);

// ---- child processes ----------------------------------------------------------------

/// A child process that is killed and reaped when dropped. Its stdout and stderr go
/// to files (a pipe nobody reads could fill up and stall the server).
pub(crate) struct Proc {
    pub(crate) child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Runs the gatehouse binary with `args` and a clean `GATEHOUSE_*` environment.
    pub(crate) fn spawn(root: &Path, args: &[String], stdin: Stdio) -> Self {
        Self::spawn_env(root, args, stdin, &[])
    }

    /// [`Proc::spawn`] with extra environment variables.
    fn spawn_env(root: &Path, args: &[String], stdin: Stdio, env: &[(&str, &str)]) -> Self {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let stdout = root.join(format!("run-{n}.stdout"));
        let stderr = root.join(format!("run-{n}.stderr"));
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdin(stdin)
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GATEHOUSE_") || k == "NOTIFY_SOCKET" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        Self { child, stdout, stderr }
    }

    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `sig` (TERM, INT, ...) with kill(1): the crate forbids `unsafe`, so no libc.
    fn signal(&mut self, sig: &str) {
        // Only signal a child that has not been reaped: its pid cannot have been reused.
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("gatehouse already exited ({status}) before SIG{sig}; stderr:\n{}", self.stderr());
        }
        self.wait_until_caught(sig);
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-s", sig, &pid]).status().unwrap().success();
        assert!(ok, "kill -s {sig} {pid} failed");
    }

    /// Waits (bounded) until the process has a handler for SIGTERM/SIGINT, read from
    /// the `SigCgt` mask in /proc/PID/status (Linux; elsewhere this does not wait).
    ///
    /// Needed because `serve` writes its ready file before it installs its signal
    /// handlers (src/server/mod.rs: `run` calls `start`, which writes the file, and
    /// only then `wait_for_signal`): a signal in that window kills it outright (exit
    /// by signal, no drain). Reported, not worked around in the server; without this
    /// wait the signal tests fail about once in a hundred runs on a loaded machine.
    fn wait_until_caught(&self, sig: &str) {
        let signo: u32 = match sig {
            "INT" => 2,
            "TERM" => 15,
            _ => return,
        };
        let status = format!("/proc/{}/status", self.child.id());
        let caught = || {
            std::fs::read_to_string(&status)
                .ok()?
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .map(|mask| mask & (1 << (signo - 1)) != 0)
        };
        let deadline = Instant::now() + START_LIMIT;
        while caught() == Some(false) {
            assert!(
                Instant::now() < deadline,
                "gatehouse installed no SIG{sig} handler within {START_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits (bounded) for the process to exit.
    pub(crate) async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve` arguments: the harness's (loopback, port 0, test CA, cheap scrypt) with
/// `overrides` (flag, value, flag, value...) replacing or adding values (an empty
/// value removes the flag), rate limits off (these tests send many requests from
/// one address) and the ready file.
pub(crate) fn serve_args(root: &Path, overrides: &[&str]) -> Vec<String> {
    let base = harness::base_args(&root.join("data"));
    let pairs: Vec<(&str, &str)> = overrides.chunks(2).map(|p| (p[0], p[1])).collect();
    let mut args = vec!["serve".to_string()];
    for p in base.chunks(2) {
        let value = pairs.iter().find(|(flag, _)| *flag == p[0]).map_or(p[1].as_str(), |&(_, v)| v);
        if !value.is_empty() {
            args.extend([p[0].clone(), value.to_string()]);
        }
    }
    for (flag, value) in &pairs {
        if !base.iter().any(|b| b == flag) && !value.is_empty() {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    for (flag, value) in [
        ("--login-rate-limit", "off"),
        ("--register-rate-limit", "off"),
        ("--api-rate-limit", "off"),
        ("--log-format", "json"),
    ] {
        if !pairs.iter().any(|(f, _)| *f == flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(["--ready-file".to_string(), root.join("ready").to_str().unwrap().to_string()]);
    args
}

/// A `gatehouse serve` that has written its ready file.
pub(crate) struct Running {
    pub(crate) proc: Proc,
    pub(crate) addr: SocketAddr,
    pub(crate) client: Client,
}

impl Running {
    /// Starts `serve` on `root/data` and waits (bounded) until it is listening.
    pub(crate) async fn start(root: &Path, overrides: &[&str]) -> Self {
        let ready = root.join("ready");
        // A ready file left by an earlier run would name a dead address.
        let _ = std::fs::remove_file(&ready);
        let mut proc = Proc::spawn(root, &serve_args(root, overrides), Stdio::null());
        let deadline = Instant::now() + START_LIMIT;
        let addr = loop {
            if let Some(addr) =
                std::fs::read_to_string(&ready).ok().and_then(|s| s.trim().parse::<SocketAddr>().ok())
            {
                break addr;
            }
            if let Some(status) = proc.child.try_wait().unwrap() {
                panic!("gatehouse serve exited ({status}) before it was ready; stderr:\n{}", proc.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse serve not ready within {START_LIMIT:?}; stderr:\n{}",
                proc.stderr()
            );
            tokio::time::sleep(POLL).await;
        };
        assert!(addr.ip().is_loopback(), "{addr}");
        let client = Client::new(addr, &ca().ca_der);
        Self { proc, addr, client }
    }

    /// Signals the server and waits (bounded) for it to exit.
    pub(crate) async fn stop(mut self, sig: &str) -> ExitStatus {
        self.proc.signal(sig);
        self.proc.wait(EXIT_LIMIT).await
    }

    pub(crate) async fn call(&self, call: harness::Call) -> Resp {
        self.client.call(call).await
    }

    /// What the server has logged so far.
    pub(crate) fn proc_stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// Runs `gatehouse ARGS` with `env` and waits for it (bounded): (success, stdout, stderr).
pub(crate) async fn cli_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut p = Proc::spawn_env(root, &args, Stdio::null(), env);
    let status = p.wait(EXIT_LIMIT).await;
    (status.success(), p.stdout(), p.stderr())
}

/// Runs `gatehouse user add NAME --email EMAIL --role ROLE --password-stdin` on
/// `root/data`, feeding `password` on standard input; waits (bounded) for the exit.
async fn user_add(root: &Path, name: &str, role: &str, password: &str) -> (ExitStatus, Proc) {
    let data = root.join("data");
    let args: Vec<String> = [
        "user",
        "add",
        name,
        "--email",
        &format!("{name}@example.com"),
        "--role",
        role,
        "--password-stdin",
        "--scrypt-log-n",
        "4",
        "--scrypt-p",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(harness::store_args(&data))
    .collect();
    let mut proc = Proc::spawn(root, &args, Stdio::piped());
    {
        use std::io::Write;
        let mut stdin = proc.child.stdin.take().unwrap();
        // The CLI may exit before reading (unknown role): a broken pipe is fine.
        let _ = writeln!(stdin, "{password}");
    }
    let status = proc.wait(EXIT_LIMIT).await;
    (status, proc)
}

// ---- HTTP helpers ---------------------------------------------------------------------

fn register_call(name: &str) -> harness::Call {
    post_json(
        REGISTER,
        json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}),
    )
}

fn login_call(name: &str) -> harness::Call {
    post_form(TOKEN, &[("username", name), ("password", PASSWORD)])
}

fn me_call(token: &str) -> harness::Call {
    get(ME).bearer(token)
}

fn expect(r: &Resp, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
}

/// Registers `name`; returns the UserResponse.
async fn register(s: &Running, name: &str) -> Value {
    let r = s.call(register_call(name)).await;
    expect(&r, 201, "register");
    let u = r.json();
    assert_eq!(u["username"], name);
    u
}

/// Logs `name` in; returns the TokenResponse.
async fn login(s: &Running, name: &str) -> Value {
    let r = s.call(login_call(name)).await;
    expect(&r, 200, "login");
    r.json()
}

fn access_token(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// One decoded part (0 = header, 1 = claims) of a JWT. No verification: the server
/// verified it; the test only reads what it says.
fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine;
    let b64 = token.split('.').nth(part).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// `/health`'s exact body.
fn healthy() -> Value {
    json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")})
}

// ---- raw sockets ----------------------------------------------------------------------

/// A TLS connection (HTTP/1.1 by ALPN) trusting the test CA, without an HTTP client on
/// top, for tests that must control exactly when each byte is sent.
async fn raw_tls(addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cfg = harness::client_config(&ca().ca_der, &[b"http/1.1"]);
    tokio::time::timeout(
        IO_LIMIT,
        TlsConnector::from(cfg).connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("TLS handshake timed out")
    .unwrap()
}

/// Reads one HTTP/1.1 response head and its `Content-Length` body.
async fn read_response(io: &mut TlsStream<TcpStream>) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + IO_LIMIT;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return (head, buf[end + 4..end + 4 + len].to_vec());
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, io.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!("no complete response within {IO_LIMIT:?}; got {:?}", String::from_utf8_lossy(&buf))
            })
            .unwrap_or_else(|e| panic!("read failed ({e}); got {:?}", String::from_utf8_lossy(&buf)));
        assert!(n > 0, "connection closed mid-response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Polls (bounded) until a TCP connect to `addr` is refused: the listener is closed.
async fn wait_until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + IO_LIMIT;
    loop {
        match TcpStream::connect(addr).await {
            // Still listening (the signal is not handled yet): close at once, so this
            // probe holds nothing open that the drain would wait for.
            Ok(tcp) => drop(tcp),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            // Queued in the backlog as the listener closed: closing, not closed yet.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connect to {addr}: unexpected error {e}"),
        }
        assert!(Instant::now() < deadline, "{addr} still accepts connections {IO_LIMIT:?} after SIGTERM");
        tokio::time::sleep(POLL).await;
    }
}

// ---- the tests -------------------------------------------------------------------------

/// 1. Users, passwords and the signing key live in the data directory: after a clean
///    restart the same password logs in, and a token issued before still verifies.
#[tokio::test]
async fn restart_keeps_users_and_signing_key() {
    let root = tempfile::tempdir().unwrap();
    // The default issuer includes the port, and port 0 picks a new one each start.
    const ISS: [&str; 2] = ["--issuer", "https://auth.test"];
    let s = Running::start(root.path(), &ISS).await;
    let user = register(&s, "alice").await;
    let old = access_token(&login(&s, "alice").await);
    assert_eq!(s.stop("TERM").await.code(), Some(0));

    let s = Running::start(root.path(), &ISS).await;
    let new = access_token(&login(&s, "alice").await);
    assert_eq!(
        jwt_part(&new, 0)["kid"],
        jwt_part(&old, 0)["kid"],
        "the signing key must be the persisted one, not a fresh one"
    );
    for token in [&new, &old] {
        let r = s.call(me_call(token)).await;
        expect(&r, 200, "GET /users/me after restart");
        assert_eq!(r.json(), user);
    }
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// 2. SIGTERM stops accepting at once but lets a request already in flight finish
///    (even one whose body is still arriving, then hashed at a real scrypt cost),
///    commits it, and exits 0.
///
/// "In flight" is made deterministic with `Expect: 100-continue`: the server sends
/// `100 Continue` only once it has parsed the headers and the handler reads the body.
#[tokio::test]
async fn sigterm_drains_in_flight_request_and_exits_0() {
    let root = tempfile::tempdir().unwrap();
    // log2 N = 14: 16 MiB and a noticeable hash per registration.
    let slow = ["--scrypt-log-n", "14", "--hash-memory-mib", "16"];
    let mut s = Running::start(root.path(), &slow).await;
    let body = serde_json::to_vec(
        &json!({"username": "drained", "email": "drained@example.com", "password": PASSWORD}),
    )
    .unwrap();
    let mut io = raw_tls(s.addr).await;
    let head = format!(
        "POST {REGISTER} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    io.write_all(head.as_bytes()).await.unwrap();
    io.flush().await.unwrap();
    let (interim, _) = read_response(&mut io).await;
    assert_eq!(interim, "HTTP/1.1 100 Continue");

    s.proc.signal("TERM");
    // Shutdown has begun: new connections are refused while the request is open.
    wait_until_refused(s.addr).await;
    assert!(
        s.proc.child.try_wait().unwrap().is_none(),
        "exited with a request in flight; stderr:\n{}",
        s.proc.stderr()
    );

    io.write_all(&body).await.unwrap();
    io.flush().await.unwrap();
    let (head, body) = read_response(&mut io).await;
    assert!(head.starts_with("HTTP/1.1 201 Created\r\n"), "{head}");
    let user: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(user["username"], "drained");
    assert_eq!(user["role"], "user");
    drop(io);
    assert_eq!(s.proc.wait(EXIT_LIMIT).await.code(), Some(0));

    // What the drained request acknowledged was committed.
    let s = Running::start(root.path(), &slow).await;
    login(&s, "drained").await;
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// 3. ALPN: h2 when the client offers it, HTTP/1.1 otherwise.
#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &[]).await;
    let cases: [(&[&[u8]], hyper::Version); 3] = [
        (&[b"h2", b"http/1.1"], hyper::Version::HTTP_2),
        (&[b"http/1.1"], hyper::Version::HTTP_11),
        (&[], hyper::Version::HTTP_11),
    ];
    for (alpn, version) in cases {
        let client = Client::with_config(s.addr, harness::client_config(&ca().ca_der, alpn));
        let r = client.call(get("/health")).await;
        expect(&r, 200, "GET /health");
        assert_eq!(r.version, version, "ALPN {alpn:?}");
        assert_eq!(r.json(), healthy());
    }
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// 4. A client that does not trust the server's CA gets a TLS error, never a response.
#[tokio::test]
async fn client_trusting_another_ca_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &[]).await;
    let other = harness::TestCa::new();
    let stranger = Client::with_config(s.addr, harness::client_config(&other.ca_der, &[b"http/1.1"]));
    let result = tokio::time::timeout(IO_LIMIT, stranger.send(get("/health")))
        .await
        .expect("the TLS failure must be prompt");
    match result {
        Err(e) => assert!(e.starts_with("TLS:"), "not a TLS failure: {e}"),
        Ok(r) => panic!("got a response through an untrusted certificate: {r:?}"),
    }
    expect(&s.call(get("/health")).await, 200, "GET /health afterwards");
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// 5. Plain HTTP on the TLS port gets no HTTP answer (an alert or a close), and the
///    server keeps serving TLS clients.
#[tokio::test]
async fn plain_http_to_the_tls_port_is_refused() {
    let root = tempfile::tempdir().unwrap();
    // A long handshake timeout: the close must come from rejecting the bytes.
    let s = Running::start(root.path(), &["--tls-handshake-timeout", "120"]).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + IO_LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut chunk)).await {
            Err(_) => panic!("no close within {IO_LIMIT:?}; got {:?}", String::from_utf8_lossy(&got)),
            Ok(Ok(0)) | Ok(Err(_)) => break, // closed (or reset)
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
    eprintln!("plain HTTP to the TLS port got {got:02x?}");
    assert!(!got.starts_with(b"HTTP/"), "answered plain HTTP: {:?}", String::from_utf8_lossy(&got));
    // Nothing, or TLS records only: content type 21 is an alert.
    assert!(got.is_empty() || got[0] == 21, "expected a TLS alert or nothing, got {got:02x?}");
    let r = s.call(get("/health")).await;
    expect(&r, 200, "GET /health over TLS afterwards");
    assert_eq!(r.json(), healthy());
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// Runs `serve` on `root/data` expecting it to refuse to start; returns its stderr.
async fn serve_must_refuse(root: &Path) -> String {
    let mut p = Proc::spawn(root, &serve_args(root, &[]), Stdio::null());
    let status = p.wait(EXIT_LIMIT).await;
    let stderr = p.stderr();
    assert!(!status.success(), "started anyway; stderr:\n{stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!root.join("ready").exists(), "wrote the ready file");
    stderr
}

/// 6a. A file that is not a redb database stops start-up with a message naming it,
///     and is left exactly as it was.
#[tokio::test]
async fn corrupt_database_is_refused_and_left_alone() {
    if crate::pg::file_engine_only("it corrupts the redb file") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("gatehouse.redb");
    let garbage = vec![0xABu8; 64 * 1024];
    std::fs::write(&db, &garbage).unwrap();
    let stderr = serve_must_refuse(root.path()).await;
    assert!(stderr.contains(db.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(std::fs::read(&db).unwrap() == garbage, "the file was modified");
}

/// 6b. A database written by a newer gatehouse (schema version 2) is refused, not
///     migrated or downgraded. Made with redb directly: this knows the `meta` table
///     layout of src/store/mod.rs (`schema_version` = little-endian u32).
///
/// Compared by content, not bytes: redb itself rewrites header and allocator pages
/// whenever a file is opened read-write and closed, even with nothing committed.
#[tokio::test]
async fn newer_schema_database_is_refused_and_left_alone() {
    if crate::pg::file_engine_only("it rewrites the redb file") {
        return;
    }
    const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    /// Table names and the stored schema version, read without modifying the file.
    fn contents(db: &Path) -> (Vec<String>, Option<Vec<u8>>) {
        use redb::{ReadableDatabase, TableHandle};
        let d = redb::ReadOnlyDatabase::open(db).unwrap();
        let txn = d.begin_read().unwrap();
        let tables = txn.list_tables().unwrap().map(|t| t.name().to_owned()).collect();
        let version =
            txn.open_table(META).unwrap().get("schema_version").unwrap().map(|v| v.value().to_vec());
        (tables, version)
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("gatehouse.redb");
    {
        let d = redb::Database::create(&db).unwrap();
        let txn = d.begin_write().unwrap();
        let newer = gatehouse::store::SCHEMA_VERSION + 1;
        txn.open_table(META).unwrap().insert("schema_version", newer.to_le_bytes().as_slice()).unwrap();
        txn.commit().unwrap();
    }
    let before = contents(&db);
    let newer = gatehouse::store::SCHEMA_VERSION + 1;
    assert_eq!(before, (vec!["meta".to_owned()], Some(newer.to_le_bytes().to_vec())));
    let stderr = serve_must_refuse(root.path()).await;
    assert!(stderr.contains(db.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains(&format!("schema version {newer}")), "{stderr}");
    assert!(stderr.contains("newer"), "{stderr}");
    assert_eq!(contents(&db), before, "the refused start changed the database");
}

/// 7. `kill -9` in the middle of a registration burst: every registration that was
///    answered 201 is there after a restart (a commit is durable before the reply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_acknowledged_user() {
    const TASKS: usize = 4;
    const MAX_ATTEMPTS: usize = 200;
    const KILL_AFTER: usize = 40;
    let root = tempfile::tempdir().unwrap();
    let mut s = Running::start(root.path(), &[]).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (client, attempts, killed) = (s.client.clone(), attempts.clone(), killed.clone());
        let (acked, unexpected) = (acked.clone(), unexpected.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = attempts.fetch_add(1, Ordering::SeqCst);
                if i >= MAX_ATTEMPTS || killed.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("burst{t}_{i}");
                let sent = tokio::time::timeout(IO_LIMIT, client.send(register_call(&name))).await;
                match sent {
                    Ok(Ok(r)) if r.status == 201 => acked.lock().unwrap().push(name),
                    Ok(Ok(r)) => unexpected.lock().unwrap().push(format!(
                        "{name}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    // Failures are expected once the server is gone, and only then.
                    _ if killed.load(Ordering::SeqCst) => break,
                    Ok(Err(e)) => unexpected.lock().unwrap().push(format!("{name}: {e}")),
                    Err(_) => unexpected.lock().unwrap().push(format!("{name}: timed out")),
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < KILL_AFTER
        && attempts.load(Ordering::SeqCst) < MAX_ATTEMPTS
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::SeqCst); // before the kill: later failures are expected
    s.proc.child.kill().unwrap(); // SIGKILL
    let status = s.proc.wait(EXIT_LIMIT).await;
    assert_eq!(status.code(), None, "not killed by a signal: {status}");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t).await.expect("a burst task hung").unwrap();
    }
    drop(s);
    let unexpected = unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "before the kill: {unexpected:?}");
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no registration succeeded before the kill");
    eprintln!(
        "kill -9 after {} acknowledged registrations ({} attempts started)",
        acked.len(),
        attempts.load(Ordering::SeqCst).min(MAX_ATTEMPTS)
    );

    let s = Running::start(root.path(), &[]).await;
    for name in &acked {
        let r = s.call(login_call(name)).await;
        expect(&r, 200, &format!("login {name} after kill -9"));
    }
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// 8. `gatehouse user add` creates a super_admin in a stopped server's data directory;
///    refuses weak passwords and unknown roles; refuses a directory a server is using.
#[tokio::test]
async fn user_add_creates_a_super_admin_offline() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();

    let (status, p) = user_add(dir, "weakling", "user", "weak").await;
    assert_eq!(status.code(), Some(1), "weak password accepted");
    let stderr = p.stderr();
    assert!(stderr.contains("invalid user"), "{stderr}");
    assert!(stderr.contains("password"), "{stderr}");

    let (status, p) = user_add(dir, "emperor", "emperor", PASSWORD).await;
    assert_eq!(status.code(), Some(1), "unknown role accepted");
    let stderr = p.stderr();
    assert!(stderr.contains("unknown role 'emperor'"), "{stderr}");

    let (status, p) = user_add(dir, "admin1", "super_admin", PASSWORD).await;
    assert!(status.success(), "{status}; stderr:\n{}", p.stderr());
    assert!(p.stdout().contains("created user admin1 (id 1, role super_admin)"), "{}", p.stdout());

    let s = Running::start(dir, &[]).await;
    let tokens = login(&s, "admin1").await;
    let keys: Vec<&String> = tokens.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "expires_in", "refresh_token", "scope", "token_type"], "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 1800);
    assert_eq!(tokens["scope"], ALL_SCOPES);
    let access = access_token(&tokens);
    let claims = jwt_part(&access, 1);
    assert_eq!(claims["role"], "super_admin", "{claims}");
    assert_eq!(claims["sub"], "admin1", "{claims}");
    let r = s.call(me_call(&access)).await;
    expect(&r, 200, "GET /users/me");
    let me = r.json();
    assert_eq!(me["username"], "admin1");
    assert_eq!(me["email"], "admin1@example.com");
    assert_eq!(me["role"], "super_admin");
    assert_eq!(me["is_active"], true);
    // The refused attempts created nothing.
    for name in ["weakling", "emperor"] {
        let r = s.call(login_call(name)).await;
        expect(&r, 401, &format!("login {name}"));
    }

    // While the server holds the database, the CLI goes through its admin socket:
    // the new user exists at once, without a restart.
    let (status, p) = user_add(dir, "admin2", "admin", PASSWORD).await;
    assert!(status.success(), "user add beside a live server: {}", p.stderr());
    assert!(p.stdout().contains("created user admin2 (id 2, role admin)"), "{}", p.stdout());
    let r = s.call(get("/health")).await;
    expect(&r, 200, "GET /health after the CLI");
    assert_eq!(r.json(), healthy());
    login(&s, "admin2").await;
    login(&s, "admin1").await;
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// Issue 12, finding 6: offline `user add` hashes with serve's configuration — its
/// flags, variables and environment file — not with the CLI's own defaults, so a
/// user created on the host costs what the service's own users cost.
#[tokio::test]
async fn user_add_offline_reads_serves_environment_file() {
    if crate::pg::file_engine_only("it reads the redb file") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let env = dir.join("gatehouse.env");
    std::fs::write(
        &env,
        "# as packaged, edited\nGATEHOUSE_SCRYPT_LOG_N=5\n#GATEHOUSE_SCRYPT_R=4\nGATEHOUSE_SCRYPT_P=1\n",
    )
    .unwrap();
    let data = dir.join("data");
    let add = |name: &str, extra: &[&str]| {
        let mut args: Vec<String> =
            ["user", "add", name, "--email", &format!("{name}@example.com"), "--password-stdin"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(harness::store_args(&data));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| async move {
        let mut p = Proc::spawn(dir, &args, Stdio::piped());
        {
            use std::io::Write;
            let _ = writeln!(p.child.stdin.take().unwrap(), "{PASSWORD}");
        }
        let status = p.wait(EXIT_LIMIT).await;
        (status, p)
    };
    let env_arg = env.to_str().unwrap();
    let (st, p) = run(add("fromfile", &["--env-file", env_arg])).await;
    assert!(st.success(), "{}", p.stderr());
    let (st, p) = run(add("fromflag", &["--env-file", env_arg, "--scrypt-log-n", "6"])).await;
    assert!(st.success(), "{}", p.stderr());
    let (st, p) = run(add("nofile", &["--env-file", "/nonexistent/gatehouse.env"])).await;
    assert_eq!(st.code(), Some(1));
    assert!(p.stderr().contains("cannot read the environment file"), "{}", p.stderr());
    let store = gatehouse::store::Store::open(&data).unwrap();
    let hash = |name: &str| store.read(|r| r.user_by_name(name)).unwrap().unwrap().password_hash;
    assert!(hash("fromfile").starts_with("$scrypt$ln=5,r=8,p=1$"), "{}", hash("fromfile"));
    assert!(hash("fromflag").starts_with("$scrypt$ln=6,r=8,p=1$"), "a flag wins: {}", hash("fromflag"));
    assert!(store.read(|r| r.user_by_name("nofile")).unwrap().is_none());
    let max = store.read(|r| r.hash_cost()).unwrap().unwrap();
    assert_eq!((max.log_n, max.r, max.p), (6, 8, 1), "the most expensive stored parameters are recorded");
}

/// 9. SIGINT (Ctrl-C) is a graceful shutdown too.
#[tokio::test]
async fn sigint_exits_0() {
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &[]).await;
    expect(&s.call(get("/health")).await, 200, "GET /health");
    let status = s.stop("INT").await;
    assert_eq!(status.code(), Some(0), "{status}");
}

/// Shutdown does not wait for a client that connected and never started the TLS
/// handshake (it would otherwise wait out --tls-handshake-timeout).
#[tokio::test]
async fn sigterm_does_not_wait_for_silent_handshakes() {
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &["--tls-handshake-timeout", "30"]).await;
    let _silent = TcpStream::connect(s.addr).await.unwrap();
    expect(&s.call(get("/health")).await, 200, "GET /health");
    let started = Instant::now();
    let status = s.stop("TERM").await;
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(started.elapsed() < Duration::from_secs(20), "exit waited {:?}", started.elapsed());
}

/// Neither the log (at debug level) nor the audit log ever holds a password, token
/// or API key, whatever happened.
#[tokio::test]
async fn no_secret_reaches_the_log() {
    if crate::pg::file_engine_only("it reads the redb file") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &["--log-level", "debug", "--max-failed-logins", "2"]).await;
    let mut secrets: Vec<String> =
        vec![harness::PASSWORD.into(), "WrongPass123!".into(), "NewSecure456!".into()];
    register(&s, "alice").await;
    let t1 = login(&s, "alice").await;
    let r = s.call(post_json("/api/v1/auth/refresh", json!({"refresh_token": t1["refresh_token"]}))).await;
    expect(&r, 200, "refresh");
    let t2 = r.json();
    expect(
        &s.call(post_json("/api/v1/auth/refresh", json!({"refresh_token": t1["refresh_token"]}))).await,
        401,
        "reuse",
    );
    let t3 = login(&s, "alice").await;
    let at = access_token(&t3);
    let r = s.call(post_json("/api/v1/api-keys/generate", json!({})).bearer(&at)).await;
    expect(&r, 200, "generate");
    let key = r.json()["api_key"].as_str().unwrap().to_owned();
    expect(&s.call(get("/api/v1/users/me").header("x-api-key", &key)).await, 200, "key use");
    expect(&s.call(get("/api/v1/users/me").bearer(&format!("{at}tampered"))).await, 401, "bad token");
    let change = json!({"current_password": harness::PASSWORD, "new_password": "NewSecure456!"});
    expect(&s.call(post_json("/api/v1/auth/change-password", change).bearer(&at)).await, 200, "change");
    for _ in 0..3 {
        s.call(post_form("/api/v1/auth/token", &[("username", "alice"), ("password", "WrongPass123!")]))
            .await;
    }
    for t in [&t1, &t2, &t3] {
        secrets.push(t["access_token"].as_str().unwrap().into());
        secrets.push(t["refresh_token"].as_str().unwrap().into());
    }
    secrets.push(key);
    let mut s = s;
    s.proc.signal("TERM");
    let status = s.proc.wait(EXIT_LIMIT).await;
    assert_eq!(status.code(), Some(0));
    let log = format!("{}{}", s.proc.stdout(), s.proc.stderr());
    assert!(log.contains("\"target\":\"audit\""), "audit lines are logged:\n{log}");
    assert!(log.contains("account_locked") && log.contains("token_reuse_detected"));
    // Every JWT segment and the key's secret part, not just the whole strings.
    for secret in &secrets {
        for part in secret.split('.').filter(|p| p.len() > 16) {
            assert!(!log.contains(part), "a secret fragment is in the log");
        }
        assert!(!log.contains(secret.as_str()), "a secret is in the log");
    }
    let db = std::fs::read(root.path().join("data").join("gatehouse.redb")).unwrap();
    let db = String::from_utf8_lossy(&db);
    for secret in &secrets {
        assert!(!db.contains(secret.as_str()), "a secret is stored in the database file");
    }
}

/// `gatehouse user set-role` is the operator's way to grant (or take) super_admin.
#[tokio::test]
async fn user_set_role_promotes_offline() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (status, p) = user_add(dir, "bob", "user", PASSWORD).await;
    assert!(status.success(), "{}", p.stderr());
    let set_role = |name: &str, role: &str| {
        let data = dir.join("data");
        let args: Vec<String> = ["user", "set-role", name, role]
            .iter()
            .map(|s| s.to_string())
            .chain(harness::store_args(&data))
            .collect();
        Proc::spawn(dir, &args, Stdio::null())
    };
    let mut p = set_role("bob", "super_admin");
    assert!(p.wait(EXIT_LIMIT).await.success(), "{}", p.stderr());
    assert!(p.stdout().contains("bob is now super_admin"), "{}", p.stdout());
    let mut p = set_role("nobody", "admin");
    assert_eq!(p.wait(EXIT_LIMIT).await.code(), Some(1));
    assert!(p.stderr().contains("no user named 'nobody'"), "{}", p.stderr());
    let mut p = set_role("bob", "root");
    assert_eq!(p.wait(EXIT_LIMIT).await.code(), Some(1));
    let s = Running::start(dir, &[]).await;
    let tokens = login(&s, "bob").await;
    assert_eq!(jwt_part(&access_token(&tokens), 1)["role"], "super_admin");
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// Under systemd (`Type=notify`): READY=1 once listening, STOPPING=1 on SIGTERM,
/// sent to the datagram socket named by $NOTIFY_SOCKET.
#[tokio::test]
async fn notifies_systemd_ready_and_stopping() {
    let root = tempfile::tempdir().unwrap();
    let sock_path = root.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ready = root.path().join("ready");
    let mut proc = Proc::spawn_env(
        root.path(),
        &serve_args(root.path(), &[]),
        Stdio::null(),
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    assert!(ready.exists(), "READY=1 comes once listening");
    proc.signal("TERM");
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert_eq!(proc.wait(EXIT_LIMIT).await.code(), Some(0));
}

/// SIGHUP reloads the certificate from disk for new connections; a broken file is
/// logged and the certificate in use is kept.
#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_it_when_the_new_one_is_bad() {
    let root = tempfile::tempdir().unwrap();
    let (cert, key) = (root.path().join("cert.pem"), root.path().join("key.pem"));
    std::fs::copy(ca().cert(), &cert).unwrap();
    std::fs::copy(ca().key(), &key).unwrap();
    let mut s = Running::start(
        root.path(),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    )
    .await;
    expect(&s.call(get("/health")).await, 200, "health with the first certificate");
    // A renewal: a certificate from another CA appears on disk.
    let renewed = harness::TestCa::new();
    std::fs::copy(renewed.cert(), &cert).unwrap();
    std::fs::copy(renewed.key(), &key).unwrap();
    s.proc.signal("HUP");
    let new_client = Client::new(s.addr, &renewed.ca_der);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = new_client.send(get("/health")).await {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "the renewed certificate was never served");
        tokio::time::sleep(POLL).await;
    }
    // A fresh client (no TLS session to resume) that trusts only the old CA is refused.
    let old_ca_client = Client::new(s.addr, &ca().ca_der);
    assert!(old_ca_client.send(get("/health")).await.is_err(), "the old certificate is no longer served");
    // A broken renewal is refused and the current certificate stays.
    std::fs::write(&cert, "not a certificate").unwrap();
    s.proc.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.proc.stderr().contains("TLS reload failed") {
        assert!(Instant::now() < deadline, "no reload error logged:\n{}", s.proc.stderr());
        tokio::time::sleep(POLL).await;
    }
    expect(&new_client.call(get("/health")).await, 200, "health after a failed reload");
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// Runs `gatehouse ARGS --data-dir root/data` and waits for it (bounded).
pub(crate) async fn cli(root: &Path, args: &[&str]) -> (ExitStatus, Proc) {
    let data = root.join("data");
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    // The certificate's commands only touch the data directory's files.
    if args.first() == Some(&"cert") {
        all.extend(["--data-dir".to_string(), data.to_str().unwrap().to_string()]);
    } else {
        all.extend(harness::store_args(&data));
    }
    let mut p = Proc::spawn(root, &all, Stdio::null());
    let status = p.wait(EXIT_LIMIT).await;
    (status, p)
}

/// With the server running, operator commands go through its admin socket and take
/// effect at once; backup under write load is consistent; restore needs it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_work_while_serving_and_backup_restores() {
    if crate::pg::file_engine_only("restore replaces the redb file") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let s = Running::start(dir, &[]).await;
    register(&s, "alice").await;
    let token = access_token(&login(&s, "alice").await);
    let mode = std::fs::metadata(dir.join("data").join("admin.sock")).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);

    let (st, p) = cli(dir, &["user", "list", "--json"]).await;
    assert!(st.success(), "{}", p.stderr());
    let listed: Value = serde_json::from_str(&p.stdout()).unwrap();
    assert_eq!(listed["data"][0]["username"], "alice");
    let (st, p) = cli(dir, &["user", "deactivate", "alice"]).await;
    assert!(st.success(), "{}", p.stderr());
    expect(&s.call(me_call(&token)).await, 403, "token of a user deactivated from the CLI");
    let (st, _) = cli(dir, &["user", "activate", "alice"]).await;
    assert!(st.success());
    let token = access_token(&login(&s, "alice").await);
    // An emergency key rotation through the socket: the running server stops
    // accepting old tokens at once.
    let (st, p) = cli(dir, &["keys", "rotate", "--emergency"]).await;
    assert!(st.success(), "{}", p.stderr());
    expect(&s.call(me_call(&token)).await, 401, "token signed by a withdrawn key");
    let (st, p) = cli(dir, &["keys", "list"]).await;
    assert!(
        st.success() && p.stdout().contains("revoked") && p.stdout().contains("active"),
        "{}",
        p.stdout()
    );
    let (st, p) = cli(dir, &["user", "show", "nobody"]).await;
    assert_eq!(st.code(), Some(1));
    assert!(p.stderr().contains("user not found"), "{}", p.stderr());

    // Backup while registrations keep arriving: everyone acknowledged before the
    // backup started is in it.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let (client, stop, acked) = (s.client.clone(), Arc::clone(&stop), Arc::clone(&acked));
        tokio::spawn(async move {
            for i in 0..400 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("load{i}");
                if client.call(register_call(&name)).await.status == 201 {
                    acked.lock().unwrap().push(name);
                }
            }
        })
    };
    while acked.lock().unwrap().len() < 10 {
        tokio::time::sleep(POLL).await;
    }
    let before_backup: Vec<String> = acked.lock().unwrap().clone();
    let backup = dir.join("backup.redb");
    let (st, p) = cli(dir, &["backup", backup.to_str().unwrap()]).await;
    assert!(st.success(), "{}", p.stderr());
    assert!(p.stdout().contains("verified"), "{}", p.stdout());
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let (st, p) = cli(dir, &["restore", backup.to_str().unwrap()]).await;
    assert_eq!(st.code(), Some(1), "restore must refuse while serving");
    assert!(p.stderr().contains("stop it first"), "{}", p.stderr());
    assert_eq!(s.stop("TERM").await.code(), Some(0));

    let (st, p) = cli(dir, &["restore", backup.to_str().unwrap()]).await;
    assert!(st.success(), "{}", p.stderr());
    assert!(std::fs::read_dir(dir.join("data")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("before-restore")));
    let s = Running::start(dir, &[]).await;
    login(&s, "alice").await;
    for name in &before_backup {
        expect(&s.call(login_call(name)).await, 200, &format!("{name}, acknowledged before the backup"));
    }
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// Issue 12, finding 4: the operator lists and revokes a user's API keys, through
/// the running server's socket or on the stopped server's data directory, and
/// `revoke-sessions --include-api-keys` takes every key along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_lists_and_revokes_a_users_api_keys() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let s = Running::start(dir, &[]).await;
    register(&s, "alice").await;
    let token = access_token(&login(&s, "alice").await);
    let mut keys = Vec::new();
    for name in ["deploy", "backup", "report"] {
        let r = s.call(post_json("/api/v1/api-keys", json!({ "name": name })).bearer(&token)).await;
        expect(&r, 201, "create a key");
        keys.push((
            r.json()["id"].as_str().unwrap().to_owned(),
            r.json()["api_key"].as_str().unwrap().to_owned(),
        ));
    }
    let (st, p) = cli(dir, &["user", "keys", "alice", "--json"]).await;
    assert!(st.success(), "{}", p.stderr());
    let listed: Value = serde_json::from_str(&p.stdout()).unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(listed["data"][0]["id"], keys[0].0.as_str());
    assert!(!p.stdout().contains(&keys[0].1), "never the key itself");
    let (st, p) = cli(dir, &["user", "revoke-key", "alice", &keys[0].0]).await;
    assert!(st.success(), "{}", p.stderr());
    assert!(p.stdout().contains("revoked"), "{}", p.stdout());
    expect(&s.call(me_call(&token)).await, 200, "the session is untouched");
    expect(
        &s.call(get(ME).header("x-api-key", &keys[0].1)).await,
        401,
        "revoked through the socket: at once",
    );
    let (st, p) = cli(dir, &["user", "revoke-key", "alice", "nope"]).await;
    assert_eq!(st.code(), Some(1));
    assert!(p.stderr().contains("api key not found"), "{}", p.stderr());
    assert_eq!(s.stop("TERM").await.code(), Some(0));

    // Offline, on the data directory.
    let (st, p) = cli(dir, &["user", "keys", "alice"]).await;
    assert!(
        st.success() && p.stdout().contains("backup") && !p.stdout().contains("deploy"),
        "{}",
        p.stdout()
    );
    let (st, p) = cli(dir, &["user", "revoke-sessions", "alice", "--include-api-keys"]).await;
    assert!(st.success(), "{}", p.stderr());
    assert!(p.stdout().contains("has no session or API key left"), "{}", p.stdout());
    let (st, p) = cli(dir, &["user", "keys", "alice"]).await;
    assert!(st.success() && p.stdout().contains("alice has no API keys"), "{}", p.stdout());
    let s = Running::start(dir, &[]).await;
    expect(&s.call(get(ME).header("x-api-key", &keys[1].1)).await, 401, "revoked offline");
    expect(&s.call(me_call(&token)).await, 401, "sessions revoked too");
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// `gatehouse check` exit codes: 0 fine, 2 configuration, 3 database.
#[tokio::test]
async fn check_reports_config_and_database_problems_by_exit_code() {
    if crate::pg::file_engine_only("it corrupts the redb file") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (st, p) = cli(dir, &["check"]).await;
    assert_eq!(st.code(), Some(0), "{}", p.stderr());
    let (st, p) = cli(dir, &["check", "--cors-origin", "*"]).await;
    assert_eq!(st.code(), Some(2), "{}", p.stderr());
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join("gatehouse.redb"), vec![0xAB; 65536]).unwrap();
    let (st, p) = cli(dir, &["check"]).await;
    assert_eq!(st.code(), Some(3), "{}", p.stderr());
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut p = Proc::spawn(dir, &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), Stdio::null());
        assert!(p.wait(EXIT_LIMIT).await.success());
        assert!(p.stdout().contains("gatehouse"));
    }
}

/// First start with no administrator says how to create one; once one exists, not.
#[tokio::test]
async fn first_start_explains_how_to_create_the_first_admin() {
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &[]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.proc.stdout().contains("No administrator yet") {
        assert!(Instant::now() < deadline, "no first-run hint:\n{}", s.proc.stdout());
        tokio::time::sleep(POLL).await;
    }
    assert!(s
        .proc
        .stdout()
        .contains("gatehouse user add admin --email you@example.com --role super_admin --data-dir"));
    let (st, p) = user_add(root.path(), "root", "super_admin", PASSWORD).await;
    assert!(st.success(), "{}", p.stderr());
    assert_eq!(s.stop("TERM").await.code(), Some(0));
    let s = Running::start(root.path(), &[]).await;
    expect(&s.call(get("/health")).await, 200, "health");
    assert!(!s.proc.stdout().contains("No administrator yet"), "{}", s.proc.stdout());
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// `cert regenerate` and `cert show` on a stopped server's data directory: the
/// local CA (stable fingerprint, the names it may sign for) and the 90-day
/// certificate it signed; regenerating makes both anew.
#[tokio::test]
async fn cert_commands_show_the_local_ca_and_its_certificate() {
    let root = tempfile::tempdir().unwrap();
    let fingerprint = |out: &str, after: &str| {
        let from = out.find(after).unwrap();
        out[from..].lines().find_map(|l| l.trim().strip_prefix("SHA-256:")).unwrap().trim().to_owned()
    };
    let (st, p) = cli(root.path(), &["cert", "regenerate", "--hostname", "auth.lan"]).await;
    assert!(st.success(), "{}", p.stderr());
    let first = p.stdout();
    assert!(first.contains("Clients must now trust the new tls-ca.pem"), "{first}");
    let (st, p) = cli(root.path(), &["cert", "show"]).await;
    assert!(st.success(), "{}", p.stderr());
    let out = p.stdout();
    for line in [
        "may sign:   localhost, 127.0.0.1/32, ::1/128, auth.lan",
        "names:      localhost, 127.0.0.1, ::1, auth.lan",
        "(89 days left; 90 days in all)",
        "(the key is kept)",
        "public key: sha256//",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    assert_eq!(fingerprint(&out, "local CA:"), fingerprint(&first, "local CA:"));
    let (st, p) = cli(root.path(), &["cert", "regenerate", "--hostname", "auth.lan"]).await;
    assert!(st.success(), "{}", p.stderr());
    assert_ne!(fingerprint(&p.stdout(), "local CA:"), fingerprint(&out, "local CA:"));
    assert_ne!(fingerprint(&p.stdout(), "certificate:"), fingerprint(&out, "certificate:"));
}
