//! The workloads: what each scenario sends, and one closed-loop connection
//! (`worker`) that sends it until the measurement window ends.

use crate::{oidc, refresh_token_of, request, Conn, Ctx};
use anyhow::{anyhow, Result};
use bytes::Bytes;
use clap::ValueEnum;
use http_body_util::Full;
use hyper::{Method, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// What a scenario sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// GET /health: TLS + HTTP and nothing else, the bare request.
    Health,
    /// GET /api/v1/users/me with one Bearer token.
    Me,
    /// Forward auth: GET /api/v1/auth/verify with the same token.
    Verify,
    /// POST /api/v1/auth/token as the benchmark users in turn.
    Login,
    /// POST /api/v1/users/register with new names.
    Register,
    /// Each connection rotates its own refresh token.
    Refresh,
    /// GET /api/v1/admin/users/search?q=<a user's name>&limit=20, as the admin.
    Search,
    /// GET /api/v1/admin/dashboard, as the admin.
    Dashboard,
    /// The OpenID token endpoint exchanging a fresh authorization code.
    Code,
    /// GET /oidc/userinfo with an OpenID access token.
    Userinfo,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Health => "health",
            Kind::Me => "me",
            Kind::Verify => "verify",
            Kind::Login => "login",
            Kind::Register => "register",
            Kind::Refresh => "refresh",
            Kind::Search => "search",
            Kind::Dashboard => "dashboard",
            Kind::Code => "code",
            Kind::Userinfo => "userinfo",
        }
    }

    /// Whether the scenario needs the user's access token.
    pub(crate) fn needs_token(self) -> bool {
        matches!(self, Kind::Me | Kind::Verify)
    }

    /// Whether the scenario needs the admin's access token.
    pub(crate) fn needs_admin(self) -> bool {
        matches!(self, Kind::Search | Kind::Dashboard)
    }
}

/// NAME:CONNECTIONS.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) kind: Kind,
    pub(crate) conns: usize,
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

/// The measurement window, shared by every connection of every scenario.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

impl Window {
    pub(crate) fn new(warmup: Duration, measure: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self { start, end: start + measure }
    }
}

/// One scenario's shared counters.
pub(crate) struct Scenario {
    pub(crate) spec: Spec,
    pub(crate) issued: AtomicU64,
    pub(crate) max_requests: u64,
    /// The user's access token (`me`, `verify`).
    pub(crate) token: Option<String>,
    /// The admin's access token (`search`, `dashboard`).
    pub(crate) admin_token: Option<String>,
}

/// What one connection saw.
#[derive(Default)]
pub(crate) struct Tally {
    /// Latency of each recorded request, nanoseconds.
    pub(crate) lat: Vec<u64>,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) errors: u64,
    pub(crate) setup_errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) first_non_2xx: Option<String>,
    /// Responses that completed after the deadline (not in the statistics).
    pub(crate) late: u64,
}

impl Tally {
    fn error(&mut self, e: &anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{e:#}"));
        }
    }
}

/// Per-connection setup; returns the connection and its own credential: the first
/// refresh token (refresh), a browser session cookie (code), an OpenID access
/// token (userinfo).
async fn setup(ctx: &Ctx, sc: &Scenario, idx: usize) -> Result<(Conn, Option<String>)> {
    let mut conn = ctx.connect().await?;
    let own = match sc.spec.kind {
        Kind::Refresh => {
            let v = ctx.login(&mut conn, &ctx.user(idx)).await?;
            let t = v.get("refresh_token").and_then(Value::as_str);
            Some(t.ok_or_else(|| anyhow!("no refresh_token in login reply"))?.to_owned())
        }
        Kind::Code => Some(oidc::session(ctx, &mut conn, &ctx.user(idx)).await?),
        Kind::Userinfo => Some(oidc::access_token(ctx, &mut conn, &ctx.user(idx), ctx.client()?).await?),
        _ => None,
    };
    Ok((conn, own))
}

pub(crate) async fn worker(
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
        // A fresh code for each exchange, outside the statistics.
        let code = if sc.spec.kind == Kind::Code {
            let made = match ctx.client() {
                Ok(client) => {
                    oidc::code(&ctx, &mut conn, refresh.as_deref().unwrap_or_default(), client).await
                }
                Err(e) => Err(e),
            };
            match made {
                Ok(c) => Some(c),
                Err(e) => {
                    t.error(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        } else {
            None
        };
        let req = match build(&ctx, &sc, idx, k, code.as_deref().or(refresh.as_deref())) {
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
        Kind::Health => request(Method::GET, "/health", None, "", Bytes::new()),
        Kind::Me => request(Method::GET, "/api/v1/users/me", sc.token.as_deref(), "", Bytes::new()),
        Kind::Verify => request(Method::GET, "/api/v1/auth/verify", sc.token.as_deref(), "", Bytes::new()),
        Kind::Search => {
            // Spread over the whole index: a different user's name each time.
            let name = ctx.user(idx.wrapping_mul(7919).wrapping_add(k.wrapping_mul(104_729)));
            let path = format!("/api/v1/admin/users/search?q={name}&limit=20");
            request(Method::GET, &path, sc.admin_token.as_deref(), "", Bytes::new())
        }
        Kind::Dashboard => {
            request(Method::GET, "/api/v1/admin/dashboard", sc.admin_token.as_deref(), "", Bytes::new())
        }
        Kind::Login => ctx.login_request(&ctx.user(idx + k * sc.spec.conns)),
        Kind::Register => ctx.register_request(&format!("r{}_{idx}_{k}", ctx.run_id)),
        Kind::Code => oidc::exchange(ctx.client()?, refresh.unwrap_or_default()),
        Kind::Userinfo => oidc::userinfo(refresh.unwrap_or_default()),
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
