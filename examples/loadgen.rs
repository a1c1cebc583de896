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
//! ```
//!
//! Scenarios (`NAME:CONNECTIONS`): `me` (GET /api/v1/users/me with one Bearer token),
//! `login` (POST /api/v1/auth/token as the pre-registered users), `register` (POST
//! /api/v1/users/register, unique names with a per-run random prefix), `refresh`
//! (each connection logs in once, then rotates its own refresh token in a loop).
//! `--also` runs more scenarios at the same time; each is reported separately.
//! Connections are opened (and refresh logins done) before the clock starts. A
//! request counts when its response completes inside the window [warm-up end,
//! deadline]; requests still in flight at the deadline are awaited (so the server
//! is idle afterwards) but only counted as `late`. Server CPU is read at both ends
//! of the same window, so CPU per request and req/s describe the same requests.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_rustls::TlsConnector;

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
}

#[derive(Debug, Args)]
struct StartupArgs {
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
struct ReportArgs {
    /// JSON lines written by bench/run.sh (meta, startup and scenario lines).
    #[arg(long)]
    raw: PathBuf,
}

/// Where the server is and who the benchmark users are.
#[derive(Debug, Clone, Args)]
struct Target {
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
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Main scenario, NAME:CONNECTIONS (me, login, register, refresh), e.g. me:64.
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
    /// File holding the Bearer token for `me` (default: log in once as <prefix>0).
    #[arg(long)]
    token_file: Option<PathBuf>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Me,
    Login,
    Register,
    Refresh,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Me => "me",
            Kind::Login => "login",
            Kind::Register => "register",
            Kind::Refresh => "refresh",
        }
    }
}

/// NAME:CONNECTIONS.
#[derive(Debug, Clone, Copy)]
struct Spec {
    kind: Kind,
    conns: usize,
}

impl std::str::FromStr for Spec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, n) = s.split_once(':').unwrap_or((s, "1"));
        let kind = Kind::from_str(name, true).map_err(|_| format!("unknown scenario '{name}'"))?;
        let conns: usize = n.parse().map_err(|_| format!("bad connection count '{n}'"))?;
        if conns == 0 || conns > 4096 {
            return Err("connections must be 1..=4096".into());
        }
        Ok(Self { kind, conns })
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.conns)
    }
}

/// What every connection needs.
struct Ctx {
    addr: SocketAddr,
    tls: TlsConnector,
    server_name: ServerName<'static>,
    user_prefix: String,
    users: usize,
    password: String,
    timeout: Duration,
    /// Per-run random prefix for `register` usernames.
    run_id: String,
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
        })
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

struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// One request, body read to the end, under `timeout`.
    async fn send(&mut self, req: Request<Full<Bytes>>, timeout: Duration) -> Result<(StatusCode, Bytes)> {
        let fut = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, body))
        };
        tokio::time::timeout(timeout, fut).await.map_err(|_| anyhow!("timed out after {timeout:?}"))?
    }
}

fn refresh_token_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("refresh_token")?.as_str().map(str::to_owned)
}

/// The measurement window, shared by every connection of every scenario.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn new(warmup: Duration, measure: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self { start, end: start + measure }
    }
}

/// One scenario's shared counters.
struct Scenario {
    spec: Spec,
    issued: AtomicU64,
    max_requests: u64,
    token: Option<String>,
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    /// Latency of each recorded request, nanoseconds.
    lat: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    setup_errors: u64,
    first_error: Option<String>,
    first_non_2xx: Option<String>,
    /// Responses that completed after the deadline (not in the statistics).
    late: u64,
}

impl Tally {
    fn error(&mut self, e: &anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{e:#}"));
        }
    }
}

/// Per-connection setup; returns the connection and, for refresh, its first token.
async fn setup(ctx: &Ctx, sc: &Scenario, idx: usize) -> Result<(Conn, Option<String>)> {
    let mut conn = ctx.connect().await?;
    let refresh = if sc.spec.kind == Kind::Refresh {
        let v = ctx.login(&mut conn, &ctx.user(idx)).await?;
        let t = v.get("refresh_token").and_then(Value::as_str);
        Some(t.ok_or_else(|| anyhow!("no refresh_token in login reply"))?.to_owned())
    } else {
        None
    };
    Ok((conn, refresh))
}

