//! The audit log's storage: append an entry (with its by-user and by-event index
//! rows) inside any write transaction, and read entries newest first with filters,
//! using whichever index fits so a filtered page reads only matching rows.

use super::tx::WriteTx;
use crate::store::records::{AuditEvent, AuditRecord};
use crate::store::{AuditQuery, StoreError};
use redb::{ReadableTable, ReadableTableMetadata};

fn micros_key(t: i64) -> u64 {
    u64::try_from(t.max(0)).unwrap_or(0)
}

/// Writes the log line for a committed entry (`target: "audit"`, one line each).
pub(in crate::store) fn log_line(r: &AuditRecord) {
    let (event, user_id, username, ip, ua, detail) = (
        r.event.as_str(),
        r.user_id,
        r.username.as_deref().unwrap_or(""),
        r.ip.as_deref().unwrap_or(""),
        r.user_agent.as_deref().unwrap_or(""),
        r.detail.as_deref().unwrap_or(""),
    );
    if r.event.is_warning() {
        tracing::warn!(target: "audit", event, user_id, username, ip, user_agent = ua, detail, "security event");
    } else {
        tracing::info!(target: "audit", event, user_id, username, ip, user_agent = ua, detail, "security event");
    }
}

impl WriteTx<'_> {
    /// Appends an entry. Keys are (time, sequence) and never go backwards, even if
    /// the clock does, so the log stays in the order entries were written.
    pub(super) fn audit_append(&mut self, rec: &AuditRecord) -> Result<(), StoreError> {
        let at = micros_key(rec.at);
        let (key_at, seq) = match self.t_audit()?.last()? {
            Some((k, _)) => {
                let (last_at, last_seq) = k.value();
                if at > last_at {
                    (at, 0)
                } else {
                    (last_at, last_seq + 1)
                }
            }
            None => (at, 0),
        };
        self.t_audit.insert((key_at, seq), rec.encode()?.as_slice())?;
        if let Some(uid) = rec.user_id {
            self.t_audit_by_user.insert((uid, key_at, seq), ())?;
        }
        self.t_audit_by_event.insert((rec.event.code(), key_at, seq), ())?;
        if matches!(rec.event, AuditEvent::LoginSuccess | AuditEvent::LoginFailure) {
            let hour = at / 3_600_000_000;
            let (ok, failed) = self.t_login_hours.get(hour)?.map_or((0, 0), |v| v.value());
            let counts =
                if rec.event == AuditEvent::LoginSuccess { (ok + 1, failed) } else { (ok, failed + 1) };
            self.t_login_hours.insert(hour, counts)?;
        }
        self.audit_written.push(rec.clone());
        Ok(())
    }

    /// Deletes up to `max` hourly login totals for hours that ended before `before` (µs).
    pub(super) fn login_hours_purge(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        let last = micros_key(before) / 3_600_000_000;
        let mut doomed = Vec::new();
        for row in self.t_login_hours.range(..last)?.take(max) {
            doomed.push(row?.0.value());
        }
        for h in &doomed {
            self.t_login_hours.remove(*h)?;
        }
        Ok(doomed.len())
    }

    /// Deletes up to `max` entries older than `before` (and their index rows).
    pub(super) fn audit_purge(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        self.remove_oldest_audit(Some(before), max)
    }

    /// Deletes the oldest entries beyond `max_rows` (at most `batch` of them, with
    /// their index rows): the log's size bound, whatever their age.
    pub(super) fn audit_trim(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        let excess = self.t_audit.len()?.saturating_sub(max_rows);
        let n = usize::try_from(excess).unwrap_or(usize::MAX).min(batch);
        if n == 0 {
            return Ok(0);
        }
        self.remove_oldest_audit(None, n)
    }

    /// Deletes up to `max` of the oldest entries (only those older than `before`,
    /// when given) and their index rows.
    fn remove_oldest_audit(&mut self, before: Option<i64>, max: usize) -> Result<usize, StoreError> {
        let end = before.map_or((u64::MAX, u64::MAX), |b| (micros_key(b), 0));
        let mut doomed = Vec::new();
        for row in self.t_audit()?.range(..end)?.take(max) {
            let (k, v) = row?;
            doomed.push((k.value(), AuditRecord::decode(v.value())?));
        }
        for ((at, seq), rec) in &doomed {
            self.t_audit.remove((*at, *seq))?;
            if let Some(uid) = rec.user_id {
                self.t_audit_by_user.remove((uid, *at, *seq))?;
            }
            self.t_audit_by_event.remove((rec.event.code(), *at, *seq))?;
        }
        Ok(doomed.len())
    }
}

/// Entries matching `q`, newest first, through whichever index fits.
pub(super) fn query(
    audit: &impl ReadableTable<(u64, u64), &'static [u8]>,
    by_user: &impl ReadableTable<(u64, u64, u64), ()>,
    by_event: &impl ReadableTable<(u8, u64, u64), ()>,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    let lo = micros_key(q.since.unwrap_or(0));
    let hi = q.until.map_or(u64::MAX, micros_key);
    if lo >= hi || q.limit == 0 {
        return Ok(Vec::new());
    }
    let keep = |r: &AuditRecord| q.event.is_none_or(|e| e == r.event);
    let mut out = Vec::new();
    let mut skipped = 0u64;
    let mut take = |rec: AuditRecord, out: &mut Vec<AuditRecord>| {
        if !keep(&rec) {
            return;
        }
        if skipped < q.skip {
            skipped += 1;
        } else {
            out.push(rec);
        }
    };
    let mut fetch = |key: (u64, u64), out: &mut Vec<AuditRecord>| -> Result<(), StoreError> {
        if let Some(v) = audit.get(key)? {
            take(AuditRecord::decode(v.value())?, out);
        }
        Ok(())
    };
    if let Some(uid) = q.user_id {
        for row in by_user.range((uid, lo, 0)..(uid, hi, 0))?.rev() {
            let (_, at, seq) = row?.0.value();
            fetch((at, seq), &mut out)?;
            if out.len() >= q.limit {
                break;
            }
        }
    } else if let Some(e) = q.event {
        let code = e.code();
        for row in by_event.range((code, lo, 0)..(code, hi, 0))?.rev() {
            let (_, at, seq) = row?.0.value();
            fetch((at, seq), &mut out)?;
            if out.len() >= q.limit {
                break;
            }
        }
    } else {
        for row in audit.range((lo, 0)..(hi, 0))?.rev() {
            let (_, v) = row?;
            take(AuditRecord::decode(v.value())?, &mut out);
            if out.len() >= q.limit {
                break;
            }
        }
    }
    Ok(out)
}
