//! The integration-test harness: a [`TestServer`] in one of two tiers, typed
//! requests ([`call`]), the [`Client`] that sends them ([`client`]) and the
//! [`ServerHandle`] that runs them ([`handle`]), with a per-run test CA.
//!
//! - [`Tier::Service`] (`TestServer::start`, `start_with`), the default: the
//!   configuration, auth core and request state the real server would have
//!   (`gatehouse::app::service`), each request handed to `server::router::handle`
//!   in-process as the listener would hand it on (HTTP/1.1, `Host: localhost`,
//!   from 127.0.0.1): no socket, no TLS, so a test costs what its requests cost.
//!   Domain calls still go to the blocking pool, so requests sent from spawned
//!   tasks on a multi-threaded runtime really run at once.
//! - [`Tier::Tls`] (`TestServer::over_tls`, `over_tls_with`), for tests about the
//!   wire: the real server on 127.0.0.1:0 with real TLS, as `gatehouse serve`
//!   runs it (timeouts, connection limits, the plain listeners, HEAD, what hyper
//!   adds, certificates).
//!
//! The fields and helpers every test used when all ran over TLS mean the same in
//! both tiers, so tests written then compile and run unchanged:
//!
//! - `t.server: Option<ServerHandle>` stands where `Option<Server>` stood:
//!   `.auth()`, `.setup_code()`, `.local_addr()` and `.shutdown()` work in both
//!   tiers; `.wire()` is the real `Server` (TLS tier only). The handle owns a
//!   service-tier server's state; shutting it down (or `t.server.take()` and
//!   dropping it) releases the store, as stopping the real server does.
//! - `t.client: Client` is a cloneable caller in both tiers (`t.client.clone()`,
//!   then `.call(call).await` inside `tokio::spawn`). A service-tier client holds
//!   the state weakly, as a connection would; after a shutdown its calls fail.
//!   `t.client.addr` is the bound address over TLS and 127.0.0.1:[`SERVICE_PORT`]
//!   in the service tier, where nothing listens: its port is the one the issuer
//!   names either way (`https://localhost:{t.client.addr.port()}`).
//! - `t.clock`, `t.dir`, `t.advance`, `t.call`/`t.check`, `t.register`/`login`/
//!   `login_with`/`user_token`/`create`/`as_role`/`stop`, and the free functions
//!   (`get`, `post_json`, ..., [`Call`], [`Resp`]) are unchanged.
//!
//! `binary.rs` runs the real executable; `certs.rs` serves the generated certificate.

mod call;
mod client;
mod handle;

pub use call::*;
pub use client::*;
pub use handle::*;

use clap::Parser;
use gatehouse::cli::{Cli, Command};
use gatehouse::clock::Clock;
use gatehouse::config::Config;
use gatehouse::domain::Auth;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Arguments every test server gets: loopback, port 0, the test CA's certificate,
/// and scrypt parameters cheap enough for tests; with `GATEHOUSE_TEST_BACKEND=postgres`
/// also a new PostgreSQL database (see `pg.rs`).
pub fn base_args(data_dir: &Path) -> Vec<String> {
    let mut args = base_args_file(data_dir);
    args.extend(database_args(data_dir));
    if !args.is_empty() && super::pg::backend_is_postgres() {
        args.extend(["--database-pool-size".into(), "4".into()]);
    }
    args
}

/// `--database URL` when the suite runs on PostgreSQL: one database per data
/// directory, so a restart or an operator command on it finds the same data.
pub fn database_args(data_dir: &Path) -> Vec<String> {
    if !super::pg::backend_is_postgres() {
        return Vec::new();
    }
    static DATABASES: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let mut dbs = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let url = match dbs.iter().find(|(d, _)| d == data_dir) {
        Some((_, url)) => url.clone(),
        None => {
            let url = super::pg::fresh_database().expect("GATEHOUSE_TEST_PG");
            dbs.push((data_dir.to_path_buf(), url.clone()));
            url
        }
    };
    vec!["--database".into(), url]
}

/// `--data-dir DIR` (and `--database URL` on PostgreSQL) for operator commands.
pub fn store_args(data_dir: &Path) -> Vec<String> {
    let mut args = vec!["--data-dir".to_string(), data_dir.to_str().unwrap().to_string()];
    args.extend(database_args(data_dir));
    args
}