async fn worker(
    ctx: Arc<Ctx>,
    sc: Arc<Scenario>,
    idx: usize,
    barrier: Arc<Barrier>,
    window: Arc<std::sync::OnceLock<Window>>,
    (warmup, measure): (Duration, Duration),
) -> Tally {
    let mut t = Tally::default();
    let ready = setup(&ctx, &sc, idx).await;
    barrier.wait().await;
    let (mut conn, mut refresh) = match ready {
        Ok(r) => r,
        Err(e) => {
            t.setup_errors += 1;
            t.first_error = Some(format!("setup: {e:#}"));
            return t;
        }
    };
    let w = *window.get_or_init(|| Window::new(warmup, measure));
    let mut k: usize = 0;
    while Instant::now() < w.end && sc.issued.fetch_add(1, Ordering::Relaxed) < sc.max_requests {
        k += 1;
        if sc.spec.kind == Kind::Refresh && refresh.is_none() {
            // The chain broke (non-2xx): log in again, outside the statistics.
            match ctx.login(&mut conn, &ctx.user(idx)).await {
                Ok(v) => refresh = v.get("refresh_token").and_then(Value::as_str).map(str::to_owned),
                Err(e) => {
                    t.error(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let req = match build(&ctx, &sc, idx, k, refresh.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                t.error(&e);
                break;
            }
        };
        let t0 = Instant::now();
        let res = conn.send(req, ctx.timeout).await;
        let done = Instant::now();
        let dt = done - t0;
        let recorded = done >= w.start && done <= w.end;
        if done > w.end {
            t.late += 1;
        }
        match res {
            Ok((status, body)) => {
                if recorded {
                    t.lat.push(u64::try_from(dt.as_nanos()).unwrap_or(u64::MAX));
                    *t.statuses.entry(status.as_u16()).or_default() += 1;
                }
                if !status.is_success() && t.first_non_2xx.is_none() {
                    t.first_non_2xx = Some(format!("{status} {}", String::from_utf8_lossy(&body)));
                }
                if sc.spec.kind == Kind::Refresh {
                    refresh = if status.is_success() { refresh_token_of(&body) } else { None };
                }
            }
            Err(e) => {
                if recorded {
                    t.error(&e);
                }
                match ctx.connect().await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        t.error(&e);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
    t
}

fn build(
    ctx: &Ctx,
    sc: &Scenario,
    idx: usize,
    k: usize,
    refresh: Option<&str>,
) -> Result<Request<Full<Bytes>>> {
    match sc.spec.kind {
        Kind::Me => request(Method::GET, "/api/v1/users/me", sc.token.as_deref(), "", Bytes::new()),
        Kind::Login => ctx.login_request(&ctx.user(idx + k * sc.spec.conns)),
        Kind::Register => ctx.register_request(&format!("r{}_{idx}_{k}", ctx.run_id)),
        Kind::Refresh => {
            let body = json!({ "refresh_token": refresh.unwrap_or_default() });
            request(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                "application/json",
                serde_json::to_vec(&body)?.into(),
            )
        }
    }
}

/// utime + stime of a process in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Busy CPU seconds of the whole machine (all but idle and iowait), from /proc/stat.
fn machine_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy: u64 = f.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    Some(busy as f64 / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Samples the server's RSS every 100 ms until `stop`.
async fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> (Option<u64>, Option<u64>) {
    let first = rss_kib(pid);
    let mut max = first;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(r) = rss_kib(pid) {
            max = Some(max.map_or(r, |m| m.max(r)));
        }
    }
    (first, max)
}

async fn run(args: RunArgs) -> Result<()> {
    let ctx = Arc::new(Ctx::new(&args.target)?);
    let mut specs = vec![args.scenario];
    specs.extend(args.also.iter().copied());
    let token = match (&args.token_file, specs.iter().any(|s| s.kind == Kind::Me)) {
        (Some(f), _) => Some(std::fs::read_to_string(f)?.trim().to_owned()),
        (None, true) => {
            let mut c = ctx.connect().await.context("connecting")?;
            let v = ctx.login(&mut c, &ctx.user(0)).await?;
            let t = v.get("access_token").and_then(Value::as_str);
            Some(t.ok_or_else(|| anyhow!("no access_token"))?.to_owned())
        }
        (None, false) => None,
    };
    let total: usize = specs.iter().map(|s| s.conns).sum();
    let barrier = Arc::new(Barrier::new(total + 1));
    let window = Arc::new(std::sync::OnceLock::new());
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.seconds);
    let mut handles = Vec::new();
    for spec in &specs {
        let sc = Arc::new(Scenario {
            spec: *spec,
            issued: AtomicU64::new(0),
            max_requests: args.max_requests,
            token: token.clone(),
        });
        let mut hs = Vec::new();
        for idx in 0..spec.conns {
            hs.push(tokio::spawn(worker(
                Arc::clone(&ctx),
                Arc::clone(&sc),
                idx,
                Arc::clone(&barrier),
                Arc::clone(&window),
                (warmup, measure),
            )));
        }
        handles.push((*spec, hs));
    }
    barrier.wait().await;
    let w = *window.get_or_init(|| Window::new(warmup, measure));
    let stop = Arc::new(AtomicBool::new(false));
    let rss = args.server_pid.map(|pid| tokio::spawn(watch_rss(pid, Arc::clone(&stop))));
    tokio::time::sleep_until(w.start.into()).await;
    let pid_s = args.server_pid.map(|p| p.to_string());
    let srv0 = pid_s.as_deref().and_then(cpu_seconds);
    let me0 = cpu_seconds("self");
    let all0 = machine_busy_seconds();
    tokio::time::sleep_until(w.end.into()).await;
    let srv1 = pid_s.as_deref().and_then(cpu_seconds);
    let me1 = cpu_seconds("self");
    let all1 = machine_busy_seconds();
    let mut results = Vec::new();
    for (spec, hs) in handles {
        let mut tallies = Vec::new();
        for h in hs {
            tallies.push(h.await?);
        }
        results.push((spec, tallies));
    }
    stop.store(true, Ordering::Relaxed);
    let (rss_start, rss_max) = match rss {
        Some(h) => h.await?,
        None => (None, None),
    };
    let all_requests: usize =
        results.iter().map(|(_, ts)| ts.iter().map(|t| t.lat.len()).sum::<usize>()).sum();
    let server_cpu = srv0.zip(srv1).map(|(a, b)| b - a);
    let loadgen_cpu = me0.zip(me1).map(|(a, b)| b - a);
    // CPU used by everything else on the machine during the run: the noise indicator.
    let other_cpu =
        all0.zip(all1).map(|(a, b)| b - a - server_cpu.unwrap_or(0.0) - loadgen_cpu.unwrap_or(0.0));
    let names: Vec<String> = specs.iter().map(Spec::to_string).collect();
    for (spec, tallies) in results {
        let line = report(&args, spec, tallies, &names);
        let mut line = line;
        if let Some(obj) = line.as_object_mut() {
            obj.insert("server_cpu_s".into(), json!(server_cpu.map(|c| round(c, 2))));
            obj.insert(
                "server_cpu_us_per_req_all".into(),
                json!(server_cpu
                    .filter(|_| all_requests > 0)
                    .map(|c| round(c * 1e6 / all_requests as f64, 1))),
            );
            obj.insert("loadgen_cpu_s".into(), json!(loadgen_cpu.map(|c| round(c, 2))));
            obj.insert("other_cpu_s".into(), json!(other_cpu.map(|c| round(c, 2))));
            obj.insert("server_rss_start_kib".into(), json!(rss_start));
            obj.insert("server_rss_max_kib".into(), json!(rss_max));
        }
        emit(&line, args.out.as_deref())?;
    }
    Ok(())
}

fn report(args: &RunArgs, spec: Spec, tallies: Vec<Tally>, names: &[String]) -> Value {
    let mut lat = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut errors, mut setup_errors) = (0, 0);
    let (mut first_error, mut first_non_2xx) = (None, None);
    let mut late = 0;
    for t in tallies {
        lat.extend(t.lat);
        for (s, n) in t.statuses {
            *statuses.entry(s).or_default() += n;
        }
        errors += t.errors;
        setup_errors += t.setup_errors;
        first_error = first_error.or(t.first_error);
        first_non_2xx = first_non_2xx.or(t.first_non_2xx);
        late += t.late;
    }
    lat.sort_unstable();
    let secs = args.seconds;
    let n = lat.len();
    let non_2xx: u64 = statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum();
    let mean = if n > 0 { lat.iter().map(|&x| x as f64).sum::<f64>() / n as f64 / 1e6 } else { 0.0 };
    let others: Vec<&String> = names.iter().filter(|s| **s != spec.to_string()).collect();
    json!({
        "scenario": spec.kind.name(),
        "connections": spec.conns,
        "concurrent_with": others,
        "label": args.label,
        "seconds": round(secs, 3),
        "requests": n,
        "rps": round(if secs > 0.0 { n as f64 / secs } else { 0.0 }, 1),
        "p50_ms": round(percentile(&lat, 0.50), 3),
        "p90_ms": round(percentile(&lat, 0.90), 3),
        "p99_ms": round(percentile(&lat, 0.99), 3),
        "max_ms": round(percentile(&lat, 1.0), 3),
        "mean_ms": round(mean, 3),
        "non_2xx": non_2xx,
        "errors": errors,
        "setup_errors": setup_errors,
        "late": late,
        "statuses": statuses,
        "first_error": first_error,
        "first_non_2xx": first_non_2xx,
        "loadgen_threads": args.target.threads,
    })
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
        Cmd::Startup(a) => return startup(a),
        Cmd::Report(a) => return print_report(a),
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build()?;
    rt.block_on(async {
        match cli.command {
            Cmd::RegisterUsers(a) => register_users(a).await,
            Cmd::Run(a) => run(a).await,
            Cmd::Startup(_) | Cmd::Report(_) => Ok(()),
        }
    })
}

/// One start of the server: spawn → ready file → settle → RSS → SIGTERM → exit.
struct Start {
    ready_ms: f64,
    rss_kib: Option<u64>,
    stop_ms: f64,
    exit: Option<i32>,
}

fn startup(a: &StartupArgs) -> Result<()> {
    let ready = a.data_dir.with_extension("ready");
    let first = start_once(a, &ready)?;
    let mut starts = Vec::new();
    for _ in 0..a.runs {
        starts.push(start_once(a, &ready)?);
    }
    let ready_ms: Vec<f64> = starts.iter().map(|s| round(s.ready_ms, 1)).collect();
    let rss: Vec<u64> = starts.iter().filter_map(|s| s.rss_kib).collect();
    let line = json!({
        "startup": {
            "first_ready_ms": round(first.ready_ms, 1),
            "first_idle_rss_kib": first.rss_kib,
            "ready_ms": ready_ms,
            "ready_ms_median": median(&ready_ms),
            "idle_rss_kib": rss,
            "idle_rss_kib_median": median(&rss.iter().map(|&r| r as f64).collect::<Vec<_>>()),
            "stop_ms": starts.iter().map(|s| round(s.stop_ms, 1)).collect::<Vec<_>>(),
            "exit_codes": starts.iter().map(|s| s.exit).collect::<Vec<_>>(),
            "settle_s": a.settle,
            "serve_args": a.serve_args,
        }
    });
    emit(&line, a.out.as_deref())
}

fn start_once(a: &StartupArgs, ready: &Path) -> Result<Start> {
    use std::process::{Command, Stdio};
    let _ = std::fs::remove_file(ready);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
        .with_context(|| format!("opening {}", a.log.display()))?;
    let mut cmd = Command::new(&a.bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(&a.data_dir)
        .args(["--listen", "127.0.0.1:0", "--ready-file"])
        .arg(ready)
        .args(&a.serve_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let t0 = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {}", a.bin.display()))?;
    let ready_after = loop {
        if ready.exists() {
            break t0.elapsed();
        }
        if let Some(st) = child.try_wait()? {
            bail!("server exited before it was ready ({st}); see {}", a.log.display());
        }
        if t0.elapsed() > Duration::from_secs(30) {
            terminate(&mut child)?;
            bail!("server not ready within 30 s; see {}", a.log.display());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    std::thread::sleep(Duration::from_secs_f64(a.settle));
    let rss_kib = rss_kib(child.id());
    let t1 = Instant::now();
    let status = terminate(&mut child)?;
    Ok(Start {
        ready_ms: ready_after.as_secs_f64() * 1e3,
        rss_kib,
        stop_ms: t1.elapsed().as_secs_f64() * 1e3,
        exit: status.code(),
    })
}

/// SIGTERM (through kill(1): this crate has no libc), then SIGKILL after 30 s.
fn terminate(child: &mut std::process::Child) -> Result<std::process::ExitStatus> {
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st);
        }
        if t.elapsed() > Duration::from_secs(30) {
            child.kill()?;
            return Ok(child.wait()?);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Scenario lines grouped by what ran: (scenario:conns, concurrent_with).
type Groups = BTreeMap<(usize, String), (String, Vec<Value>)>;

fn group_key(v: &Value) -> String {
    let others: Vec<&str> = v["concurrent_with"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let me = format!("{}:{}", v["scenario"].as_str().unwrap_or("?"), v["connections"].as_u64().unwrap_or(0));
    if others.is_empty() {
        me
    } else {
        format!("{me} during {}", others.join(" + "))
    }
}

fn stat(rows: &[Value], field: &str) -> Vec<f64> {
    rows.iter().filter_map(|r| r[field].as_f64()).collect()
}

fn range(v: &[f64], digits: i32) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() < 2 {
        format!("{}", round(median(v), digits))
    } else {
        format!("{} ({}–{})", round(median(v), digits), round(lo, digits), round(hi, digits))
    }
}

fn print_report(a: &ReportArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.raw).with_context(|| format!("reading {}", a.raw.display()))?;
    let mut groups: Groups = BTreeMap::new();
    let mut meta = serde_json::Map::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).context("a line of the raw file")?;
        if v.get("scenario").is_some() {
            let key = group_key(&v);
            let n = groups.len();
            let order = groups.iter().find(|(_, (k, _))| *k == key).map_or(n, |((o, _), _)| *o);
            groups.entry((order, key.clone())).or_insert_with(|| (key, Vec::new())).1.push(v);
        } else if let Some(obj) = v.as_object() {
            meta.extend(obj.clone());
        }
    }
    println!("| scenario | rounds | req/s median (min–max) | p50 ms | p99 ms | max ms | non-2xx | errors | server CPU µs/req | server RSS max MiB | other CPU s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (key, rows) in groups.values() {
        let sum = |f: &str| rows.iter().filter_map(|r| r[f].as_u64()).sum::<u64>();
        let rss: Vec<f64> = stat(rows, "server_rss_max_kib").iter().map(|k| k / 1024.0).collect();
        println!(
            "| {key} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rows.len(),
            range(&stat(rows, "rps"), 0),
            range(&stat(rows, "p50_ms"), 2),
            range(&stat(rows, "p99_ms"), 2),
            round(median(&stat(rows, "max_ms")), 1),
            sum("non_2xx"),
            sum("errors") + sum("setup_errors"),
            range(&stat(rows, "server_cpu_us_per_req_all"), 0),
            range(&rss, 1),
            range(&stat(rows, "other_cpu_s"), 1),
        );
    }
    println!();
    println!("## Targets");
    println!();
    targets(&groups, &meta);
    Ok(())
}

fn group<'a>(groups: &'a Groups, key: &str) -> Option<&'a [Value]> {
    groups.values().find(|(k, _)| k == key).map(|(_, r)| r.as_slice())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn targets(groups: &Groups, meta: &serde_json::Map<String, Value>) {
    const MIB: f64 = 1024.0 * 1024.0;
    println!("| target | measured (median over rounds) | verdict |");
    println!("|---|---|---|");
    let hash_mib = meta.get("hash_memory_mib").and_then(Value::as_f64).unwrap_or(128.0);
    let idle_kib = meta.get("startup").and_then(|s| s["idle_rss_kib_median"].as_f64());
    let me = group(groups, "me:64");
    let me_p99 = me.map(|r| median(&stat(r, "p99_ms")));
    if let Some(rows) = me {
        let rps = median(&stat(rows, "rps"));
        let p99 = me_p99.unwrap_or(0.0);
        let bad: u64 = rows
            .iter()
            .map(|r| {
                r["non_2xx"].as_u64().unwrap_or(0)
                    + r["errors"].as_u64().unwrap_or(0)
                    + r["setup_errors"].as_u64().unwrap_or(0)
            })
            .sum();
        println!(
            "| users/me, 64 conns: ≥ 10,000 req/s | {rps:.0} req/s ({:+.0} %) | {} |",
            (rps / 10_000.0 - 1.0) * 100.0,
            verdict(rps >= 10_000.0)
        );
        println!("| users/me, 64 conns: p99 ≤ 25 ms | {p99:.2} ms | {} |", verdict(p99 <= 25.0));
        println!(
            "| users/me, 64 conns: zero errors | {bad} non-2xx or transport errors | {} |",
            verdict(bad == 0)
        );
    }
    if let (Some(rows), Some(idle)) = (group(groups, "me:64 during login:32"), me_p99) {
        let p99 = median(&stat(rows, "p99_ms"));
        println!(
            "| users/me p99 during login storm ≤ 3 × idle ({:.2} ms) | {p99:.2} ms = {:.1} × | {} |",
            3.0 * idle,
            p99 / idle.max(1e-9),
            verdict(p99 <= 3.0 * idle)
        );
    }
    if let Some(idle_kib) = idle_kib {
        let limit = idle_kib / 1024.0 + hash_mib + 20.0;
        for key in ["me:64 during login:32", "login:32"] {
            let Some(rows) = group(groups, key) else {
                continue;
            };
            let max = stat(rows, "server_rss_max_kib").iter().copied().fold(0.0, f64::max) / 1024.0;
            println!(
                "| RSS during a login storm ({key}) ≤ idle + {hash_mib} MiB + 20 MiB = {limit:.1} MiB | {max:.1} MiB (max over rounds, {:+.1} MiB) | {} |",
                max - limit,
                verdict(max <= limit)
            );
        }
    }
    if let Some(rows) = group(groups, "refresh:32") {
        let rps = median(&stat(rows, "rps"));
        println!("| refresh ≥ 1,000/s | {rps:.0} /s | {} |", verdict(rps >= 1000.0));
    }
    if let Some(kib) = idle_kib {
        println!("| idle RSS ≤ 12 MiB | {:.1} MiB | {} |", kib / 1024.0, verdict(kib <= 12.0 * 1024.0));
    }
    if let Some(bytes) = meta.get("binary_bytes").and_then(Value::as_f64) {
        println!(
            "| stripped release binary ≤ 8 MiB | {:.2} MiB ({bytes:.0} bytes) | {} |",
            bytes / MIB,
            verdict(bytes <= 8.0 * MIB)
        );
    }
    if let Some(ms) = meta.get("startup").and_then(|s| s["ready_ms_median"].as_f64()) {
        println!(
            "| ready ≤ 200 ms after start (certificate exists) | {ms:.1} ms median | {} |",
            verdict(ms <= 200.0)
        );
    }
}
