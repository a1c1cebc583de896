//! gatehouse's load generator: drives a running server over TLS with keep-alive
//! HTTP/1.1 connections and prints one JSON line per scenario (bench/run.sh uses it).
//!
//! A bench tool, not product code: it talks to 127.0.0.1 only, trusts exactly one
//! certificate (`--cacert`, e.g. the server's generated `<data-dir>/tls-cert.pem`),
//! and every run is bounded by `--seconds` and `--max-requests`.
//!
//! ```text
//! loadgen register-users --cacert D/tls-cert.pem --addr 127.0.0.1:PORT --users 64
//! loadgen run --cacert D/tls-cert.pem --addr 127.0.0.1:PORT --scenario me:64 \
//!     --also login:32 --seconds 10 --server-pid PID
//! loadgen limits --dir D
//! ```
//!
//! Scenarios (`NAME:CONNECTIONS`, see `workload.rs`): `health` (GET /health: the bare
//! TLS request), `me` (GET /api/v1/users/me with one Bearer token), `verify` (forward
//! auth, GET /api/v1/auth/verify with that token), `login` (POST /api/v1/auth/token
//! as the pre-registered users), `register` (POST /api/v1/users/register, unique
//! names with a per-run random prefix), `refresh` (each connection logs in once,
//! then rotates its own refresh token in a loop), `search` and `dashboard` (the
//! admin user search and dashboard, as `--admin-user`), `code` and `userinfo` (the
//! OpenID Provider, with `--client-id`: see support/oidc.rs).
//! `--also` runs more scenarios at the same time; each is reported separately.
//! Connections are opened (and refresh logins done) before the clock starts. A
//! request counts when its response completes inside the window [warm-up end,
//! deadline]; requests still in flight at the deadline are awaited (so the server
//! is idle afterwards) but only counted as `late`. Server CPU is read at both ends
//! of the same window, so CPU per request and req/s describe the same requests.

mod limits;
mod measure;
#[path = "../support/oidc.rs"]
mod oidc;
mod report;
mod startup;
mod workload;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use measure::round;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use workload::Spec;

/// gatehouse load generator (bench tool; loopback only).
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "gatehouse load generator: keep-alive TLS load against a local server (see bench/README.md)",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Register the benchmark users <prefix>0 .. <prefix>N-1 (existing ones are kept).
    RegisterUsers(RegisterArgs),
    /// Run one or more scenarios at the same time and print one JSON line each.
    Run(RunArgs),
    /// Start the server binary repeatedly: time to ready, idle RSS, shutdown time.
    Startup(StartupArgs),
    /// Turn the JSON lines of bench/run.sh into the markdown results table.
    Report(ReportArgs),
    /// Measure the machine's limits the results are compared with: Ed25519
    /// verifications and SHA-256 of a token per second on one core, and durable
    /// 4 KiB writes (write + fdatasync) per second in a directory.
    Limits(limits::LimitsArgs),
    /// Compare the scenarios of two raw files (two database sizes): req/s and p99
    /// side by side, and whether each stays within `--limit` times.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// JSON lines of the small database's run.
    #[arg(long)]
    small: PathBuf,
    /// JSON lines of the large database's run.
    #[arg(long)]
    large: PathBuf,
    /// Column label of the small run.
    #[arg(long, default_value = "small")]
    small_label: String,
    /// Column label of the large run.
    #[arg(long, default_value = "large")]
    large_label: String,
    /// Largest acceptable ratio (slower throughput, longer p99).
    #[arg(long, default_value_t = 1.2)]
    limit: f64,
}

#[derive(Debug, Args)]
pub(crate) struct StartupArgs {
    /// The gatehouse binary.
    #[arg(long)]
    bin: PathBuf,
    /// Data directory (should not exist yet: the first start creates it and the
    /// certificate and is reported apart from the timed starts).
    #[arg(long)]
    data_dir: PathBuf,
    /// Timed starts after the first one.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Seconds to wait after ready before reading the idle RSS.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Server stdout and stderr are appended here.
    #[arg(long)]
    log: PathBuf,
    /// Also append the JSON line to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Extra `serve` arguments (after --).
    #[arg(last = true)]
    serve_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// JSON lines written by bench/run.sh (meta, startup and scenario lines).
    #[arg(long)]
    raw: PathBuf,
}

