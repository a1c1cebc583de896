//! The PostgreSQL engine: the same tables and records as the embedded one, in a
//! database any number of gatehouse processes share.
//!
//! Layout: schema `gatehouse`, one table per name in [`TABLES`](crate::store::TABLES),
//! each `(k bytea primary key, v bytea not null)` holding the engine-neutral rows of
//! [`rows`](crate::store::rows) — versioned postcard records, byte for byte what the
//! embedded engine stores. So uniqueness, counters, expiry indexes, record
//! migrations and `migrate-store`'s verification behave exactly as with one redb
//! file, and adding a table is adding its name. The schema version lives in `meta`
//! as in the file; the engine creates and migrates its tables itself.
//!
//! Transactions: reads are one `REPEATABLE READ READ ONLY` snapshot; writes run at
//! `SERIALIZABLE` and are run again (bounded, with jitter) when PostgreSQL reports a
//! serialization failure, which is why `Store::write` closures may run twice. A
//! commit returns once PostgreSQL has made it durable. Credential checks read
//! through an invalidated cache ([`cache`]). The domain's calls are synchronous;
//! [`link`] runs them on a runtime of the engine's own.

mod cache;
mod coherence;
mod kv;
mod link;
mod listener;
mod passkeys;
mod reads;
mod schema;
mod sql;
mod tls;
mod transfer;
mod writes;

#[cfg(test)]
mod tests;

use super::{Backend, Reads, RowSink, StoreError, TableCounts, Writes};
use cache::Cache;
use kv::{Failed, Mode, Tx};
use link::Link;
use sql::T;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const META: T = "meta";
const USERS: T = "users";
const USERNAMES: T = "usernames";
const EMAILS: T = "emails";
const REFRESH: T = "refresh_tokens";
const DENYLIST: T = "revoked_jti";
const API_KEYS: T = "api_keys";
const API_KEY_IDS: T = "api_key_ids";
const AUDIT: T = "audit";
const AUDIT_BY_USER: T = "audit_by_user";
const AUDIT_BY_EVENT: T = "audit_by_event";
const REFRESH_EXPIRY: T = "refresh_expiry";
const DENYLIST_EXPIRY: T = "revoked_jti_expiry";
const SESSIONS: T = "sessions";
const LOGIN_HOURS: T = "login_hours";
const CLIENTS: T = "oauth_clients";
const CODES: T = "oauth_codes";
const CODE_EXPIRY: T = "oauth_code_expiry";
const CONSENTS: T = "consents";
const MFA: T = "mfa";
const PASSKEYS: T = "passkeys";
const PASSKEY_CREDENTIALS: T = "passkey_credentials";
const CHALLENGES: T = "webauthn_challenges";
const CHALLENGE_EXPIRY: T = "webauthn_challenge_expiry";
/// Failed logins of unknown names: shared state, not data (not in `TABLES`).
const PHANTOMS: T = "phantoms";

const META_NEXT_ID: &str = "next_user_id";
const META_STATS: &str = "user_stats";
const META_HASH_COST: &str = "max_hash_cost";
const META_MFA_USERS: &str = "mfa_users";
const META_IMPORTED_HASHES: &str = "imported_hashes";
/// The signing keys: a change elsewhere moves every process's settings epoch.
const SETTINGS_KEY: &[u8] = b"signing_keys";

/// Attempts of one write transaction before giving up on conflicts.
const MAX_ATTEMPTS: u32 = 64;
/// ... or this long, whichever comes first.
const MAX_RETRY_TIME: Duration = Duration::from_secs(15);

