//! Persistence behind one interface: what the domain may read and write, in
//! transactions, with no storage engine's types in any signature.
//!
//! - [`Reads`] and [`Writes`] are the typed operations of one transaction. A write
//!   transaction enforces *uniqueness* (username and email, reported as
//!   [`StoreError::Duplicate`]) and keeps the dashboard counters in step with user
//!   changes, because both must be atomic with the write; it holds no other policy.
//! - [`Store`] is the handle the domain holds. [`Store::write`] runs a closure in one
//!   transaction and commits durably before returning `Ok`; the closure may be run
//!   again if the engine reports a serialization conflict (an engine with more than
//!   one writer), so it must not have effects outside the transaction.
//! - [`Backend`] is what an engine implements: [`embedded`] (the default, one redb
//!   file of versioned postcard [`records`]) or [`postgres`] (the same records in
//!   PostgreSQL, shared by any number of gatehouse processes), selected by [`open`].
//!   Both keep exactly the tables of [`TABLES`], whose rows have one engine-neutral
//!   byte form ([`rows`]), so a store can be copied to the other engine and verified.
//!
//! Nothing here knows about HTTP, tokens or passwords.

#[cfg(test)]
mod contract;
pub mod embedded;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(not(feature = "postgres"))]
#[path = "postgres_off.rs"]
pub mod postgres;
pub mod records;
pub mod rows;

use records::mfa::MfaRecord;
use records::oidc::{ClientRecord, CodeRecord, ConsentRecord};
use records::passkeys::{ChallengeRecord, PasskeyRecord};
use records::shared::PhantomRecord;
use records::{
    ApiKeyRecord, AuditEvent, AuditRecord, HashCost, ImportedHashes, KeySet, RefreshSession, SessionRecord,
    Stats, User,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use embedded::{check_file, restore, DB_FILE, SCHEMA_VERSION};

/// Every table, in one list: both engines keep exactly these (rows in the form of
/// [`rows`]), and `migrate-store` copies and verifies them in this order.
pub const TABLES: &[&str] = &[
    "meta",
    "users",
    "usernames",
    "emails",
    "refresh_tokens",
    "revoked_jti",
    "api_keys",
    "api_key_ids",
    "audit",
    "audit_by_user",
    "audit_by_event",
    "refresh_expiry",
    "revoked_jti_expiry",
    "sessions",
    "login_hours",
    "oauth_clients",
    "oauth_codes",
    "oauth_code_expiry",
    "consents",
    "mfa",
    "passkeys",
    "passkey_credentials",
    "webauthn_challenges",
    "webauthn_challenge_expiry",
];

/// Receives rows: table name (from [`TABLES`]), key, value.
pub type RowSink<'a> = &'a mut dyn FnMut(&'static str, &[u8], &[u8]) -> Result<(), StoreError>;

/// Storage failures, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is damaged or not a gatehouse database.
    #[error("database file {path} is corrupt or not a gatehouse database: {reason}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What the engine said.
        reason: String,
    },
    /// Written by a newer gatehouse.
    #[error("database file {path} has schema version {found}, newer than this gatehouse supports ({supported}); run the newer release or restore a backup")]
    NewerSchema {
        /// File.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build knows.
        supported: u32,
    },
    /// Another process (usually the running server) holds the file.
    #[error("database file {0} is in use by another process (is the server running?)")]
    InUse(PathBuf),
    /// File-system failure.
    #[error("cannot access {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A record could not be decoded: damage, or a version this build cannot read.
    #[error("a stored record could not be decoded: {0}")]
    Decode(String),
    /// A uniqueness index already holds this key.
    #[error("{0} already exists")]
    Duplicate(UniqueField),
    /// Any other engine failure during a transaction.
    #[error("database error: {0}")]
    Database(String),
    /// The transaction's closure returned an error, so nothing was committed (the
    /// caller receives the closure's own error; engines only see this marker).
    #[error("transaction aborted by its caller")]
    Aborted,
    /// The database server cannot be reached or did not answer in time; nothing was
    /// committed that was not acknowledged (503: try again).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writers kept conflicting with this transaction until it gave up
    /// (503: try again).
    #[error("database busy: {0}")]
    Busy(String),
    /// A copy was asked into a store that already holds data.
    #[error("{0} is not empty; copy into a new database")]
    NotEmpty(String),
}

