//! The embedded engine: one redb file in the data directory, its tables, and the
//! [`Reads`]/[`Writes`] transactions over them.
//!
//! Every table is listed here. Values are versioned postcard records
//! ([`records`](super::records)); keys are plain. Write transactions commit with
//! redb's default immediate durability: when a write returns `Ok`, the change
//! survives `kill -9` and power loss. Writers that arrive together share one
//! durable commit ([`group`]); a writer's closure runs again only when another
//! writer of its batch failed after writing.

pub(super) mod audit;
mod backup;
mod cleanup;
mod group;
pub mod migrate;
mod passkeys;
mod raw;
mod reads;
mod tx;

pub use backup::{check_file, restore};
use tx::ReadTx;
pub use tx::WriteTx;

use super::{Backend, Reads, RowSink, StoreError, TableCounts, Writes};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Schema version this build writes. Older files are migrated forward at start-up;
/// newer ones are refused.
pub const SCHEMA_VERSION: u32 = 2;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "gatehouse.redb";

// ---- the tables, in one list -------------------------------------------------------
/// Schema version, id counter, signing keys, counters.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// user id → versioned [`User`].
const USERS: TableDefinition<u64, &[u8]> = TableDefinition::new("users");
/// lower-case username → user id.
const USERNAMES: TableDefinition<&str, u64> = TableDefinition::new("usernames");
/// lower-case email → user id.
const EMAILS: TableDefinition<&str, u64> = TableDefinition::new("emails");
/// SHA-256 of a refresh token's jti → versioned [`RefreshSession`].
const REFRESH: TableDefinition<&[u8], &[u8]> = TableDefinition::new("refresh_tokens");
/// Revoked access-token jti → its `exp` (seconds), kept until then.
const DENYLIST: TableDefinition<&str, i64> = TableDefinition::new("revoked_jti");
/// First 16 bytes of an API key's SHA-256 → versioned [`records::ApiKeyRecord`].
const API_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("api_keys");
/// (owner id, key id) → the key's lookup bytes: lists and deletes a user's keys.
const API_KEY_IDS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("api_key_ids");
/// (time µs, sequence) → versioned [`records::AuditRecord`], oldest first.
const AUDIT: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("audit");
/// (user id, time, sequence) → (): a user's audit entries.
const AUDIT_BY_USER: TableDefinition<(u64, u64, u64), ()> = TableDefinition::new("audit_by_user");
/// (event, time, sequence) → (): an event's audit entries.
const AUDIT_BY_EVENT: TableDefinition<(u8, u64, u64), ()> = TableDefinition::new("audit_by_event");
/// (expiry, refresh key) → (): refresh sessions in expiry order, for cleanup.
const REFRESH_EXPIRY: TableDefinition<(i64, &[u8]), ()> = TableDefinition::new("refresh_expiry");
/// (expiry, jti) → (): denylist entries in expiry order, for cleanup.
const DENYLIST_EXPIRY: TableDefinition<(i64, &str), ()> = TableDefinition::new("revoked_jti_expiry");
/// (user id, session id) → versioned [`records::SessionRecord`]: a user's sign-ins.
const SESSIONS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("sessions");
/// Hour (Unix seconds / 3600) → (successful, failed) logins, kept with the audit log.
const LOGIN_HOURS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("login_hours");
/// `client_id` → versioned [`ClientRecord`](crate::store::records::oidc::ClientRecord).
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("oauth_clients");
/// SHA-256 of an authorization code → versioned `CodeRecord`.
const CODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("oauth_codes");
/// (expiry, code key) → (): codes in expiry order, for cleanup.
const CODE_EXPIRY: TableDefinition<(i64, &[u8]), ()> = TableDefinition::new("oauth_code_expiry");
/// (user id, client id) → versioned `ConsentRecord`.
const CONSENTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("consents");
/// user id → versioned `MfaRecord`: second factors, for users who enrolled one.
const MFA: TableDefinition<u64, &[u8]> = TableDefinition::new("mfa");
/// (user id, passkey id) → versioned `PasskeyRecord`: a user's passkeys.
const PASSKEYS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("passkeys");
/// Credential id → (user id, passkey id): unique index, and the password-less lookup.
const PASSKEY_CREDENTIALS: TableDefinition<&[u8], (u64, &str)> = TableDefinition::new("passkey_credentials");
/// Challenge bytes → versioned `ChallengeRecord`: outstanding WebAuthn challenges.
const CHALLENGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("webauthn_challenges");
/// (expiry, challenge) → (): challenges in expiry order, for cleanup and the bound.
const CHALLENGE_EXPIRY: TableDefinition<(i64, &[u8]), ()> = TableDefinition::new("webauthn_challenge_expiry");