/// How to reach the database.
#[derive(Clone)]
pub struct Options {
    config: tokio_postgres::Config,
    /// Most connections this process opens (besides its one listener).
    pub pool_size: usize,
    /// PEM file of the certificate authorities trusted for TLS (else the system's).
    pub ca_file: Option<PathBuf>,
    /// How long a statement may take before it fails (503).
    pub timeout: Duration,
    /// Where the server may write files (backups in transit): its data directory.
    pub scratch: Option<PathBuf>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Options")
            .field("database", &self.describe())
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl Options {
    /// Whether `s` names a PostgreSQL database (rather than a directory).
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Parses a `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...]` URL.
    pub fn new(url: &str, pool_size: usize) -> Result<Self, String> {
        if !Self::is_url(url) {
            return Err("a database URL starts with postgres:// or postgresql://".into());
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("database URL: {e}"))?;
        if config.get_hosts().is_empty() {
            return Err("the database URL names no host".into());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("gatehouse");
        }
        config.keepalives_idle(Duration::from_secs(30));
        Ok(Self {
            config,
            pool_size: pool_size.max(1),
            ca_file: None,
            timeout: Duration::from_secs(10),
            scratch: None,
        })
    }

    /// `user@host:port/database`, for messages.
    pub fn describe(&self) -> String {
        let c = &self.config;
        let host = match c.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgres://{}@{host}:{port}/{}",
            c.get_user().unwrap_or(""),
            c.get_dbname().unwrap_or(c.get_user().unwrap_or(""))
        )
    }
}

/// The engine (see the module doc).
#[derive(Debug)]
pub struct Postgres {
    link: Link,
    cache: Arc<Cache>,
    describe: String,
    scratch: Option<PathBuf>,
}

impl Postgres {
    /// Connects, creates or migrates the schema (refusing a newer one), and starts
    /// listening for cache invalidations.
    pub fn open(o: &Options) -> Result<Self, StoreError> {
        let describe = o.describe();
        let tls = tls::MakeRustls::new(o.ca_file.as_deref())
            .map_err(|e| StoreError::Database(format!("database CA: {e}")))?;
        let link = Link::new(o.config.clone(), tls.clone(), o.pool_size, o.timeout)?;
        let cache = Arc::new(Cache::new(instance_id()));
        let store = Self { link, cache, describe, scratch: o.scratch.clone() };
        schema::init(&store, super::SCHEMA_VERSION)?;
        store.link.handle().spawn(listener::run(Arc::clone(&store.cache), o.config.clone(), tls));
        // Writes wait for the listener (see `coherence.rs`): give it a moment to start.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !store.cache.ready() && Instant::now() < deadline {
            link::pause(Duration::from_millis(5));
        }
        Ok(store)
    }

    fn tx(&self, mode: Mode) -> Tx<'_> {
        Tx::new(&self.link, &self.cache, mode)
    }

    /// Runs `f` at SERIALIZABLE, again after a serialization failure.
    fn write_tx(&self, f: &mut dyn FnMut(&mut Tx<'_>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.tx(Mode::Write);
            let r = f(&mut tx);
            let outcome = match (r, tx.failure()) {
                (_, Some(Failed::Conflict(m))) => {
                    tx.abort();
                    Err(Failed::Conflict(m))
                }
                (Err(e), _) => {
                    tx.abort();
                    return Err(e);
                }
                (Ok(()), Some(failed)) => {
                    tx.abort();
                    return Err(failed.to_error());
                }
                (Ok(()), None) => tx.commit().map(|audit| {
                    for rec in &audit {
                        super::embedded::audit::log_line(rec);
                    }
                }),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Failed::Conflict(m)) if attempt < MAX_ATTEMPTS && started.elapsed() < MAX_RETRY_TIME => {
                    tracing::debug!(attempt, reason = %m, "serialization conflict; running the transaction again");
                    link::pause(backoff(attempt));
                }
                Err(failed) => return Err(failed.to_error()),
            }
        }
    }
}

impl Drop for Postgres {
    /// Tells the other instances not to wait for this one any more.
    fn drop(&mut self) {
        if !self.cache.ready() {
            return; // the database is not answering anyway
        }
        let tx = self.tx(Mode::Loose);
        let _ = tx.exec(sql::Op::Notify(vec![self.cache.bye()]));
        tx.abort();
    }
}

/// 0.2 ms plus a random part of up to 2^attempt ms (at most 64 ms), so writers that
/// conflicted together do not retry together.
///
/// The random part comes from `RandomState`, which is keyed afresh on every call:
/// unpredictable enough to spread retries, with no dependency and no system call.
/// (It once came from `Instant::now().elapsed()`, a few nanoseconds that barely
/// varied: concurrent retries of one process slept alike and met again.)
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap_micros = 1000u64 << attempt.min(6);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    Duration::from_micros(200 + random % cap_micros)
}