impl From<postcard::Error> for StoreError {
    fn from(e: postcard::Error) -> Self {
        StoreError::Decode(e.to_string())
    }
}

/// Which unique index refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    /// usernames
    Username,
    /// emails
    Email,
    /// passkey credential ids
    Credential,
}

impl fmt::Display for UniqueField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UniqueField::Username => "username",
            UniqueField::Email => "email",
            UniqueField::Credential => "passkey credential",
        })
    }
}

/// One page of users, and how many rows reading it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// The users, in id order.
    pub users: Vec<User>,
    /// Rows read from the users table to produce the page.
    pub rows_scanned: u64,
}

/// Filters and paging for reading the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this event.
    pub event: Option<AuditEvent>,
    /// Only this user.
    pub user_id: Option<u64>,
    /// Entries at or after this time (µs).
    pub since: Option<i64>,
    /// Entries before this time (µs).
    pub until: Option<i64>,
    /// Matching entries to skip, newest first.
    pub skip: u64,
    /// Most entries to return.
    pub limit: usize,
}

/// Rows removed by one cleanup batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Refresh sessions past their expiry.
    pub refresh: usize,
    /// Denylisted access-token ids past their expiry.
    pub denylist: usize,
    /// Audit entries past retention.
    pub audit: usize,
    /// The oldest audit entries beyond the row bound.
    pub audit_bound: usize,
    /// Hourly login totals past retention.
    pub login_hours: usize,
    /// Authorization codes past their expiry.
    pub codes: usize,
    /// Passkey challenges past their expiry.
    pub challenges: usize,
}

impl Swept {
    /// Whether any table filled its batch (so another batch may find more).
    pub fn full(&self, max: usize) -> bool {
        self.refresh >= max
            || self.denylist >= max
            || self.audit >= max
            || self.audit_bound >= max
            || self.login_hours >= max
            || self.codes >= max
            || self.challenges >= max
    }
}