/// Where the server is and who the benchmark users are.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// Server address; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: SocketAddr,
    /// PEM certificate(s) to trust, e.g. the server's <data-dir>/tls-cert.pem.
    #[arg(long)]
    cacert: PathBuf,
    /// TLS server name to verify (the generated certificate covers localhost).
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Benchmark users are named <prefix>0, <prefix>1, ...
    #[arg(long, default_value = "bench")]
    user_prefix: String,
    /// How many benchmark users exist (login and refresh spread over them).
    #[arg(long, default_value_t = 64)]
    users: usize,
    /// Password of every benchmark user (and of users made by `register`).
    #[arg(long, default_value = "BenchPass123!")]
    password: String,
    /// Seconds before one request counts as a transport error.
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// The OpenID client for `code` and `userinfo`: public, trusted, registered
    /// with `--redirect-uri` (`gatehouse client add ... --public --trusted`).
    #[arg(long)]
    client_id: Option<String>,
    /// The client's registered redirect URI (never contacted).
    #[arg(long, default_value = "https://127.0.0.1/cb")]
    redirect_uri: String,
}

#[derive(Debug, Args)]
struct RegisterArgs {
    #[command(flatten)]
    target: Target,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Main scenario, NAME:CONNECTIONS (health, me, verify, login, register, refresh,
    /// search, dashboard, code, userinfo), e.g. me:64.
    #[arg(long)]
    scenario: Spec,
    /// Another scenario run at the same time (repeatable), e.g. login:32.
    #[arg(long)]
    also: Vec<Spec>,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds sent but not recorded before the measurement starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Hard cap on requests per scenario (warm-up included).
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// File holding the Bearer token for `me` and `verify` (default: log in once as
    /// <prefix>0).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The admin that `search` and `dashboard` log in as (with `--password`).
    #[arg(long, default_value = "benchadmin")]
    admin_user: String,
    /// Server process to watch: RSS sampled every 100 ms, CPU time per request.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Free-form label copied into every JSON line.
    #[arg(long)]
    label: Option<String>,
    /// Also append the JSON lines to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What every connection needs.
pub(crate) struct Ctx {
    addr: SocketAddr,
    tls: TlsConnector,
    server_name: ServerName<'static>,
    user_prefix: String,
    users: usize,
    password: String,
    timeout: Duration,
    /// Per-run random prefix for `register` usernames.
    run_id: String,
    /// The OpenID client of `code` and `userinfo`.
    client: Option<oidc::Client>,
}

impl Ctx {
    fn new(t: &Target) -> Result<Self> {
        if !t.addr.ip().is_loopback() {
            bail!("{} is not a loopback address: loadgen only drives 127.0.0.1", t.addr);
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&t.cacert)
            .with_context(|| format!("reading {}", t.cacert.display()))?
        {
            roots.add(cert.with_context(|| format!("parsing {}", t.cacert.display()))?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut rnd = [0u8; 4];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
            .map_err(|_| anyhow!("no randomness"))?;
        Ok(Self {
            addr: t.addr,
            tls: TlsConnector::from(Arc::new(cfg)),
            server_name: ServerName::try_from(t.server_name.clone())?,
            user_prefix: t.user_prefix.clone(),
            users: t.users.max(1),
            password: t.password.clone(),
            timeout: Duration::from_secs_f64(t.request_timeout),
            run_id: rnd.iter().map(|b| format!("{b:02x}")).collect(),
            client: t.client_id.clone().map(|id| oidc::Client { id, redirect_uri: t.redirect_uri.clone() }),
        })
    }

    fn client(&self) -> Result<&oidc::Client> {
        self.client.as_ref().ok_or_else(|| anyhow!("the OpenID scenarios need --client-id"))
    }

    fn user(&self, i: usize) -> String {
        format!("{}{}", self.user_prefix, i % self.users)
    }

    /// A keep-alive HTTP/1.1 connection over TLS, TCP_NODELAY on.
    async fn connect(&self) -> Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let tls = self.tls.connect(self.server_name.clone(), tcp).await?;
        let (sender, conn) = http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    fn login_request(&self, user: &str) -> Result<Request<Full<Bytes>>> {
        let form = serde_urlencoded::to_string([("username", user), ("password", &self.password)])?;
        request(Method::POST, "/api/v1/auth/token", None, "application/x-www-form-urlencoded", form.into())
    }

    fn register_request(&self, username: &str) -> Result<Request<Full<Bytes>>> {
        let body = json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": self.password,
        });
        request(
            Method::POST,
            "/api/v1/users/register",
            None,
            "application/json",
            serde_json::to_vec(&body)?.into(),
        )
    }

    /// Logs `user` in on `conn`; returns the TokenResponse.
    async fn login(&self, conn: &mut Conn, user: &str) -> Result<Value> {
        let (status, body) = conn.send(self.login_request(user)?, self.timeout).await?;
        if status != StatusCode::OK {
            bail!("login as {user}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

fn request(
    method: Method,
    path: &str,
    bearer: Option<&str>,
    content_type: &str,
    body: Bytes,
) -> Result<Request<Full<Bytes>>> {
    let mut b = Request::builder().method(method).uri(path).header("host", "localhost");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if !body.is_empty() {
        b = b.header("content-type", content_type);
    }
    Ok(b.body(Full::new(body))?)
}

pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// One request, body read to the end, under `timeout`.
    async fn send(&mut self, req: Request<Full<Bytes>>, timeout: Duration) -> Result<(StatusCode, Bytes)> {
        let (status, _, body) = self.send_full(req, timeout).await?;
        Ok((status, body))
    }

    /// [`Conn::send`], with the response headers.
    async fn send_full(
        &mut self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes)> {
        let fut = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((parts.status, parts.headers, body))
        };
        tokio::time::timeout(timeout, fut).await.map_err(|_| anyhow!("timed out after {timeout:?}"))?
    }
}

fn refresh_token_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("refresh_token")?.as_str().map(str::to_owned)
}

fn emit(line: &Value, out: Option<&Path>) -> Result<()> {
    let s = serde_json::to_string(line)?;
    println!("{s}");
    if let Some(p) = out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("opening {}", p.display()))?;
        writeln!(f, "{s}")?;
    }
    Ok(())
}

async fn register_users(args: RegisterArgs) -> Result<()> {
    let ctx = Arc::new(Ctx::new(&args.target)?);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut hs = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (ctx, next) = (Arc::clone(&ctx), Arc::clone(&next));
        hs.push(tokio::spawn(async move {
            let mut conn = ctx.connect().await?;
            let (mut created, mut existing) = (0u64, 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ctx.users {
                    return Ok::<_, anyhow::Error>((created, existing));
                }
                let name = ctx.user(i);
                let (status, body) = conn.send(ctx.register_request(&name)?, ctx.timeout).await?;
                let text = String::from_utf8_lossy(&body);
                match status.as_u16() {
                    201 => created += 1,
                    400 | 409 if text.contains("already") => existing += 1,
                    429 => bail!(
                        "register {name}: 429 rate limited; start the server with \
                         --register-rate-limit off"
                    ),
                    _ => bail!("register {name}: {status} {text}"),
                }
            }
        }));
    }
    let (mut created, mut existing) = (0, 0);
    for h in hs {
        let (c, e) = h.await??;
        created += c;
        existing += e;
    }
    let line = json!({
        "setup": "register-users",
        "users": ctx.users,
        "created": created,
        "existing": existing,
        "seconds": round(started.elapsed().as_secs_f64(), 3),
    });
    emit(&line, None)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Cmd::RegisterUsers(a) => a.target.threads,
        Cmd::Run(a) => a.target.threads,
        Cmd::Startup(a) => return startup::startup(a),
        Cmd::Report(a) => return report::print_report(a),
        Cmd::Limits(a) => return limits::limits(a),
        Cmd::Compare(a) => return report::compare(a),
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build()?;
    rt.block_on(async {
        match cli.command {
            Cmd::RegisterUsers(a) => register_users(a).await,
            Cmd::Run(a) => measure::run(a).await,
            Cmd::Startup(_) | Cmd::Report(_) | Cmd::Limits(_) | Cmd::Compare(_) => Ok(()),
        }
    })
}
