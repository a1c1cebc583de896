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
pub mod authenticate;
pub mod claims;
pub mod counters;
pub mod hash_cost;
pub mod import;
pub mod introspect;
pub mod key_admin;
pub mod keys;
pub mod login;
pub mod maintenance;
pub mod mfa;
pub mod migrate_store;
pub mod oidc;
pub mod operator;
pub mod phantom;
pub mod revocation;
pub mod roles;
pub mod session_list;
pub mod setup;
pub mod tokens;
pub mod users;
pub mod validation;
mod verified_tokens;
pub mod views;

#[cfg(test)]
mod tests;

use crate::clock::Clock;
use crate::clock::Micros;
pub use crate::crypto::password::HashParams;
use crate::crypto::password::{PasswordError, PasswordHasherConfig};
use crate::store::records::User;
/// Roles and audit events are the domain's words; the store only keeps them.
pub use crate::store::records::{AuditEvent, Role};
/// Where the data lives (the composition root picks it from the flags).
pub use crate::store::{postgres::Options as DatabaseOptions, Location as StoreLocation};
pub use crate::store::{AuditQuery, Swept};
use crate::store::{Store, StoreError, UniqueField};
pub use audit::Ctx;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

pub use keys::KeyInfo;
use std::time::Duration;
pub use validation::FieldError;
pub use views::{Account, ApiKeyInfo, AuditEntry, SessionInfo};

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
    /// The store failed (500); the error is logged with its source, never sent.
    #[error("storage: {0}")]
    Storage(#[source] StoreError),
    /// The database cannot be reached, or concurrent writers kept it busy (503:
    /// nothing was done that was not acknowledged; the caller may try again).
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] StoreError),
    /// An OAuth 2.0 / OpenID protocol error, answered as its RFC says (400, or 401
    /// for `invalid_client`), with this description.
    #[error("oauth error {0:?}: {1}")]
    OAuth(oidc::OAuthCode, &'static str),
    /// The password was right, but the account has a second factor and no code
    /// came with it (401 with `"mfa_required": true`).
    #[error("second factor required")]
    MfaRequired,
    /// The password was right, but the account's role requires a second factor
    /// and it has none yet: 403 with a token that may only enroll one.
    #[error("second factor enrollment required")]
    EnrollmentRequired(mfa::policy::EnrollmentToken),
}

/// Store errors keep their meaning: a uniqueness conflict that escaped a check
/// made earlier in the transaction is still a 409, never a 500.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(UniqueField::Username) => Error::Conflict("Username already registered"),
            StoreError::Duplicate(UniqueField::Email) => Error::Conflict("Email already registered"),
            e @ (StoreError::Unavailable(_) | StoreError::Busy(_)) => Error::Unavailable(e),
            StoreError::Duplicate(UniqueField::Credential) => {
                Error::Conflict("This passkey is already registered")
            }
            other => Error::Storage(other),
        }
    }
}

impl From<crate::crypto::secrets::RandomError> for Error {
    fn from(e: crate::crypto::secrets::RandomError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<PasswordError> for Error {
    fn from(e: PasswordError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// How passwords are hashed: the scrypt parameters of new hashes, and the most
/// memory one hash may use (which caps what a stored hash may demand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashing {
    /// Parameters of new hashes.
    pub params: HashParams,
    /// The memory budget: no stored hash may demand more than this.
    pub memory_bytes: u64,
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
    /// Most audit entries kept; the oldest go first beyond it.
    pub audit_max_rows: u64,
    /// How long a new signing key is published before it signs (`keys rotate`).
    pub key_lead: Duration,
    /// Roles whose holders must have a second factor (`--require-mfa`).
    pub require_mfa: Vec<Role>,
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
            audit_max_rows: 500_000,
            key_lead: Duration::from_secs(3600),
            require_mfa: Vec::new(),
        }
    }
}

/// The auth core: store, keys, password hasher, clock and policy.
#[derive(Debug)]
pub struct Auth {
    store: Store,
    keys: RwLock<keys::Loaded>,
    passwords: PasswordHasherConfig,
    clock: Clock,
    policy: Policy,
    /// API-key id → (lookup id, last use), written back by [`Auth::flush_key_usage`].
    key_usage: Mutex<HashMap<String, ([u8; 16], Micros)>>,
    /// Held for the whole of a flush of `key_usage`, as `audit_flush` is.
    key_usage_flush: Mutex<()>,
    /// Audit entries waiting to be written (see [`audit`]).
    audit_queue: Mutex<audit::AuditQueue>,
    /// Held for the whole of a flush of `audit_queue`, taking and writing alike.
    audit_flush: Mutex<()>,
    /// Event counters for metrics.
    counters: counters::Counters,
    /// Failed logins for names without a usable account (see [`phantom`]).
    phantom: phantom::PhantomLocks,
    /// The first-run setup code, while no admin exists (see [`setup`]).
    setup_code: Mutex<Option<String>>,
    /// Access tokens whose signature was checked (see [`verified_tokens`]).
    verified: verified_tokens::VerifiedTokens,
}

impl Auth {
    /// Builds the core, creating the first signing key if the store has none.
    pub fn new(
        store: Store,
        passwords: PasswordHasherConfig,
        clock: Clock,
        policy: Policy,
        issuer: &str,
    ) -> Result<Self, Error> {
        let loaded = keys::load(&store, &clock, issuer, policy.max_token_lifetime(), true)?;
        let passwords = passwords.with_stored_max(Self::stored_hash_max(&store)?);
        if let Some(cost) = Self::stored_bcrypt_max(&store)? {
            passwords.raise_bcrypt_ceiling(cost);
        }
        Ok(Self {
            store,
            keys: RwLock::new(loaded),
            passwords,
            clock,
            policy,
            key_usage: Mutex::new(HashMap::new()),
            key_usage_flush: Mutex::new(()),
            audit_queue: Mutex::new(audit::AuditQueue::default()),
            audit_flush: Mutex::new(()),
            counters: counters::Counters::default(),
            phantom: phantom::PhantomLocks::default(),
            setup_code: Mutex::new(None),
            verified: verified_tokens::VerifiedTokens::default(),
        })
    }

    /// Opens the store at `at` and builds the core on it: the composition root's
    /// one call (`serve`, and operator commands with no server running).
    pub fn open(
        at: &StoreLocation,
        hashing: Hashing,
        clock: Clock,
        policy: Policy,
        issuer: &str,
    ) -> Result<Self, Error> {
        let passwords = PasswordHasherConfig::new(hashing.params, hashing.memory_bytes)
            .map_err(|e| Error::Internal(format!("scrypt parameters: {e}")))?;
        Self::new(crate::store::open(at)?, passwords, clock, policy, issuer)
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