/// Rows per table, for verification and for people.
pub type TableCounts = Vec<(&'static str, u64)>;

/// The reads of one transaction (a snapshot; a write transaction sees its own writes).
pub trait Reads {
    /// A user by id.
    fn user(&self, id: u64) -> Result<Option<User>, StoreError>;
    /// A user id by username (case-insensitive).
    fn user_id_by_name(&self, username: &str) -> Result<Option<u64>, StoreError>;
    /// A user id by email (case-insensitive).
    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>, StoreError>;
    /// A user by username (case-insensitive).
    fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        match self.user_id_by_name(username)? {
            Some(id) => self.user(id),
            None => Ok(None),
        }
    }
    /// Users in id order: `limit` of them after skipping `skip`, without a scan
    /// while ids are dense; `rows_scanned` says how many rows were read.
    fn users_page(&self, skip: u64, limit: usize) -> Result<UserPage, StoreError>;
    /// Ids of users whose username or email starts with `prefix` (case-insensitive),
    /// at most `limit`, by ordered index reads (no scan).
    fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<u64>, StoreError>;
    /// Every user's password hash, one at a time (a full scan: used once, to find
    /// the most expensive parameters in a database from before they were kept).
    fn each_password_hash(&self, f: &mut dyn FnMut(&str)) -> Result<(), StoreError>;
    /// The dashboard counters.
    fn stats(&self) -> Result<Stats, StoreError>;
    /// How many stored password hashes are imported bcrypt ones, and their highest
    /// cost (kept like [`Reads::stats`], with every user change).
    fn imported_hashes(&self) -> Result<ImportedHashes, StoreError>;
    /// The most expensive password-hash parameters stored, if recorded.
    fn hash_cost(&self) -> Result<Option<HashCost>, StoreError>;
    /// The signing keys.
    fn keys(&self) -> Result<KeySet, StoreError>;
    /// A refresh session by the SHA-256 of its jti.
    fn refresh(&self, key: &[u8; 32]) -> Result<Option<RefreshSession>, StoreError>;
    /// One of a user's sessions.
    fn session(&self, user_id: u64, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// A user's sessions (at most `max` rows read; one user's range, never a scan).
    fn sessions_of(&self, user_id: u64, max: usize) -> Result<Vec<SessionRecord>, StoreError>;
    /// Whether an access token's jti is on the denylist.
    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// An API key by its lookup id (the first 16 bytes of the key's SHA-256).
    fn api_key(&self, lookup: &[u8; 16]) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// A user's API keys with their lookup ids, in key-id order.
    fn api_keys_of(&self, user_id: u64) -> Result<Vec<([u8; 16], ApiKeyRecord)>, StoreError>;
    /// Audit entries matching `q`, newest first, reading only matching rows.
    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
    /// Login totals per hour for hours `from..to` (hours since the epoch), as
    /// (hour, successes, failures); hours without logins are absent.
    fn login_hours(&self, from: u64, to: u64) -> Result<Vec<(u64, u64, u64)>, StoreError>;
    /// An OpenID client by `client_id`.
    fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// Every OpenID client, by `client_id` (a handful; the operator registers them).
    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// An authorization code by the SHA-256 of the code.
    fn code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, StoreError>;
    /// A user's consent to a client.
    fn consent(&self, user_id: u64, client_id: &str) -> Result<Option<ConsentRecord>, StoreError>;
    /// A user's consents, by client id (one user's range).
    fn consents_of(&self, user_id: u64) -> Result<Vec<(String, ConsentRecord)>, StoreError>;
    /// Failed logins for a name without an account, by digest: kept only by an
    /// engine several processes share ([`Store::is_shared`]); others keep none.
    fn phantom(&self, _digest: &[u8; 16]) -> Result<Option<PhantomRecord>, StoreError> {
        Ok(None)
    }
    /// A user's second factors (`None`: never enrolled one).
    fn mfa(&self, user_id: u64) -> Result<Option<MfaRecord>, StoreError>;
    /// How many users have a second factor (kept by [`Writes::put_mfa`], no scan).
    fn mfa_users(&self) -> Result<u64, StoreError>;
    /// A user's passkeys, in id order (one user's range, never a scan).
    fn passkeys_of(&self, user_id: u64) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// One of a user's passkeys by its short id.
    fn passkey(&self, user_id: u64, id: &str) -> Result<Option<PasskeyRecord>, StoreError>;
    /// The passkey with this credential id, whoever owns it.
    fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError>;
}

/// The writes of one transaction.
pub trait Writes: Reads {
    /// Inserts a new user, assigning its id. [`StoreError::Duplicate`] if the
    /// username or email is taken (username checked first).
    fn insert_user(&mut self, user: User) -> Result<User, StoreError>;
    /// Inserts a new user under the id it carries, if that id is free: never
    /// assigned before (at or above the id counter, so an id once held by a deleted
    /// account is not handed to someone else) and not 0. The counter then moves past
    /// it, so [`Writes::insert_user`] never assigns it again. `Ok(false)`: the id is
    /// not free and nothing was written (insert with a new id instead); duplicates
    /// as for `insert_user`, checked first. For importing accounts from another system.
    fn insert_user_with_id(&mut self, user: &User) -> Result<bool, StoreError>;
    /// Replaces a user record, keeping the email index and counters in step. The
    /// username never changes.
    fn update_user(&mut self, new: &User) -> Result<(), StoreError>;
    /// Deletes a user record and its username and email index entries.
    fn delete_user(&mut self, user: &User) -> Result<(), StoreError>;
    /// Records the most expensive password-hash parameters stored.
    fn put_hash_cost(&mut self, cost: &HashCost) -> Result<(), StoreError>;
    /// Replaces the signing keys.
    fn put_keys(&mut self, keys: &KeySet) -> Result<(), StoreError>;
    /// Stores (inserts or replaces) a refresh session.
    fn put_refresh(&mut self, key: &[u8; 32], session: &RefreshSession) -> Result<(), StoreError>;
    /// Stores (inserts or replaces) a session.
    fn put_session(&mut self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Adds an access-token jti to the denylist until `exp` (seconds).
    fn revoke_jti(&mut self, jti: &str, exp: i64) -> Result<(), StoreError>;
    /// Stores an API key (insert or replace) and indexes it under its owner.
    fn put_api_key(&mut self, lookup: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Deletes an API key and its index entry.
    fn delete_api_key(&mut self, lookup: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Appends an audit entry (and its indexes and hourly login totals). Entries
    /// stay in the order written, even if the clock goes backwards.
    fn append_audit(&mut self, rec: &AuditRecord) -> Result<(), StoreError>;
    /// Deletes up to `max` refresh sessions that expired before `now` (seconds), and
    /// a session row with its family's last refresh token.
    fn purge_refresh(&mut self, now: i64, max: usize) -> Result<usize, StoreError>;
    /// Deletes up to `max` denylist entries whose token expired before `now` (seconds).
    fn purge_denylist(&mut self, now: i64, max: usize) -> Result<usize, StoreError>;
    /// Deletes up to `max` audit entries older than `before` (µs).
    fn purge_audit(&mut self, before: i64, max: usize) -> Result<usize, StoreError>;
    /// Deletes the oldest audit entries beyond `max_rows` (at most `batch` of them).
    fn trim_audit(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError>;
    /// Deletes up to `max` hourly login totals for hours that ended before `before` (µs).
    fn purge_login_hours(&mut self, before: i64, max: usize) -> Result<usize, StoreError>;
    /// Stores (inserts or replaces) an OpenID client.
    fn put_client(&mut self, client: &ClientRecord) -> Result<(), StoreError>;
    /// Deletes an OpenID client (its codes expire on their own).
    fn delete_client(&mut self, id: &str) -> Result<(), StoreError>;
    /// Stores (inserts or replaces) an authorization code.
    fn put_code(&mut self, key: &[u8; 32], code: &CodeRecord) -> Result<(), StoreError>;
    /// Deletes up to `max` codes that expired before `now` (seconds).
    fn purge_codes(&mut self, now: i64, max: usize) -> Result<usize, StoreError>;
    /// Stores (inserts or replaces) a user's consent to a client.
    fn put_consent(
        &mut self,
        user_id: u64,
        client_id: &str,
        consent: &ConsentRecord,
    ) -> Result<(), StoreError>;
    /// Withdraws a consent; whether there was one.
    fn delete_consent(&mut self, user_id: u64, client_id: &str) -> Result<bool, StoreError>;
    /// Stores (or with `None` forgets) a name's failed logins (see [`Reads::phantom`]).
    fn put_phantom(&mut self, _digest: &[u8; 16], _rec: Option<&PhantomRecord>) -> Result<(), StoreError> {
        Err(StoreError::Database("this engine keeps failed logins of unknown names in memory".into()))
    }
    /// Forgets up to `max` of the names [`Reads::phantom`] keeps for which `aged` holds.
    fn purge_phantoms(
        &mut self,
        _aged: &dyn Fn(&PhantomRecord) -> bool,
        _max: usize,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }
    /// Stores (inserts or replaces) a user's second factors, keeping the count of
    /// users with one ([`Reads::mfa_users`]) in step.
    fn put_mfa(&mut self, user_id: u64, rec: &MfaRecord) -> Result<(), StoreError>;
    /// Deletes a user's second factors; whether there were any rows.
    fn delete_mfa(&mut self, user_id: u64) -> Result<bool, StoreError>;
    /// Stores a new passkey and indexes its credential id.
    /// [`StoreError::Duplicate`]`(Credential)` if any user has that credential id.
    fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<(), StoreError>;
    /// Replaces a stored passkey (its name, counter, last use; never its credential id).
    fn update_passkey(&mut self, p: &PasskeyRecord) -> Result<(), StoreError>;
    /// Deletes one of a user's passkeys and its index entry; whether it existed.
    fn delete_passkey(&mut self, user_id: u64, id: &str) -> Result<bool, StoreError>;
    /// Stores a challenge under its bytes until `rec.expires_at`.
    fn put_challenge(&mut self, challenge: &[u8], rec: &ChallengeRecord) -> Result<(), StoreError>;
    /// Removes a challenge and returns it (expired or not): each is used at most once.
    fn take_challenge(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>, StoreError>;
    /// Deletes up to `max` challenges that expired before `now` (seconds).
    fn purge_challenges(&mut self, now: i64, max: usize) -> Result<usize, StoreError>;
    /// Deletes the challenges expiring first beyond `max_rows` (at most `batch`).
    fn trim_challenges(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError>;
}

/// What a storage engine provides. Transactions take `FnMut` closures so an engine
/// may run one again after a serialization conflict; a closure's `Err` aborts it.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Runs `f` over one consistent snapshot.
    fn read(&self, f: &mut dyn FnMut(&dyn Reads) -> Result<(), StoreError>) -> Result<(), StoreError>;
    /// Runs `f` in one write transaction, committed durably if it returns `Ok`.
    fn write(&self, f: &mut dyn FnMut(&mut dyn Writes) -> Result<(), StoreError>) -> Result<(), StoreError>;
    /// Cheap liveness probe for /health.
    fn is_healthy(&self) -> bool;
    /// Writes a consistent, verified copy to `dest` (a new embedded database file)
    /// and returns its row counts.
    fn backup_to(&self, dest: &Path) -> Result<TableCounts, StoreError>;
    /// Rows per table now.
    fn counts(&self) -> Result<TableCounts, StoreError>;
    /// Where the data lives, for messages (a file path or a server address).
    fn location(&self) -> String;
    /// A directory where the server may write files of its own (backups in transit).
    fn scratch_dir(&self) -> Option<PathBuf>;
    /// Bytes the data takes on disk, when known.
    fn size_bytes(&self) -> Option<u64>;
    /// Like [`Backend::read`], but the lookups of a credential check (a user by id,
    /// a denylisted jti, a session, an API key) may be answered from a cache that
    /// every committed write invalidates in every process before it is
    /// acknowledged. Not one snapshot: each answer is at least as new as the last
    /// write acknowledged anywhere.
    fn read_cached(&self, f: &mut dyn FnMut(&dyn Reads) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.read(f)
    }
    /// Whether other processes may write this store at the same time: then state a
    /// process would otherwise keep to itself must live in the store.
    fn is_shared(&self) -> bool {
        false
    }
    /// Counts changes to the signing keys made by other processes (and anything
    /// else that may have been missed): a caller holding keys in memory reloads
    /// them when it moves.
    fn settings_epoch(&self) -> u64 {
        0
    }
    /// Every row of every table from one snapshot, in [`TABLES`] order, each
    /// table in ascending key order, in the form of [`rows`].
    fn export(&self, sink: RowSink<'_>) -> Result<(), StoreError>;
    /// Loads rows (given to the sink `rows` is called with) in one transaction
    /// into this store, which must hold nothing yet but its schema version.
    fn import(&self, rows: &mut dyn FnMut(RowSink<'_>) -> Result<(), StoreError>) -> Result<(), StoreError>;
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// The embedded database file in this data directory.
    Dir(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<postgres::Options>),
}

impl Location {
    /// For messages: the directory, or the server and database (no password).
    pub fn describe(&self) -> String {
        match self {
            Location::Dir(d) => d.display().to_string(),
            Location::Postgres(o) => o.describe(),
        }
    }
}

/// Opens the store at `at` (creating and migrating its schema as needed).
pub fn open(at: &Location) -> Result<Store, StoreError> {
    match at {
        Location::Dir(dir) => Store::open(dir),
        #[cfg(feature = "postgres")]
        Location::Postgres(o) => Ok(Store::new(Arc::new(postgres::Postgres::open(o)?))),
        #[cfg(not(feature = "postgres"))]
        Location::Postgres(o) => postgres::open(o),
    }
}

/// The storage handle: cheap to clone, shared by everything that needs it.
#[derive(Debug, Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    /// Wraps an engine.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self(backend)
    }

    /// Opens the embedded database in `data_dir` (created 0700/0600 when absent;
    /// damaged, foreign or newer files are refused, never replaced).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self(Arc::new(embedded::Embedded::open(data_dir)?)))
    }

    /// Runs `f` over one consistent snapshot.
    pub fn read<T, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut outcome = None;
        let r = self.0.read(&mut |r| settle(f(r), &mut outcome));
        finish(r, outcome)
    }

    /// Runs `f` in one write transaction and commits durably if it returns `Ok`.
    /// An `Err` from `f` aborts: nothing it wrote is kept. `f` may run more than once
    /// (see the module doc).
    pub fn write<T, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&mut dyn Writes) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut outcome = None;
        let r = self.0.write(&mut |tx| settle(f(tx), &mut outcome));
        finish(r, outcome)
    }

    /// Cheap liveness probe for /health.
    pub fn is_healthy(&self) -> bool {
        self.0.is_healthy()
    }

    /// A consistent, verified copy in a new embedded database file at `dest`.
    pub fn backup_to(&self, dest: &Path) -> Result<TableCounts, StoreError> {
        self.0.backup_to(dest)
    }

    /// Rows per table now.
    pub fn counts(&self) -> Result<TableCounts, StoreError> {
        self.0.counts()
    }

    /// Where the data lives, for messages.
    pub fn location(&self) -> String {
        self.0.location()
    }

    /// A directory of the server's own, for backups in transit.
    pub fn scratch_dir(&self) -> Option<PathBuf> {
        self.0.scratch_dir()
    }

    /// Bytes the data takes on disk, when known.
    pub fn size_bytes(&self) -> Option<u64> {
        self.0.size_bytes()
    }

    /// Runs `f` where credential lookups may come from an invalidated cache (see
    /// [`Backend::read_cached`]); read-only.
    pub fn read_cached<T, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut outcome = None;
        let r = self.0.read_cached(&mut |r| settle(f(r), &mut outcome));
        finish(r, outcome)
    }

    /// Whether other processes share this store (see [`Backend::is_shared`]).
    pub fn is_shared(&self) -> bool {
        self.0.is_shared()
    }

    /// See [`Backend::settings_epoch`].
    pub fn settings_epoch(&self) -> u64 {
        self.0.settings_epoch()
    }

    /// Every row of every table (see [`Backend::export`]).
    pub fn export(&self, sink: RowSink<'_>) -> Result<(), StoreError> {
        self.0.export(sink)
    }

    /// Loads rows into this empty store (see [`Backend::import`]).
    pub fn import(
        &self,
        rows: &mut dyn FnMut(RowSink<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.0.import(rows)
    }
}

/// Keeps a closure's result for the caller, telling the engine only whether to commit.
fn settle<T, E>(r: Result<T, E>, outcome: &mut Option<Result<T, E>>) -> Result<(), StoreError> {
    let commit = r.is_ok();
    *outcome = Some(r);
    if commit {
        Ok(())
    } else {
        Err(StoreError::Aborted)
    }
}

fn finish<T, E: From<StoreError>>(r: Result<(), StoreError>, outcome: Option<Result<T, E>>) -> Result<T, E> {
    match (r, outcome) {
        (Ok(()), Some(Ok(v))) => Ok(v),
        (Err(StoreError::Aborted), Some(Err(e))) => Err(e),
        (Err(e), _) => Err(E::from(e)),
        (Ok(()), _) => Err(E::from(StoreError::Database("the transaction ended without a result".into()))),
    }
}

/// Lower-cased key for the case-insensitive indexes.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}
