//! Counters of what the auth core did, for the metrics endpoint. Plain atomics,
//! incremented where the event happens; nothing reads them on a request path.

use std::sync::atomic::{AtomicU64, Ordering};

/// Event counters since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Successful password logins.
    pub logins_ok: AtomicU64,
    /// Failed password logins (any cause).
    pub logins_failed: AtomicU64,
    /// Accounts locked by failed logins.
    pub lockouts: AtomicU64,
    /// Token pairs issued (logins and refreshes).
    pub tokens_issued: AtomicU64,
    /// Successful refresh-token rotations.
    pub tokens_refreshed: AtomicU64,
    /// Revocations: logouts, password changes, deactivations, role changes,
    /// admin revoke-sessions, reuse detections.
    pub revocations: AtomicU64,
    /// Spent refresh tokens presented again.
    pub reuse_detected: AtomicU64,
    /// Audit entries deleted because the log reached `--audit-max-rows`.
    pub audit_dropped: AtomicU64,
}

impl Counters {
    /// Adds one.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
