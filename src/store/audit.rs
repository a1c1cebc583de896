//! The audit log's storage: append an entry (with its by-user and by-event index
//! rows) inside any write transaction, and read entries newest first with filters,
//! using whichever index fits so a filtered page reads only matching rows.

use super::records::{AuditEvent, AuditRecord};
use super::tx::{ReadTx, WriteTx};
use super::StoreError;
use redb::ReadableTable;

/// Filters and paging for reading the log.
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

fn micros_key(t: i64) -> u64 {
    u64::try_from(t.max(0)).unwrap_or(0)
}

/// Writes the log line for a committed entry (`target: "audit"`, one line each).
pub(super) fn log_line(r: &AuditRecord) {
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
    pub fn append_audit(&mut self, rec: &AuditRecord) -> Result<(), StoreError> {
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
    pub fn purge_login_hours(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
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
    pub fn purge_audit(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        let mut doomed = Vec::new();
        for row in self.t_audit()?.range(..(micros_key(before), 0))?.take(max) {
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

impl ReadTx {
    /// Entries matching `q`, newest first.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
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
        let audit = self.t_audit()?;
        let mut fetch = |key: (u64, u64), out: &mut Vec<AuditRecord>| -> Result<(), StoreError> {
            if let Some(v) = audit.get(key)? {
                take(AuditRecord::decode(v.value())?, out);
            }
            Ok(())
        };
        if let Some(uid) = q.user_id {
            for row in self.t_audit_by_user()?.range((uid, lo, 0)..(uid, hi, 0))?.rev() {
                let (_, at, seq) = row?.0.value();
                fetch((at, seq), &mut out)?;
                if out.len() >= q.limit {
                    break;
                }
            }
        } else if let Some(e) = q.event {
            let code = e.code();
            for row in self.t_audit_by_event()?.range((code, lo, 0)..(code, hi, 0))?.rev() {
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
}