const META_SCHEMA: &str = "schema_version";
const META_NEXT_ID: &str = "next_user_id";
const META_KEYS: &str = "signing_keys";
const META_STATS: &str = "user_stats";
const META_HASH_COST: &str = "max_hash_cost";
const META_MFA_USERS: &str = "mfa_users";
const META_IMPORTED_HASHES: &str = "imported_hashes";

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::from(redb::Error::from(e)) }
        }
    )*};
}
from_redb!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// The embedded database. Share it behind an `Arc`; redb serialises writers.
#[derive(Debug)]
pub struct Embedded {
    db: Database,
    path: PathBuf,
    /// Concurrent writers' shared commits.
    group: group::Group,
}

impl Embedded {
    /// Opens `data_dir/gatehouse.redb`, creating the directory (0700) and file (0600)
    /// when absent. An existing file that is damaged, foreign or newer is refused,
    /// never replaced.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_migrating(data_dir, SCHEMA_VERSION, migrate::MIGRATIONS)
    }

    /// [`Embedded::open`] towards schema `target` with `migrations` (tests supply their
    /// own to exercise the mechanism).
    pub fn open_migrating(
        data_dir: &Path,
        target: u32,
        migrations: &[migrate::Migration],
    ) -> Result<Self, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700)).map_err(io(data_dir))?;
        let path = data_dir.join(DB_FILE);
        let fresh = match fs::metadata(&path) {
            Ok(m) => m.len() == 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io(&path)(e)),
        };
        let db = if fresh {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(io(&path))?;
            redb::backends::FileBackend::new(file).and_then(|b| builder().create_with_backend(b))
        } else {
            refuse_newer_schema(&path, target)?;
            builder().open(&path)
        }
        .map_err(|e| classify_open_error(e, &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
        let store = Self { db, path, group: group::Group::default() };
        store.init_schema(target)?;
        migrate::run(&store, data_dir, target, migrations)?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_schema(&self, target: u32) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = match meta.get(META_SCHEMA)? {
                Some(v) => Some(decode_u32(v.value()).ok_or_else(|| StoreError::Corrupt {
                    path: self.path.clone(),
                    reason: "schema version is unreadable".into(),
                })?),
                None => None,
            };
            match found {
                Some(v) if v > target => {
                    return Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found: v,
                        supported: target,
                    })
                }
                Some(_) => {}
                None => {
                    meta.insert(META_SCHEMA, target.to_le_bytes().as_slice())?;
                }
            }
            txn.open_table(USERS)?;
            txn.open_table(USERNAMES)?;
            txn.open_table(EMAILS)?;
            txn.open_table(REFRESH)?;
            txn.open_table(DENYLIST)?;
            txn.open_table(API_KEYS)?;
            txn.open_table(API_KEY_IDS)?;
            txn.open_table(AUDIT)?;
            txn.open_table(AUDIT_BY_USER)?;
            txn.open_table(AUDIT_BY_EVENT)?;
            txn.open_table(REFRESH_EXPIRY)?;
            txn.open_table(DENYLIST_EXPIRY)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(LOGIN_HOURS)?;
            txn.open_table(CLIENTS)?;
            txn.open_table(CODES)?;
            txn.open_table(CODE_EXPIRY)?;
            txn.open_table(CONSENTS)?;
            txn.open_table(MFA)?;
            txn.open_table(PASSKEYS)?;
            txn.open_table(PASSKEY_CREDENTIALS)?;
            txn.open_table(CHALLENGES)?;
            txn.open_table(CHALLENGE_EXPIRY)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Runs `f` in one write transaction and commits durably if it returns `Ok`.
    /// An `Err` from `f` aborts: nothing it wrote is kept.
    fn write_tx<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let (out, audited) = {
            let mut tx = WriteTx::open(&txn)?;
            let out = f(&mut tx)?;
            (out, std::mem::take(&mut tx.audit_written))
        };
        txn.commit().map_err(StoreError::from)?;
        for rec in &audited {
            audit::log_line(rec);
        }
        Ok(out)
    }

    /// Runs `f` over one consistent snapshot.
    fn read_tx<T, E: From<StoreError>>(&self, f: impl FnOnce(&ReadTx) -> Result<T, E>) -> Result<T, E> {
        let txn = self.db.begin_read().map_err(StoreError::from)?;
        f(&ReadTx::open(txn))
    }
}

