//! Online backup and offline checks of the database file.
//!
//! A backup copies every table from one read transaction into a new file, so it is
//! one consistent snapshot: a write committed while it runs is either wholly in it
//! or not at all, and writers are never blocked (redb readers do not block the
//! writer). The copy is then reopened and compared table by table.

use super::*;
use crate::store::records::{ApiKeyRecord, AuditRecord, RefreshSession, SessionRecord, User};
use redb::{ReadableTableMetadata, WriteTransaction};

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
        counts.push(("oauth_clients", $m!(CLIENTS, $($args),*)));
        counts.push(("oauth_codes", $m!(CODES, $($args),*)));
        counts.push(("oauth_code_expiry", $m!(CODE_EXPIRY, $($args),*)));
        counts.push(("consents", $m!(CONSENTS, $($args),*)));
        counts.push(("mfa", $m!(MFA, $($args),*)));
        counts.push(("passkeys", $m!(PASSKEYS, $($args),*)));
        counts.push(("passkey_credentials", $m!(PASSKEY_CREDENTIALS, $($args),*)));
        counts.push(("webauthn_challenges", $m!(CHALLENGES, $($args),*)));
        counts.push(("webauthn_challenge_expiry", $m!(CHALLENGE_EXPIRY, $($args),*)));
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

/// Writes a consistent copy of the database to `dest` (which must not exist), then
/// reopens the copy and checks every table's row count. Returns the counts.
pub(super) fn backup_to(store: &Embedded, dest: &Path) -> Result<TableCounts, StoreError> {
    let io = |source| StoreError::Io { path: dest.to_path_buf(), source };
    let file =
        OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(dest).map_err(io)?;
    let snapshot = store.db.begin_read()?;
    let copy = redb::backends::FileBackend::new(file)
        .and_then(|b| Database::builder().create_with_backend(b))
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let txn: WriteTransaction = copy.begin_write()?;
    let copied = (|| -> Result<TableCounts, StoreError> { Ok(each_table!(copy_table, snapshot, txn)) })()?;
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
pub(super) fn counts(store: &Embedded) -> Result<TableCounts, StoreError> {
    let read = store.db.begin_read()?;
    Ok(each_table!(count_table, read))
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
    let store = Embedded::open(data_dir)?;
    store.read_tx(|r| {
        r.keys()?;
        r.stats()?;
        r.hash_cost()?;
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
    counts(&store)
}

/// Replaces the database in `data_dir` (whose server must be stopped) with the
/// backup `file`: the backup is checked through a private copy (so the file itself
/// is never modified), the current database is kept beside it as
/// `gatehouse.redb.before-restore-NOW`, and the checked copy is swapped in with one
/// rename. Returns where the old database was kept, and the restored row counts.
pub fn restore(
    data_dir: &Path,
    file: &Path,
    now_secs: i64,
) -> Result<(Option<PathBuf>, TableCounts), StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let staging = data_dir.join(format!(".restore-check-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).map_err(io(&staging))?;
    let result = (|| {
        fs::copy(file, staging.join(DB_FILE)).map_err(io(file))?;
        let counts = check_file(&staging)?;
        let live = data_dir.join(DB_FILE);
        let incoming = data_dir.join(format!("{DB_FILE}.restoring"));
        fs::copy(staging.join(DB_FILE), &incoming).map_err(io(&incoming))?;
        fs::File::open(&incoming).and_then(|f| f.sync_all()).map_err(io(&incoming))?;
        let kept = if live.exists() {
            let kept = data_dir.join(format!("{DB_FILE}.before-restore-{now_secs}"));
            fs::copy(&live, &kept).map_err(io(&kept))?;
            Some(kept)
        } else {
            None
        };
        fs::rename(&incoming, &live).map_err(io(&live))?;
        Ok((kept, counts))
    })();
    let _ = fs::remove_dir_all(&staging);
    result
}
