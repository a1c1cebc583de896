//! Persistence: one redb file, its tables, and typed transactions over them.
//!
//! Every table is listed here. Values are versioned postcard records
//! ([`records`]); keys are plain. The store enforces *uniqueness* (username and email
//! indexes) and keeps the dashboard counters in step with user changes, because both
//! must be atomic with the write; it holds no other policy. Write transactions commit
//! with redb's default immediate durability: when [`Store::write`] returns `Ok`, the
//! change survives `kill -9` and power loss.
//!
//! Nothing here knows about HTTP, tokens or passwords.

pub mod records;

use records::{KeySet, RefreshSession, Stats, User};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, Table,
    TableDefinition, WriteTransaction,
};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Schema version this build writes. Older files are migrated forward at start-up;
/// newer ones are refused.
pub const SCHEMA_VERSION: u32 = 1;

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

const META_SCHEMA: &str = "schema_version";
const META_NEXT_ID: &str = "next_user_id";
const META_KEYS: &str = "signing_keys";
const META_STATS: &str = "user_stats";

/// Storage failures, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is damaged or not a gatehouse database.
    #[error("database file {path} is corrupt or not a gatehouse database: {reason}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What redb said.
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
    /// Any other redb failure during a transaction.
    #[error("database error: {0}")]
    Database(String),
}

/// Which unique index refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    /// usernames
    Username,
    /// emails
    Email,
}

impl std::fmt::Display for UniqueField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UniqueField::Username => "username",
            UniqueField::Email => "email",
        })
    }
}

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
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<postcard::Error> for StoreError {
    fn from(e: postcard::Error) -> Self {
        StoreError::Decode(e.to_string())
    }
}

