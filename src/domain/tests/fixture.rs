//! The start of every domain test: [`Auth::open`] on a temporary directory, a
//! pinned clock at [`T0`], scrypt at log2 N = 4 (cheap, but the real algorithm) and
//! [`Policy::default`]; plus the few helpers that keep each test a few lines.

use crate::clock::Clock;
use crate::domain::access::Principal;
use crate::domain::tokens::TokenPair;
use crate::domain::users::NewUser;
use crate::domain::{Account, Auth, Ctx, Error, HashParams, Hashing, Policy};
use std::fmt::Debug;
use std::time::Duration;

/// 2026-01-01T00:00:00Z, where every fixture's clock starts.
pub const T0: i64 = 1_767_225_600;
/// The password of every user a fixture registers.
pub const PASSWORD: &str = "SecurePass123!";
/// A well-formed password that is nobody's.
pub const WRONG: &str = "WrongPass123!";
/// The refusal of every failed login.
pub const BAD_LOGIN: Error = Error::Unauthenticated(crate::domain::BAD_CREDENTIALS);
/// The refusal of a token whose session or epoch was revoked.
pub const REVOKED: Error = Error::Unauthenticated("Token has been revoked");

/// An auth core on its own temporary store and pinned clock.
pub struct Fixture {
    pub auth: Auth,
    pub clock: Clock,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A core with the default policy.
    pub fn new() -> Self {
        Self::with(Policy::default())
    }

    /// A core with `policy`.
    pub fn with(policy: Policy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::pinned(T0);
        let params = HashParams { log_n: 4, r: 1, p: 1 };
        let hashing = Hashing { params, memory_bytes: params.memory_bytes() };
        let data = dir.path().join("data");
        let at = crate::domain::StoreLocation::Dir(data.clone());
        let auth = Auth::open(&at, hashing, clock.clone(), policy, "https://auth.test").unwrap();
        Self { auth, clock, _dir: dir }
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Registers `name` with [`PASSWORD`].
    pub fn register(&self, name: &str) -> Account {
        let new = NewUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            password: PASSWORD.into(),
            full_name: None,
        };
        self.auth.register(&ctx(), &new).unwrap()
    }

    /// Logs `name` in with `password`, asking for no particular scopes.
    pub fn try_login(&self, name: &str, password: &str) -> Result<TokenPair, Error> {
        self.auth.login(&ctx(), name, password, &[])
    }

    /// Logs `name` in with [`PASSWORD`]; the login must succeed.
    pub fn login(&self, name: &str) -> TokenPair {
        self.try_login(name, PASSWORD).unwrap()
    }

    /// The caller an access token proves; it must be valid.
    pub fn who(&self, pair: &TokenPair) -> Principal {
        self.auth.authenticate(&pair.access_token).unwrap()
    }

    /// `name`'s account as stored now.
    pub fn account(&self, name: &str) -> Account {
        self.auth.user_by_name(name).unwrap()
    }
}

/// Where every fixture request comes from.
pub fn ctx() -> Ctx {
    Ctx { ip: Some("127.0.0.1".into()), user_agent: Some("domain-test".into()) }
}

/// The error of a call that must fail, comparable: `Error` has no `PartialEq`, so
/// the variant and its detail are compared as their `Debug` text.
pub fn err<T: Debug>(r: Result<T, Error>) -> String {
    format!("{:?}", r.unwrap_err())
}

/// `e` as [`err`] shows it.
pub fn is(e: Error) -> String {
    format!("{e:?}")
}

/// Seconds as the store's microseconds.
pub fn micros(secs: i64) -> i64 {
    secs * 1_000_000
}
