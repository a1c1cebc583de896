//! Online backup and offline checks of the database file.
//!
//! A backup copies every table from one read transaction into a new file, so it is
//! one consistent snapshot: a write committed while it runs is either wholly in it
//! or not at all, and writers are never blocked (redb readers do not block the
//! writer). The copy is then reopened and compared table by table.

use super::records::{ApiKeyRecord, AuditRecord, RefreshSession, SessionRecord, User};
use super::*;
use redb::{ReadableTableMetadata, WriteTransaction};

/// Rows per table, for verification and for people.
pub type TableCounts = Vec<(&'static str, u64)>;

macro_rules! each_table {
    ($m:ident, $($args:expr),*) => {{
        let mut counts: TableCounts = Vec::new();
        counts.push(("meta", $m!(META, $($args),*)));
        counts.push(("users", $m!(USERS, $($args),*)));
        counts.push(("usernames", $m!(USERNAMES, $($args),*)));
        counts.push(("emails", $m!(EMAILS, $($args),*)));
        counts.push(("refresh_tokens", $m!(REFRESH, $($args),*)));
        counts.push(("revoked_jti", $m!(DENYLIST, $($args),*)));
        counts.push(("api_keys", $m!(API_KEYS, $($args),*)));
        counts.push(("api_key_ids", $m!(API_KEY_IDS, $($args),*)));
        counts.push(("audit", $m!(AUDIT, $($args),*)));
        counts.push(("audit_by_user", $m!(AUDIT_BY_USER, $($args),*)));
        counts.push(("audit_by_event", $m!(AUDIT_BY_EVENT, $($args),*)));
        counts.push(("refresh_expiry", $m!(REFRESH_EXPIRY, $($args),*)));
        counts.push(("revoked_jti_expiry", $m!(DENYLIST_EXPIRY, $($args),*)));
        counts.push(("sessions", $m!(SESSIONS, $($args),*)));
        counts.push(("login_hours", $m!(LOGIN_HOURS, $($args),*)));
        counts
    }};
}

macro_rules! copy_table {
    ($def:expr, $src:expr, $dst:expr) => {{
        let from = $src.open_table($def)?;
        let mut to = $dst.open_table($def)?;
        let mut n = 0u64;
        for row in from.iter()? {
            let (k, v) = row?;
            to.insert(k.value(), v.value())?;
            n += 1;
        }
        n
    }};
}

macro_rules! count_table {
    ($def:expr, $txn:expr) => {{
        $txn.open_table($def)?.len()?
    }};
}

impl Store {
    /// Writes a consistent copy of the database to `dest` (which must not exist),
    /// then reopens the copy and checks every table's row count. Returns the counts.
    pub fn backup_to(&self, dest: &Path) -> Result<TableCounts, StoreError> {
        let io = |source| StoreError::Io { path: dest.to_path_buf(), source };
        let file =
            OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(dest).map_err(io)?;
        let snapshot = self.db.begin_read()?;
        let copy = redb::backends::FileBackend::new(file)
            .and_then(|b| Database::builder().create_with_backend(b))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let txn: WriteTransaction = copy.begin_write()?;
        let copied =
            (|| -> Result<TableCounts, StoreError> { Ok(each_table!(copy_table, snapshot, txn)) })()?;
        txn.commit()?;
        drop(copy);
        let check = Database::builder()
            .open(dest)
            .map_err(|e| StoreError::Corrupt { path: dest.to_path_buf(), reason: e.to_string() })?;
        let read = check.begin_read()?;
        let counted = (|| -> Result<TableCounts, StoreError> { Ok(each_table!(count_table, read)) })()?;
        if counted != copied {
            return Err(StoreError::Corrupt {
                path: dest.to_path_buf(),
                reason: "the copy's tables differ from the snapshot".into(),
            });
        }
        Ok(copied)
    }

    /// Rows per table now.
    pub fn counts(&self) -> Result<TableCounts, StoreError> {
        let read = self.db.begin_read()?;
        Ok(each_table!(count_table, read))
    }
}

/// Checks a database file the server is not using: redb's own integrity check
/// (which also repairs an unclean shutdown), the schema version, and that every
/// stored record decodes. Returns the row counts.
pub fn check_file(data_dir: &Path) -> Result<TableCounts, StoreError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::Io { path, source: std::io::Error::from(std::io::ErrorKind::NotFound) });
    }
    {
        let mut db = Database::builder().open(&path).map_err(|e| super::classify_open_error(e, &path))?;
        let ok = db
            .check_integrity()
            .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        if !ok {
            tracing::warn!(path = %path.display(), "the database needed repair after an unclean shutdown; repaired");
        }
    }
    let store = Store::open(data_dir)?;
    store.read(|r| {
        r.keys()?;
        r.stats()?;
        Ok::<_, StoreError>(())
    })?;
    let read = store.db.begin_read()?;
    for row in read.open_table(USERS)?.iter()? {
        User::decode(row?.1.value())?;
    }
    for row in read.open_table(REFRESH)?.iter()? {
        RefreshSession::decode(row?.1.value())?;
    }
    for row in read.open_table(API_KEYS)?.iter()? {
        ApiKeyRecord::decode(row?.1.value())?;
    }
    for row in read.open_table(AUDIT)?.iter()? {
        AuditRecord::decode(row?.1.value())?;
    }
    for row in read.open_table(SESSIONS)?.iter()? {
        SessionRecord::decode(row?.1.value())?;
    }
    drop(read);
    store.counts()
}
