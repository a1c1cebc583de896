//! The audit log's rules: what an entry says, and how entries that belong to no
//! write transaction (a login for an unknown user, an unauthorized request, a rate
//! limit hit) are queued and written in batches. Entries that accompany a state
//! change are written in that change's own transaction instead, so the two commit
//! together. No entry ever holds a password, token or key.

use super::access::Principal;
use super::{AuditEntry, Auth, Error};
use crate::store::records::{AuditEvent, AuditRecord, User};
use crate::store::AuditQuery;
use std::sync::PoisonError;

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ctx {
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl Ctx {
    /// The operator's command line.
    pub fn cli() -> Self {
        Self { ip: None, user_agent: Some("gatehouse-cli".into()) }
    }
}

/// Queued entries beyond this are dropped (and counted) rather than growing memory.
pub const MAX_QUEUED: usize = 10_000;
/// User agents are cut to this many bytes.
const MAX_USER_AGENT: usize = 256;
/// Names that belong to no account are cut to this many bytes.
pub const MAX_UNKNOWN_NAME: usize = 64;

/// `s` cut to at most `max` bytes, at a character boundary: what an entry keeps of
/// text a client chose.
pub fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl Auth {
    /// Builds an entry stamped now.
    pub(super) fn audit_record(
        &self,
        ctx: &Ctx,
        event: AuditEvent,
        user: Option<&User>,
        detail: Option<String>,
    ) -> AuditRecord {
        AuditRecord {
            at: self.clock.now_micros(),
            event,
            user_id: user.map(|u| u.id),
            username: user.map(|u| u.username.clone()),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.as_deref().map(|ua| cut(ua, MAX_USER_AGENT)),
            detail,
        }
    }

    /// Queues an entry about a refused request (by `who`, when one was identified):
    /// the server's refusals have no transaction of their own.
    pub fn audit_refusal(&self, ctx: &Ctx, event: AuditEvent, who: Option<&Principal>, detail: String) {
        let rec = self.audit_record(ctx, event, who.map(|p| &p.user), Some(detail));
        self.audit_later(rec);
    }

    /// Queues an entry that has no transaction of its own; [`Auth::flush_audit`]
    /// writes the queue.
    pub fn audit_later(&self, rec: AuditRecord) {
        let mut q = self.audit_queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.entries.len() < MAX_QUEUED {
            q.entries.push(rec);
        } else {
            q.dropped += 1;
        }
    }

    /// Writes queued entries in one transaction, deleting as many of the oldest as
    /// the log has grown beyond its row bound. Returns how many were written.
    ///
    /// When it returns, every entry queued before the call is written (or lost
    /// with a failed write): flushes run one at a time, so a flush that finds the
    /// queue emptied by another still in progress waits for that one's commit.
    pub fn flush_audit(&self) -> Result<usize, Error> {
        let _one_at_a_time = self.audit_flush.lock().unwrap_or_else(PoisonError::into_inner);
        let (entries, dropped) = {
            let mut q = self.audit_queue.lock().unwrap_or_else(PoisonError::into_inner);
            (std::mem::take(&mut q.entries), std::mem::take(&mut q.dropped))
        };
        if dropped > 0 {
            tracing::warn!(dropped, "audit queue was full; entries were dropped");
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let max_rows = self.policy.audit_max_rows;
        let over = self.store.write(|tx| {
            for e in &entries {
                tx.append_audit(e)?;
            }
            Ok::<_, Error>(tx.trim_audit(max_rows, entries.len())?)
        })?;
        if over > 0 {
            let over = u64::try_from(over).unwrap_or(u64::MAX);
            self.counters.audit_dropped.fetch_add(over, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(entries.len())
    }

    /// How many entries wait for a flush.
    #[cfg(test)]
    pub(super) fn audit_queued(&self) -> usize {
        self.audit_queue.lock().unwrap_or_else(PoisonError::into_inner).entries.len()
    }

    /// Reads the log, newest first.
    pub fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, Error> {
        Ok(self.store.read(|r| r.audit(q))?.into_iter().map(AuditEntry::from).collect())
    }
}

/// Entries waiting for [`Auth::flush_audit`].
#[derive(Debug, Default)]
pub struct AuditQueue {
    entries: Vec<AuditRecord>,
    dropped: u64,
}

/// Logins in one period of the dashboard's chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginBucket {
    /// Start of the period (µs).
    pub start: crate::clock::Micros,
    /// Successful logins.
    pub success: u64,
    /// Failed logins.
    pub failure: u64,
}

const HOUR_MICROS: i64 = 3_600_000_000;

impl Auth {
    /// Logins per period for the last `count` periods of `hours` hours each, the
    /// current one last. Periods are aligned to whole multiples of `hours` since
    /// the epoch (whole UTC days for 24). Reads the hourly totals kept beside the
    /// audit log: `count × hours` rows at most, however many logins there were.
    pub fn login_totals(&self, hours: u64, count: u64) -> Result<Vec<LoginBucket>, Error> {
        let hours = hours.max(1);
        let now_hour = u64::try_from(self.clock.now_micros().max(0) / HOUR_MICROS).unwrap_or(0);
        let last = now_hour / hours;
        let first = last.saturating_sub(count.saturating_sub(1));
        let rows = self.store.read(|r| r.login_hours(first * hours, (last + 1) * hours))?;
        let mut out: Vec<LoginBucket> = (first..=last)
            .map(|b| LoginBucket {
                start: i64::try_from(b * hours).unwrap_or(i64::MAX).saturating_mul(HOUR_MICROS),
                success: 0,
                failure: 0,
            })
            .collect();
        for (hour, ok, failed) in rows {
            let i = usize::try_from(hour / hours - first).unwrap_or(usize::MAX);
            if let Some(b) = out.get_mut(i) {
                b.success += ok;
                b.failure += failed;
            }
        }
        Ok(out)
    }
}
