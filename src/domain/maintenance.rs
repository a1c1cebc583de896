//! Keeping the store in shape and telling the operator about it: cleanup batches,
//! health, size, row counts and consistent backups. The server's background task,
//! /health, /metrics and the operator commands reach storage through these.

use super::{Auth, Error};
use crate::store::{Swept, TableCounts};
use std::path::PathBuf;

impl Auth {
    /// One cleanup batch: at most `max` expired refresh sessions (and the sessions
    /// they end), expired denylist entries, audit entries and hourly login totals
    /// past retention, the oldest audit entries beyond the row bound, and expired
    /// passkey challenges, in one write transaction.
    pub fn cleanup_batch(&self, max: usize) -> Result<Swept, Error> {
        let now = self.clock.now_secs();
        let retention = i64::try_from(self.policy.audit_retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = self.clock.now_micros().saturating_sub(retention);
        let swept = self.store.write(|tx| {
            Ok::<_, Error>(Swept {
                refresh: tx.purge_refresh(now, max)?,
                denylist: tx.purge_denylist(now, max)?,
                audit: tx.purge_audit(cutoff, max)?,
                audit_bound: tx.trim_audit(self.policy.audit_max_rows, max)?,
                login_hours: tx.purge_login_hours(cutoff, max)?,
                codes: tx.purge_codes(now, max)?,
                challenges: tx.purge_challenges(now, max)?,
            })
        })?;
        let dropped = u64::try_from(swept.audit_bound).unwrap_or(u64::MAX);
        self.counters.audit_dropped.fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
        Ok(swept)
    }

    /// Whether the store answers (/health).
    pub fn is_healthy(&self) -> bool {
        self.store.is_healthy()
    }

    /// Bytes the data takes on disk, when known (/metrics).
    pub fn database_bytes(&self) -> Option<u64> {
        self.store.size_bytes()
    }

    /// Rows per table now.
    pub fn table_counts(&self) -> Result<TableCounts, Error> {
        Ok(self.store.counts()?)
    }

    /// Writes a consistent, verified copy of everything to `dest`, or when `None`
    /// to a new file in the store's own directory (a sandboxed service may not
    /// write where the operator wants the copy; the CLI moves it). Returns where it
    /// went and its row counts.
    pub fn backup(&self, dest: Option<PathBuf>) -> Result<(PathBuf, TableCounts), Error> {
        let path = match dest {
            Some(p) => p,
            None => {
                let dir = self.store.scratch_dir().unwrap_or_default();
                dir.join(format!(".backup-{}-{}.redb", std::process::id(), self.clock.now_micros()))
            }
        };
        let counts = self.store.backup_to(&path)?;
        Ok((path, counts))
    }
}

/// What `gatehouse check` found in a data directory no server is using.
#[derive(Debug)]
pub enum OfflineCheck {
    /// There is no database yet (`serve` creates it).
    NoDatabase,
    /// It opens, passes the engine's integrity check, and every record decodes.
    Healthy {
        /// Accounts in it.
        users: u64,
    },
    /// Another process holds it (a server whose admin socket did not answer).
    InUse(String),
    /// Damaged, foreign or newer than this build: the reason, for the operator.
    Broken(String),
}

fn users_in(counts: &TableCounts) -> u64 {
    counts.iter().find(|(t, _)| *t == "users").map_or(0, |(_, n)| *n)
}

/// Checks the database at `at`: a data directory no server is using, or a
/// PostgreSQL database (servers may be using it).
pub fn check_offline(at: &super::StoreLocation) -> OfflineCheck {
    let checked = match at {
        super::StoreLocation::Dir(data_dir) => {
            if !data_dir.join(crate::store::DB_FILE).exists() {
                return OfflineCheck::NoDatabase;
            }
            crate::store::check_file(data_dir)
        }
        super::StoreLocation::Postgres(o) => crate::store::postgres::check(o),
    };
    match checked {
        Ok(counts) => OfflineCheck::Healthy { users: users_in(&counts) },
        Err(e @ crate::store::StoreError::InUse(_)) => OfflineCheck::InUse(e.to_string()),
        Err(e) => OfflineCheck::Broken(e.to_string()),
    }
}

/// A restore's outcome.
#[derive(Debug)]
pub struct Restored {
    /// Where the database it replaced was kept, if there was one.
    pub kept: Option<PathBuf>,
    /// Accounts in the restored database.
    pub users: u64,
}

/// Replaces the database in `data_dir` (its server stopped) with the backup
/// `file`, checked first; the current one is kept beside it.
pub fn restore(data_dir: &std::path::Path, file: &std::path::Path, now_secs: i64) -> Result<Restored, Error> {
    let (kept, counts) = crate::store::restore(data_dir, file, now_secs)?;
    Ok(Restored { kept, users: users_in(&counts) })
}