/// The database handle. Cheap to share behind an `Arc`; redb serialises writers.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens `data_dir/gatehouse.redb`, creating the directory (0700) and file (0600)
    /// when absent. An existing file that is damaged, foreign or newer is refused,
    /// never replaced.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
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
            redb::backends::FileBackend::new(file)
                .and_then(|b| Database::builder().create_with_backend(b))
        } else {
            Database::builder().open(&path)
        }
        .map_err(|e| classify_open_error(e, &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
        let store = Self { db, path };
        store.init_schema()?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_schema(&self) -> Result<(), StoreError> {
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
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found: v,
                        supported: SCHEMA_VERSION,
                    })
                }
                Some(_) => {}
                None => {
                    meta.insert(META_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
            }
            txn.open_table(USERS)?;
            txn.open_table(USERNAMES)?;
            txn.open_table(EMAILS)?;
            txn.open_table(REFRESH)?;
            txn.open_table(DENYLIST)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Runs `f` in one write transaction and commits durably if it returns `Ok`.
    /// An `Err` from `f` aborts: nothing it wrote is kept.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let out = {
            let mut tx = WriteTx::open(&txn)?;
            f(&mut tx)?
        };
        txn.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` over one consistent snapshot.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&ReadTx) -> Result<T, E>,
    ) -> Result<T, E> {
        let txn = self.db.begin_read().map_err(StoreError::from)?;
        let tx = ReadTx::open(&txn)?;
        f(&tx)
    }

    /// Cheap liveness probe for /health: can a read transaction be started?
    pub fn is_healthy(&self) -> bool {
        self.db
            .begin_read()
            .map(|t| t.open_table(META).is_ok())
            .unwrap_or(false)
    }
}

fn classify_open_error(e: redb::DatabaseError, path: &Path) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
        redb::DatabaseError::Storage(redb::StorageError::Io(source)) => {
            use std::io::ErrorKind;
            if source.kind() == ErrorKind::WouldBlock {
                StoreError::InUse(path.to_path_buf())
            } else if matches!(
                source.kind(),
                ErrorKind::InvalidData | ErrorKind::UnexpectedEof
            ) {
                // redb reports "not a redb database" and short files this way.
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: source.to_string(),
                }
            } else {
                StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        }
        other => StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

fn decode_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn decode_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Lower-cased key for the case-insensitive indexes.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Reads shared by both transaction kinds.
macro_rules! reads {
    () => {
        /// A user by id.
        pub fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
            match self.users.get(id)? {
                Some(v) => Ok(Some(User::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// A user id by username (case-insensitive).
        pub fn user_id_by_name(&self, username: &str) -> Result<Option<u64>, StoreError> {
            Ok(self
                .usernames
                .get(fold(username).as_str())?
                .map(|v| v.value()))
        }

        /// A user id by email (case-insensitive).
        pub fn user_id_by_email(&self, email: &str) -> Result<Option<u64>, StoreError> {
            Ok(self.emails.get(fold(email).as_str())?.map(|v| v.value()))
        }

        /// A user by username (case-insensitive).
        pub fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
            match self.user_id_by_name(username)? {
                Some(id) => self.user(id),
                None => Ok(None),
            }
        }

        /// A refresh session by the hash of its jti.
        pub fn refresh(&self, key: &[u8; 32]) -> Result<Option<RefreshSession>, StoreError> {
            match self.refresh.get(key.as_slice())? {
                Some(v) => Ok(Some(RefreshSession::decode(v.value())?)),
                None => Ok(None),
            }
        }

        /// Whether an access token's jti has been revoked.
        pub fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
            Ok(self.denylist.get(jti)?.is_some())
        }

        /// The dashboard counters.
        pub fn stats(&self) -> Result<Stats, StoreError> {
            match self.meta.get(META_STATS)? {
                Some(v) => Ok(Stats::decode(v.value())?),
                None => Ok(Stats::default()),
            }
        }

        /// The signing keys.
        pub fn keys(&self) -> Result<KeySet, StoreError> {
            match self.meta.get(META_KEYS)? {
                Some(v) => Ok(KeySet::decode(v.value())?),
                None => Ok(KeySet::default()),
            }
        }

        /// Users in id order, from `skip`, at most `limit` (reads only those rows).
        pub fn users_page(&self, skip: u64, limit: usize) -> Result<Vec<User>, StoreError> {
            let mut out = Vec::with_capacity(limit.min(1024));
            for row in self
                .users
                .iter()?
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .take(limit)
            {
                let (_, v) = row?;
                out.push(User::decode(v.value())?);
            }
            Ok(out)
        }
    };
}

/// A read-only snapshot.
pub struct ReadTx {
    meta: ReadOnlyTable<&'static str, &'static [u8]>,
    users: ReadOnlyTable<u64, &'static [u8]>,
    usernames: ReadOnlyTable<&'static str, u64>,
    emails: ReadOnlyTable<&'static str, u64>,
    refresh: ReadOnlyTable<&'static [u8], &'static [u8]>,
    denylist: ReadOnlyTable<&'static str, i64>,
}

impl ReadTx {
    fn open(txn: &ReadTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            meta: txn.open_table(META)?,
            users: txn.open_table(USERS)?,
            usernames: txn.open_table(USERNAMES)?,
            emails: txn.open_table(EMAILS)?,
            refresh: txn.open_table(REFRESH)?,
            denylist: txn.open_table(DENYLIST)?,
        })
    }
    reads!();
}

/// An open write transaction.
pub struct WriteTx<'t> {
    meta: Table<'t, &'static str, &'static [u8]>,
    users: Table<'t, u64, &'static [u8]>,
    usernames: Table<'t, &'static str, u64>,
    emails: Table<'t, &'static str, u64>,
    refresh: Table<'t, &'static [u8], &'static [u8]>,
    denylist: Table<'t, &'static str, i64>,
}

impl<'t> WriteTx<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            meta: txn.open_table(META)?,
            users: txn.open_table(USERS)?,
            usernames: txn.open_table(USERNAMES)?,
            emails: txn.open_table(EMAILS)?,
            refresh: txn.open_table(REFRESH)?,
            denylist: txn.open_table(DENYLIST)?,
        })
    }
    reads!();

    /// Inserts a new user, assigning its id. Fails with [`StoreError::Duplicate`] if
    /// the username or email is taken (username checked first).
    pub fn insert_user(&mut self, mut user: User) -> Result<User, StoreError> {
        let name = fold(&user.username);
        let email = fold(&user.email);
        if self.usernames.get(name.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Username));
        }
        if self.emails.get(email.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Email));
        }
        let id = match self.meta.get(META_NEXT_ID)? {
            Some(v) => {
                decode_u64(v.value()).ok_or_else(|| StoreError::Decode("user id counter".into()))?
            }
            None => 1,
        };
        self.meta
            .insert(META_NEXT_ID, (id + 1).to_le_bytes().as_slice())?;
        user.id = id;
        self.usernames.insert(name.as_str(), id)?;
        self.emails.insert(email.as_str(), id)?;
        self.users.insert(id, user.encode()?.as_slice())?;
        self.bump_stats(None, Some(&user))?;
        Ok(user)
    }

    /// Replaces a user record, keeping the email index and counters in step.
    /// The username never changes.
    pub fn update_user(&mut self, new: &User) -> Result<(), StoreError> {
        let old = self.user(new.id)?.ok_or_else(|| {
            StoreError::Database(format!("user {} vanished during update", new.id))
        })?;
        let (old_email, new_email) = (fold(&old.email), fold(&new.email));
        if old_email != new_email {
            if self.emails.get(new_email.as_str())?.is_some() {
                return Err(StoreError::Duplicate(UniqueField::Email));
            }
            self.emails.remove(old_email.as_str())?;
            self.emails.insert(new_email.as_str(), new.id)?;
        }
        self.users.insert(new.id, new.encode()?.as_slice())?;
        self.bump_stats(Some(&old), Some(new))?;
        Ok(())
    }

    fn bump_stats(&mut self, old: Option<&User>, new: Option<&User>) -> Result<(), StoreError> {
        let mut stats = self.stats()?;
        stats.apply(old, new);
        self.meta.insert(META_STATS, stats.encode()?.as_slice())?;
        Ok(())
    }

    /// Stores (inserts or replaces) a refresh session.
    pub fn put_refresh(
        &mut self,
        key: &[u8; 32],
        session: &RefreshSession,
    ) -> Result<(), StoreError> {
        self.refresh
            .insert(key.as_slice(), session.encode()?.as_slice())?;
        Ok(())
    }

    /// Adds an access-token jti to the denylist until `exp`.
    pub fn revoke_jti(&mut self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.denylist.insert(jti, exp)?;
        Ok(())
    }

    /// Replaces the signing keys.
    pub fn put_keys(&mut self, keys: &KeySet) -> Result<(), StoreError> {
        self.meta.insert(META_KEYS, keys.encode()?.as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
