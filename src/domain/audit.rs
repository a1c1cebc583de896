//! The audit log's rules: what an entry says, and how entries that belong to no
//! write transaction (a login for an unknown user, an unauthorized request, a rate
//! limit hit) are queued and written in batches. Entries that accompany a state
//! change are written in that change's own transaction instead, so the two commit
//! together. No entry ever holds a password, token or key.

use super::{Auth, Error};
use crate::store::records::{AuditEvent, AuditRecord, User};
use crate::store::AuditQuery;

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
/// User agents are cut to this many characters.
const MAX_USER_AGENT: usize = 256;

impl Auth {
    /// Builds an entry stamped now.
    pub fn audit_record(
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
            user_agent: ctx.user_agent.as_ref().map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
            detail,
        }
    }

    /// Queues an entry that has no transaction of its own; [`Auth::flush_audit`]
    /// writes the queue.
    pub fn audit_later(&self, rec: AuditRecord) {
        if let Ok(mut q) = self.audit_queue.lock() {
            if q.entries.len() < MAX_QUEUED {
                q.entries.push(rec);
            } else {
                q.dropped += 1;
            }
        }
    }

    /// Writes queued entries in one transaction. Returns how many were written.
    pub fn flush_audit(&self) -> Result<usize, Error> {
        let (entries, dropped) = match self.audit_queue.lock() {
            Ok(mut q) => (std::mem::take(&mut q.entries), std::mem::take(&mut q.dropped)),
            Err(_) => return Ok(0),
        };
        if dropped > 0 {
            tracing::warn!(dropped, "audit queue was full; entries were dropped");
        }
        if entries.is_empty() {
            return Ok(0);
        }
        self.store.write(|tx| {
            for e in &entries {
                tx.append_audit(e)?;
            }
            Ok::<_, Error>(entries.len())
        })
    }

    /// Reads the log, newest first.
    pub fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, Error> {
        Ok(self.store.read(|r| r.audit(q))?)
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
