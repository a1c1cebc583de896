//! The handle every request gets: the auth core plus the server's own resources
//! (the password-hashing gate). One value, passed explicitly; no globals.

use super::error::ApiError;
use super::ratelimit::Limiter;
use crate::config::{Cidr, Config, RateLimits};
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
    /// How long a request's body may take to arrive (`--body-timeout`).
    pub body_timeout: std::time::Duration,
    /// Per-client rate limiters.
    pub limits: RateLimiters,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Allowed browser origins.
    pub cors: super::cors::Cors,
    /// The tokens' issuer, also the base of the discovery URLs.
    pub issuer: String,
    /// The next request id (for log lines; per server, not per process).
    pub request_ids: std::sync::atomic::AtomicU64,
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
    /// The state of a server serving `auth` under `issuer`, configured by
    /// `config` (`tls`: whether connections are TLS). Builds no sockets, so tests
    /// can drive the router with it directly.
    pub fn new(config: &Config, auth: Arc<Auth>, issuer: String, tls: bool) -> Self {
        // A login may hash at the ceiling (the most expensive stored parameters), not
        // only at the configured ones: size the slots for that.
        let per_hash = config.hash_params.memory_bytes().max(auth.hash_ceiling().memory_bytes()).max(1);
        // As many hashes at once as the memory budget allows, but no more than there are
        // cores: more would not hash faster, only take CPU from token checks.
        let by_memory = usize::try_from((config.hash_memory_bytes / per_hash).max(1)).unwrap_or(1);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let slots = by_memory.min(cores);
        AppState {
            auth,
            hash_gate: Arc::new(Semaphore::new(slots)),
            tls,
            max_body: crate::config::MAX_BODY_BYTES,
            body_timeout: config.limits.body_timeout,
            limits: RateLimiters::new(&config.rate_limits),
            trusted_proxies: config.trusted_proxies.clone(),
            cors: super::cors::Cors::new(&config.cors_origins),
            issuer,
            request_ids: std::sync::atomic::AtomicU64::new(1),
            forward_header_prefix: config.forward_header_prefix.clone(),
            metrics: super::metrics::Metrics::new(),
            docs: !config.no_docs,
            return_to: super::return_to::ReturnTo::new(config.redirect_allow.clone()),
            cookie_domain: config.cookie_domain.clone(),
        }
    }

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
        let auth = Arc::clone(&self.auth);
        match holding(permit, move || f(&auth)).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::Domain(domain::Error::Internal(format!("blocking task failed: {e}")))),
        }
    }
}

/// Runs `job` on the blocking pool, holding `permit` until the job itself ends:
/// a caller that goes away (the client disconnected mid-login) must not free its
/// slot while its hash still runs, or a storm of abandoned logins would run more
/// hashes at once than the memory budget allows.
async fn holding<T: Send + 'static>(
    permit: tokio::sync::OwnedSemaphorePermit,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || {
        let out = job();
        drop(permit);
        out
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_slot_until_it_ends() {
        let gate = Arc::new(Semaphore::new(1));
        let permit = Arc::clone(&gate).acquire_owned().await.unwrap();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let call = holding(permit, move || wait.recv_timeout(Duration::from_secs(10)).is_ok());
        // The caller gives up while the job runs.
        assert!(tokio::time::timeout(Duration::from_millis(50), call).await.is_err());
        assert_eq!(gate.available_permits(), 0, "the running hash still holds its slot");
        release.send(()).unwrap();
        let back = tokio::time::timeout(Duration::from_secs(10), Arc::clone(&gate).acquire_owned()).await;
        assert!(back.is_ok(), "the slot comes back when the job ends");
    }
}
