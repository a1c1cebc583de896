//! Work the server does on its own schedule, until it stops: writing queued audit
//! entries (every second), API-key use (every minute), and cleanup — expired
//! refresh sessions and denylist entries, audit entries past retention, idle
//! rate-limiter keys, aged failed-login counts of unknown names — at start-up and then every `interval`, in small batches so no
//! single transaction holds the write lock for long.

use super::state::AppState;
use crate::domain::Swept;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Rows deleted per table per cleanup transaction.
pub const CLEANUP_BATCH: usize = 1000;

/// Runs until `stop` flips, then writes what is still queued and returns.
pub async fn run(state: Arc<AppState>, cleanup_every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    let cleanup_ticks = cleanup_every.as_secs().max(1);
    cleanup(&state).await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        ticks += 1;
        flush_audit(&state).await;
        if ticks.is_multiple_of(60) {
            flush_key_usage(&state).await;
        }
        if ticks.is_multiple_of(cleanup_ticks) {
            cleanup(&state).await;
        }
    }
    flush_audit(&state).await;
    flush_key_usage(&state).await;
}

async fn flush_audit(state: &Arc<AppState>) {
    let auth = Arc::clone(&state.auth);
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || auth.flush_audit()).await {
        tracing::warn!(error = %e, "could not write queued audit entries");
    }
}

async fn flush_key_usage(state: &Arc<AppState>) {
    let auth = Arc::clone(&state.auth);
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || auth.flush_key_usage()).await {
        tracing::warn!(error = %e, "could not record API key use");
    }
}

/// One cleanup pass: batches until every table comes back short.
pub async fn cleanup(state: &Arc<AppState>) {
    let mut total = Swept::default();
    loop {
        let auth = Arc::clone(&state.auth);
        match tokio::task::spawn_blocking(move || auth.cleanup_batch(CLEANUP_BATCH)).await {
            Ok(Ok(s)) => {
                total.refresh += s.refresh;
                total.denylist += s.denylist;
                total.audit += s.audit;
                total.audit_bound += s.audit_bound;
                total.login_hours += s.login_hours;
                total.codes += s.codes;
                total.challenges += s.challenges;
                if !s.full(CLEANUP_BATCH) {
                    break;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cleanup failed; will retry at the next interval");
                break;
            }
            Err(_) => break,
        }
        // Let queued writers (logins, refreshes) in between batches.
        tokio::task::yield_now().await;
    }
    let idle = state.limits.sweep(state.auth.clock().now_micros());
    let phantoms = state.auth.sweep_phantoms();
    if total != Swept::default() || idle > 0 || phantoms > 0 {
        tracing::info!(
            refresh_sessions = total.refresh,
            revoked_tokens = total.denylist,
            audit_entries = total.audit,
            audit_entries_over_bound = total.audit_bound,
            login_hours = total.login_hours,
            authorization_codes = total.codes,
            passkey_challenges = total.challenges,
            limiter_keys = idle,
            failed_login_names = phantoms,
            "cleanup removed expired rows"
        );
    }
}
