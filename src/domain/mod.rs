//! What is allowed and what happens: accounts, logins, sessions and tokens.
//!
//! [`Auth`] is the one handle on the auth logic. Its methods are synchronous and may
//! block (scrypt, durable commits): the server calls them on the blocking pool, and
//! acquires a hashing permit first for the ones documented as hashing. Nothing here
//! knows about HTTP, JSON or sockets; outcomes are [`Error`] values and plain structs.

pub mod access;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod counters;
pub mod introspect;
pub mod keys;
pub mod operator;
pub mod phantom;
pub mod roles;
pub mod session_list;
pub mod sessions;
pub mod users;
pub mod validation;

use crate::clock::Clock;
use crate::clock::Micros;
use crate::crypto::password::{PasswordError, PasswordHasherConfig};
use crate::store::records::User;
use crate::store::{Store, StoreError};
pub use audit::Ctx;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

pub use keys::KeyInfo;
use std::time::Duration;
pub use validation::FieldError;

/// Every outcome other than success. The HTTP layer maps each variant to exactly one
/// status code; the strings are the tutorial's `detail` texts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation (422).
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Any failed credential check: unknown user, wrong password, locked, deactivated
    /// at login, bad or revoked token (401). One variant, so replies cannot be probed.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// A login for an account locked after too many failures (401 with the same
    /// detail as a wrong password, plus `Retry-After`: seconds until it unlocks).
    #[error("account locked for {0} s")]
    Locked(u64),
    /// Authenticated but not allowed (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The credential lacks an OAuth2 scope the endpoint needs (403 with a
    /// `WWW-Authenticate: Bearer scope="..."` challenge).
    #[error("missing scope: {0}")]
    MissingScope(&'static str),
    /// A request the tutorial answers with 400.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// No such thing (404).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Duplicate username or email (409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A fault that is ours, not the caller's (500); the text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<PasswordError> for Error {
    fn from(e: PasswordError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// The 401 detail for a failed login, the same for every cause.
pub const BAD_CREDENTIALS: &str = "Incorrect username or password";

/// Tunable rules.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// Failed logins that lock an account (0 disables lockout).
    pub max_failed_logins: u32,
    /// How long a lock lasts.
    pub lockout: Duration,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// How long a new signing key is published before it signs (`keys rotate`).
    pub key_lead: Duration,
}

impl Policy {
    /// The longest any token lives: a retired key keeps verifying this long.
    pub fn max_token_lifetime(&self) -> Duration {
        self.access_ttl.max(self.refresh_ttl)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(30 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            max_failed_logins: 5,
            lockout: Duration::from_secs(30 * 60),
            audit_retention: Duration::from_secs(90 * 86_400),
            key_lead: Duration::from_secs(3600),
        }
    }
}

/// The auth core: store, keys, password hasher, clock and policy.
#[derive(Debug)]
pub struct Auth {
    store: Arc<Store>,
    keys: RwLock<keys::Loaded>,
    passwords: PasswordHasherConfig,
    clock: Clock,
    policy: Policy,
    /// API-key id → (lookup id, last use), written back by [`Auth::flush_key_usage`].
    key_usage: Mutex<HashMap<String, ([u8; 16], Micros)>>,
    /// Audit entries waiting to be written (see [`audit`]).
    audit_queue: Mutex<audit::AuditQueue>,
    /// Event counters for metrics.
    counters: counters::Counters,
    /// Failed logins for names without a usable account (see [`phantom`]).
    phantom: phantom::PhantomLocks,
}

impl Auth {
    /// Builds the core, creating the first signing key if the store has none.
    pub fn new(
        store: Arc<Store>,
        passwords: PasswordHasherConfig,
        clock: Clock,
        policy: Policy,
        issuer: &str,
    ) -> Result<Self, Error> {
        let loaded = keys::load(&store, &clock, issuer, policy.max_token_lifetime(), true)?;
        Ok(Self {
            store,
            keys: RwLock::new(loaded),
            passwords,
            clock,
            policy,
            key_usage: Mutex::new(HashMap::new()),
            audit_queue: Mutex::new(audit::AuditQueue::default()),
            counters: counters::Counters::default(),
            phantom: phantom::PhantomLocks::default(),
        })
    }

    /// The store (for health checks and operator commands).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Event counters since start.
    pub fn counters(&self) -> &counters::Counters {
        &self.counters
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn user_or_internal(tx_user: Option<User>, id: u64) -> Result<User, Error> {
        tx_user.ok_or_else(|| Error::Internal(format!("user {id} missing")))
    }
}

impl Auth {
    /// One cleanup batch: at most `max` expired refresh sessions (and the sessions
    /// they end), expired denylist entries, and audit entries and hourly login
    /// totals past retention, in one write transaction.
    pub fn cleanup_batch(&self, max: usize) -> Result<crate::store::Swept, Error> {
        let now = self.clock.now_secs();
        let retention = i64::try_from(self.policy.audit_retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = self.clock.now_micros().saturating_sub(retention);
        self.store.write(|tx| {
            Ok(crate::store::Swept {
                refresh: tx.purge_refresh(now, max)?,
                denylist: tx.purge_denylist(now, max)?,
                audit: tx.purge_audit(cutoff, max)?,
                login_hours: tx.purge_login_hours(cutoff, max)?,
            })
        })
    }
}