impl Backend for Embedded {
    fn read(&self, f: &mut dyn FnMut(&dyn Reads) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.read_tx(|r| f(r))
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Writes) -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.group.write(&self.db, f)
    }

    /// Can a read transaction be started?
    fn is_healthy(&self) -> bool {
        self.db.begin_read().map(|t| t.open_table(META).is_ok()).unwrap_or(false)
    }

    fn backup_to(&self, dest: &Path) -> Result<TableCounts, StoreError> {
        backup::backup_to(self, dest)
    }

    fn counts(&self) -> Result<TableCounts, StoreError> {
        backup::counts(self)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn scratch_dir(&self) -> Option<PathBuf> {
        self.path.parent().map(Path::to_path_buf)
    }

    fn size_bytes(&self) -> Option<u64> {
        fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn export(&self, sink: RowSink<'_>) -> Result<(), StoreError> {
        raw::export(self, sink)
    }

    fn import(&self, rows: &mut dyn FnMut(RowSink<'_>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        raw::import(self, rows)
    }
}

/// redb's in-process page cache. Its default (1 GiB) let an appliance's resident
/// memory creep up with use; the operating system's file cache still holds the rest
/// of a hot database.
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

fn builder() -> redb::Builder {
    let mut b = Database::builder();
    b.set_cache_size(CACHE_BYTES);
    b
}

/// Looks at an existing file read-only first, so a database from a newer release is
/// refused without being touched (opening read-write rewrites header pages even
/// when nothing is committed). Files the read-only open cannot judge — one that
/// needs crash recovery, say — are left to the read-write open that follows.
fn refuse_newer_schema(path: &Path, supported: u32) -> Result<(), StoreError> {
    let db = match redb::ReadOnlyDatabase::open(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::InUse(path.to_path_buf())),
        Err(_) => return Ok(()),
    };
    let found = db
        .begin_read()
        .ok()
        .and_then(|t| t.open_table(META).ok())
        .and_then(|m| m.get(META_SCHEMA).ok().flatten().and_then(|v| decode_u32(v.value())));
    match found {
        Some(v) if v > supported => {
            Err(StoreError::NewerSchema { path: path.to_path_buf(), found: v, supported })
        }
        _ => Ok(()),
    }
}

fn classify_open_error(e: redb::DatabaseError, path: &Path) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
        redb::DatabaseError::Storage(redb::StorageError::Io(source)) => {
            use std::io::ErrorKind;
            if source.kind() == ErrorKind::WouldBlock {
                StoreError::InUse(path.to_path_buf())
            } else if matches!(source.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof) {
                // redb reports "not a redb database" and short files this way.
                StoreError::Corrupt { path: path.to_path_buf(), reason: source.to_string() }
            } else {
                StoreError::Io { path: path.to_path_buf(), source }
            }
        }
        other => StoreError::Corrupt { path: path.to_path_buf(), reason: other.to_string() },
    }
}

fn decode_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn decode_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests;