/// [`base_args`] for the data directory's file, whatever the suite's backend.
pub fn base_args_file(data_dir: &Path) -> Vec<String> {
    let ca = ca();
    [
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        ca.cert().to_str().unwrap(),
        "--tls-key",
        ca.key().to_str().unwrap(),
        "--scrypt-log-n",
        "4",
        "--scrypt-p",
        "1",
        "--hash-memory-mib",
        "1",
        // Tests log in far more than 5 times a minute; rate-limit tests turn these on.
        "--login-rate-limit",
        "off",
        "--register-rate-limit",
        "off",
        "--api-rate-limit",
        "off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn config(data_dir: &Path, extra: &[&str]) -> Config {
    let mut argv = vec!["gatehouse".to_string(), "serve".to_string()];
    argv.extend(base_args(data_dir));
    argv.extend(extra.iter().map(|s| s.to_string()));
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Serve(a) => Config::from_args(&a).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// How a [`TestServer`] is reached (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// The router, called in-process: no socket, no TLS.
    Service,
    /// The real server on 127.0.0.1:0 over real TLS.
    Tls,
}

/// gatehouse in this process, on a clock the test can move, with its data in
/// `dir/data`.
pub struct TestServer {
    /// The running server; `None` once taken (to shut it down by hand).
    pub server: Option<ServerHandle>,
    /// Sends requests as [`TestServer::call`] does; clone it for concurrent ones.
    pub client: Client,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
}

/// 2026-01-01T00:00:00Z, a fixed start for pinned clocks.
pub const T0: i64 = 1_767_225_600;

impl TestServer {
    /// A service-tier server, clock pinned at [`T0`].
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A service-tier server with `extra` arguments.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::open(Tier::Service, tempfile::tempdir().unwrap(), Clock::pinned(T0), extra).await
    }

    /// The real server over TLS, clock pinned at [`T0`]: for tests about the wire.
    pub async fn over_tls() -> Self {
        Self::over_tls_with(&[]).await
    }

    /// The real server over TLS with `extra` arguments.
    pub async fn over_tls_with(extra: &[&str]) -> Self {
        Self::open(Tier::Tls, tempfile::tempdir().unwrap(), Clock::pinned(T0), extra).await
    }

    /// A server in `tier` on `clock`, on `dir/data` (which may hold a database).
    pub async fn open(tier: Tier, dir: tempfile::TempDir, clock: Clock, extra: &[&str]) -> Self {
        let cfg = config(&dir.path().join("data"), extra);
        let (server, client) = match tier {
            Tier::Service => {
                let state = gatehouse::app::service(&cfg, clock.clone(), SERVICE_PORT).unwrap();
                let client = Client::service(&state);
                (ServerHandle::Service(state), client)
            }
            Tier::Tls => {
                let server = gatehouse::app::start(cfg, clock.clone()).await.unwrap();
                let client = Client::new(server.local_addr(), &ca().ca_der);
                (ServerHandle::Tls(Box::new(server)), client)
            }
        };
        Self { server: Some(server), client, clock, dir }
    }

    /// Stops this server and starts it again, in the same tier on the same data
    /// directory and clock, with `extra` arguments.
    pub async fn restart_with(self, extra: &[&str]) -> Self {
        let tier = self.tier();
        let (dir, clock) = self.stop_keeping().await;
        Self::open(tier, dir, clock, extra).await
    }

    /// Stops the server (see [`ServerHandle::shutdown`]) and hands back its
    /// directory and clock, to look at the data or [`TestServer::open`] it again.
    pub async fn stop_keeping(mut self) -> (tempfile::TempDir, Clock) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        (self.dir, self.clock)
    }

    /// The tier this server runs in.
    pub fn tier(&self) -> Tier {
        if self.client.in_process() {
            Tier::Service
        } else {
            Tier::Tls
        }
    }

    fn handle(&self) -> &ServerHandle {
        self.server.as_ref().expect("the server was stopped")
    }

    /// The auth core, as the operator's commands reach it.
    pub fn auth(&self) -> &Arc<Auth> {
        self.handle().auth()
    }

    /// The first-run setup code, while no administrator exists and it is unused.
    pub fn setup_code(&self) -> Option<String> {
        self.handle().setup_code()
    }

    /// The bound address: a [`Tier::Tls`] server's only.
    pub fn addr(&self) -> SocketAddr {
        self.handle().wire().local_addr()
    }

    /// The port the issuer names: the bound one, or [`SERVICE_PORT`].
    pub fn port(&self) -> u16 {
        self.client.addr.port()
    }

    pub async fn call(&self, call: Call) -> Resp {
        self.client.call(call).await
    }

    /// Sends `call` and asserts the status and, when given, the whole JSON body.
    pub async fn check(&self, call: Call, status: u16, body: Option<Value>) -> Resp {
        let what = format!("{} {}", call.method, call.path);
        let r = self.call(call).await;
        assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
        if let Some(b) = body {
            assert_eq!(r.json(), b, "{what}");
        }
        r
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Registers `name` with a valid password; returns the UserResponse.
    pub async fn register(&self, name: &str) -> Value {
        let r = self
            .call(post_json(
                "/api/v1/users/register",
                serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}),
            ))
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Logs `name` in with the standard password; returns the TokenResponse.
    pub async fn login(&self, name: &str) -> Value {
        self.login_with(name, PASSWORD).await
    }

    /// Logs `name` in with `password`; returns the TokenResponse.
    pub async fn login_with(&self, name: &str, password: &str) -> Value {
        let r =
            self.call(post_form("/api/v1/auth/token", &[("username", name), ("password", password)])).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Registers and logs in; returns the access token.
    pub async fn user_token(&self, name: &str) -> String {
        self.register(name).await;
        self.login(name).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a user with any role through the domain (as the operator CLI does).
    pub fn create(&self, name: &str, role: gatehouse::store::records::Role) -> Value {
        let u = self
            .auth()
            .create_user(
                &gatehouse::domain::Ctx::cli(),
                &gatehouse::domain::users::NewUser {
                    username: name.into(),
                    email: format!("{name}@example.com"),
                    password: PASSWORD.into(),
                    full_name: None,
                },
                role,
            )
            .unwrap();
        serde_json::json!({"id": u.id, "username": u.username})
    }

    /// Creates a user with `role` and logs in; returns (user id, access token).
    pub async fn as_role(&self, name: &str, role: gatehouse::store::records::Role) -> (u64, String) {
        let id = self.create(name, role)["id"].as_u64().unwrap();
        let token = self.login(name).await["access_token"].as_str().unwrap().to_owned();
        (id, token)
    }

    /// Stops the server (see [`ServerHandle::shutdown`]) and removes its directory.
    pub async fn stop(self) {
        self.stop_keeping().await;
    }
}

/// The password every helper-made user has.
pub const PASSWORD: &str = "SecurePass123!";