/// A number no other running process picked (it tells a process's own cache
/// invalidations from others').
fn instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    h.finish()
}

impl Backend for Postgres {
    fn read(&self, f: &mut dyn FnMut(&dyn Reads) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let tx = self.tx(Mode::Read);
        let r = f(&tx);
        let failed = tx.failure();
        tx.abort();
        match (r, failed) {
            (Ok(()), Some(failed)) => Err(failed.to_error()),
            (r, _) => r,
        }
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Writes) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.write_tx(&mut |tx| f(tx))
    }

    fn read_cached(&self, f: &mut dyn FnMut(&dyn Reads) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let tx = self.tx(Mode::Loose);
        let r = f(&tx);
        tx.abort();
        r
    }

    fn is_healthy(&self) -> bool {
        let tx = self.tx(Mode::Loose);
        let ok = tx.get(META, b"schema_version").is_ok_and(|v| v.is_some());
        tx.abort();
        ok
    }

    fn backup_to(&self, dest: &Path) -> Result<TableCounts, StoreError> {
        transfer::backup_to(self, dest)
    }

    fn counts(&self) -> Result<TableCounts, StoreError> {
        let tx = self.tx(Mode::Read);
        let counts = super::TABLES.iter().map(|t| Ok((*t, tx.count(t)?))).collect();
        tx.abort();
        counts
    }

    fn location(&self) -> String {
        self.describe.clone()
    }

    fn scratch_dir(&self) -> Option<PathBuf> {
        self.scratch.clone()
    }

    fn size_bytes(&self) -> Option<u64> {
        let tx = self.tx(Mode::Loose);
        let size = tx.exec(sql::Op::Scalar(
            "SELECT sum(pg_total_relation_size(c.oid))::int8 FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'gatehouse' AND c.relkind = 'r'",
        ));
        tx.abort();
        match size {
            Ok(sql::Out::Count(n)) => Some(n),
            _ => None,
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn settings_epoch(&self) -> u64 {
        self.cache.settings_epoch()
    }

    fn export(&self, sink: RowSink<'_>) -> Result<(), StoreError> {
        transfer::export(self, sink)
    }

    fn import(&self, rows: &mut dyn FnMut(RowSink<'_>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        transfer::import(self, rows)
    }
}

/// Opens the database (creating or migrating its schema as any start would) and
/// checks that every stored record decodes; returns the row counts.
pub fn check(o: &Options) -> Result<TableCounts, StoreError> {
    use crate::store::records::passkeys::{ChallengeRecord, PasskeyRecord};
    use crate::store::records::{ApiKeyRecord, AuditRecord, RefreshSession, SessionRecord, User};
    let store = Postgres::open(o)?;
    store.read(&mut |r| {
        r.keys()?;
        r.stats()?;
        r.hash_cost()?;
        Ok(())
    })?;
    let tx = store.tx(Mode::Read);
    type Decode = fn(&[u8]) -> Result<(), postcard::Error>;
    let checks: [(T, Decode); 7] = [
        (USERS, |v| User::decode(v).map(|_| ())),
        (REFRESH, |v| RefreshSession::decode(v).map(|_| ())),
        (API_KEYS, |v| ApiKeyRecord::decode(v).map(|_| ())),
        (AUDIT, |v| AuditRecord::decode(v).map(|_| ())),
        (SESSIONS, |v| SessionRecord::decode(v).map(|_| ())),
        (PASSKEYS, |v| PasskeyRecord::decode(v).map(|_| ())),
        (CHALLENGES, |v| ChallengeRecord::decode(v).map(|_| ())),
    ];
    let r = checks.iter().try_for_each(|(t, decode)| tx.scan(t, &mut |_, v| Ok(decode(v)?)));
    tx.abort();
    r?;
    store.counts()
}

/// What PostgreSQL said, for the log and the operator (never sent to clients).
fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}
