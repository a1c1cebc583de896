//! The handle every request gets: the auth core plus the server's own resources
//! (the password-hashing gate). One value, passed explicitly; no globals.

use super::error::ApiError;
use super::ratelimit::Limiter;
use crate::config::{Cidr, RateLimits};
use crate::domain::{self, Auth};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Shared state for request handling.
#[derive(Debug)]
pub struct AppState {
    /// The auth core.
    pub auth: Arc<Auth>,
    /// Permits for concurrent password hashes: the memory budget divided by one
    /// hash's memory. A login burst waits here instead of allocating.
    pub hash_gate: Arc<Semaphore>,
    /// Whether connections are TLS (controls HSTS).
    pub tls: bool,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Per-client rate limiters.
    pub limits: RateLimiters,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Allowed browser origins.
    pub cors: super::cors::Cors,
    /// The tokens' issuer, also the base of the discovery URLs.
    pub issuer: String,
    /// Lower-case prefix of the forward-auth identity headers (`x-auth-`).
    pub forward_header_prefix: String,
    /// What the server measures.
    pub metrics: super::metrics::Metrics,
    /// Whether /docs is served.
    pub docs: bool,
    /// Where a sign-in may send the browser back to (`--redirect-allow`).
    pub return_to: super::return_to::ReturnTo,
    /// Domain attribute of the access-token cookie (`--cookie-domain`).
    pub cookie_domain: Option<String>,
    /// The first-run setup code, while no admin exists (cleared once used).
    pub setup_code: std::sync::Mutex<Option<String>>,
}

/// Keys tracked per limiter at most (a few MiB each, whatever the traffic).
pub const LIMITER_CAPACITY: usize = 100_000;

/// The rate limiters; `None` where the operator turned a limit off.
#[derive(Debug)]
pub struct RateLimiters {
    /// token and login, per client address.
    pub login: Option<Limiter<IpAddr>>,
    /// register, per client address.
    pub register: Option<Limiter<IpAddr>>,
    /// other API calls, per client address.
    pub api: Option<Limiter<IpAddr>>,
    /// other API calls made with an API key, per key.
    pub api_keys: Option<Limiter<String>>,
}

impl RateLimiters {
    /// Builds the limiters from the configuration.
    pub fn new(cfg: &RateLimits) -> Self {
        Self {
            login: cfg.login.map(|r| Limiter::new(r, LIMITER_CAPACITY)),
            register: cfg.register.map(|r| Limiter::new(r, LIMITER_CAPACITY)),
            api: cfg.api.map(|r| Limiter::new(r, LIMITER_CAPACITY)),
            api_keys: cfg.api.map(|r| Limiter::new(r, LIMITER_CAPACITY)),
        }
    }

    /// Drops idle entries from every limiter.
    pub fn sweep(&self, now: crate::clock::Micros) -> usize {
        let mut n = 0;
        for l in [&self.login, &self.register, &self.api].into_iter().flatten() {
            n += l.sweep(now);
        }
        n + self.api_keys.as_ref().map_or(0, |l| l.sweep(now))
    }
}

impl AppState {
    /// Runs a domain call that may block (durable commit) on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, domain::Error> + Send + 'static,
    {
        let auth = Arc::clone(&self.auth);
        match tokio::task::spawn_blocking(move || f(&auth)).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::Domain(domain::Error::Internal(format!("blocking task failed: {e}")))),
        }
    }

    /// Like [`AppState::blocking`], for calls that hash a password: waits for a
    /// hashing permit first, so concurrent hashes never exceed the memory budget and
    /// the async workers stay free for token checks.
    pub async fn hashing<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, domain::Error> + Send + 'static,
    {
        let queued = self.metrics.hash_queued();
        let permit = Arc::clone(&self.hash_gate).acquire_owned().await;
        self.metrics.hash_started(queued);
        let permit =
            permit.map_err(|_| ApiError::Domain(domain::Error::Internal("hash gate closed".into())))?;
        let out = self.blocking(f).await;
        drop(permit);
        out
    }
}
