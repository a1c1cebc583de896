//! Group commit: write transactions that arrive together share one durable commit.
//!
//! A durable redb commit costs one or two `fsync`s, and redb has one writer at a
//! time, so one commit per transaction bounds every write path by the disk's sync
//! latency. Here, writers that queue up while a commit runs form the next *batch*:
//! one redb write transaction in which each writer runs its own closure, in turn,
//! on its own thread. The writer that finds nobody else waiting (or the batch full)
//! commits it durably, once, and every writer of the batch returns only after that
//! commit. So:
//!
//! - **Nothing is acknowledged before it is durable**: `write` returns `Ok` only
//!   after the durable commit that contains the writer's changes.
//! - **Nothing is visible before it is durable**: the batch is one transaction;
//!   readers see none of it until the commit (no `Durability::None` anywhere).
//! - **The single-writer guarantees hold**: closures run one after the other, each
//!   seeing the writes of those before it, exactly as if each had committed alone
//!   in that order (one winner among concurrent refreshes, exact failure counts).
//! - **One writer's failure does not fail another's.** A closure that fails before
//!   writing leaves the batch untouched (its answer still waits for the batch's
//!   commit when the batch has members: the refusal may rest on their writes). One that fails after writing cannot be
//!   undone inside the transaction (redb has no savepoints in a written
//!   transaction), so the batch is abandoned: the failing writer gets its own error
//!   and every other writer of that batch runs its closure again in the next one
//!   (closures may run again; see `store/mod.rs`). A panicking closure is handled
//!   like a failure after writing, then its panic continues. A failed *commit*
//!   fails every writer of its batch, as it would have failed a lone writer.
//!
//! This module must not know what the closures do.

use super::audit;
use super::tx::WriteTx;
use crate::store::records::AuditRecord;
use crate::store::{StoreError, Writes};
use redb::{Database, WriteTransaction};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// Most writers in one batch: bounds how long the first of them waits.
pub const MAX_BATCH: usize = 64;

/// The closure of one write transaction, as the `Backend` receives it.
pub type WriteFn<'a> = &'a mut dyn FnMut(&mut dyn Writes) -> Result<(), StoreError>;

/// The writers' meeting point (one per database).
#[derive(Debug, Default)]
pub struct Group {
    state: Mutex<State>,
    /// A writer may run: no closure is running and no commit either.
    turn: Condvar,
    /// A batch ended (committed, failed or abandoned).
    ended: Condvar,
    /// Durable commits made (for tests).
    commits: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// The batch being filled; `None` while a commit runs or when idle.
    open: Option<Batch>,
    /// A closure is running on the open batch (taken out of `open` meanwhile).
    running: bool,
    /// A batch's commit is running.
    committing: bool,
    /// Writers inside [`Group::write`] that have not yet run their closure.
    waiting: usize,
}

struct Batch {
    txn: WriteTransaction,
    /// Writers whose closure succeeded in this batch.
    members: usize,
    /// Audit entries of those writers, logged once the batch commits.
    audit: Vec<AuditRecord>,
    /// How the batch ended, for its members.
    end: Arc<OnceLock<End>>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("members", &self.members).finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum End {
    Committed,
    /// The commit failed (its message; the committing writer has the error itself).
    Failed(String),
    /// Abandoned after a member's failure: run the closure again.
    Retry,
}

/// What running one closure in the open batch did.
enum Ran {
    /// Succeeded: the writer is a member of the batch.
    Joined,
    /// Failed before writing anything: the batch is as it was.
    Refused(StoreError),
    /// Failed after writing: the batch must be abandoned.
    Spoiled(StoreError),
    /// Panicked: the batch must be abandoned, then the panic continues.
    Panicked(Box<dyn Any + Send>),
}

type Guard<'a> = MutexGuard<'a, State>;

impl Group {
    fn lock(&self) -> Guard<'_> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Durable commits made so far.
    #[cfg(test)]
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` in the next batch and returns once that batch is durably committed
    /// (or `f` failed, or the commit did).
    pub fn write(&self, db: &Database, f: WriteFn<'_>) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.waiting += 1;
        loop {
            while g.running || g.committing {
                g = self.turn.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
            let mut batch = match g.open.take() {
                Some(b) => b,
                None => match db.begin_write() {
                    Ok(txn) => Batch::new(txn),
                    Err(e) => {
                        g.waiting -= 1;
                        self.turn.notify_one();
                        return Err(e.into());
                    }
                },
            };
            g.running = true;
            drop(g);
            let ran = run(&mut batch, f);
            g = self.lock();
            g.running = false;
            g.waiting -= 1;
            match ran {
                Ran::Joined => {
                    let end = Arc::clone(&batch.end);
                    let full = batch.members >= MAX_BATCH;
                    g.open = Some(batch);
                    if g.waiting == 0 || full {
                        return self.commit(g);
                    }
                    self.turn.notify_one();
                    while end.get().is_none() {
                        g = self.ended.wait(g).unwrap_or_else(PoisonError::into_inner);
                    }
                    match end.get() {
                        Some(End::Committed) => return Ok(()),
                        Some(End::Failed(why)) => return Err(StoreError::Database(why.clone())),
                        Some(End::Retry) | None => g.waiting += 1,
                    }
                }
                Ran::Refused(e) => {
                    // The refusal may rest on writes of earlier members (a name
                    // taken in this very batch): it is answered only once they are
                    // durable, and decided again if they never become so.
                    let rests_on = (batch.members > 0).then(|| Arc::clone(&batch.end));
                    g.open = Some(batch);
                    self.leave(g);
                    let Some(end) = rests_on else { return Err(e) };
                    g = self.lock();
                    while end.get().is_none() {
                        g = self.ended.wait(g).unwrap_or_else(PoisonError::into_inner);
                    }
                    match end.get() {
                        Some(End::Committed) => return Err(e),
                        Some(End::Failed(why)) => return Err(StoreError::Database(why.clone())),
                        Some(End::Retry) | None => g.waiting += 1,
                    }
                }
                Ran::Spoiled(e) => {
                    self.abandon(g, batch);
                    return Err(e);
                }
                Ran::Panicked(p) => {
                    self.abandon(g, batch);
                    panic::resume_unwind(p);
                }
            }
        }
    }

    /// After a writer left without joining: if it was the last one expected, the
    /// batch is committed for its members (or dropped when it has none).
    fn leave(&self, mut g: Guard<'_>) {
        if g.waiting > 0 {
            self.turn.notify_one();
            return;
        }
        match g.open.as_ref().map(|b| b.members) {
            Some(0) => {
                if let Some(b) = g.open.take() {
                    self.abandon(g, b);
                }
            }
            Some(_) => {
                // The members learn the outcome from the batch; this writer has its own.
                let _ = self.commit(g);
            }
            None => self.turn.notify_one(),
        }
    }

    /// Drops `batch` uncommitted (redb rolls it back) and tells its members to run
    /// their closures again.
    fn abandon(&self, g: Guard<'_>, batch: Batch) {
        let _ = batch.end.set(End::Retry);
        if let Err(e) = batch.txn.abort() {
            tracing::warn!(error = %e, "aborting an abandoned write batch failed");
        }
        self.turn.notify_one();
        self.ended.notify_all();
        drop(g);
    }

    /// Commits the open batch durably, outside the lock, and tells its members.
    fn commit(&self, mut g: Guard<'_>) -> Result<(), StoreError> {
        let Some(batch) = g.open.take() else { return Ok(()) };
        g.committing = true;
        drop(g);
        let Batch { txn, audit: written, end, .. } = batch;
        let result = txn.commit();
        self.commits.fetch_add(1, Ordering::Relaxed);
        if result.is_ok() {
            for rec in &written {
                audit::log_line(rec);
            }
        }
        let mut g = self.lock();
        g.committing = false;
        let _ = end.set(match &result {
            Ok(()) => End::Committed,
            Err(e) => End::Failed(e.to_string()),
        });
        self.turn.notify_one();
        self.ended.notify_all();
        drop(g);
        result.map_err(StoreError::from)
    }
}

impl Batch {
    fn new(txn: WriteTransaction) -> Self {
        Self { txn, members: 0, audit: Vec::new(), end: Arc::new(OnceLock::new()) }
    }
}

/// Runs `f` on the open batch's transaction.
fn run(batch: &mut Batch, f: WriteFn<'_>) -> Ran {
    let (ran, mut written) = {
        let mut tx = match WriteTx::open(&batch.txn) {
            Ok(tx) => tx,
            Err(e) => return Ran::Spoiled(e),
        };
        let ran = match panic::catch_unwind(AssertUnwindSafe(|| f(&mut tx))) {
            Ok(Ok(())) => Ran::Joined,
            Ok(Err(e)) if !tx.dirty => Ran::Refused(e),
            Ok(Err(e)) => Ran::Spoiled(e),
            Err(p) => Ran::Panicked(p),
        };
        (ran, std::mem::take(&mut tx.audit_written))
    };
    if matches!(ran, Ran::Joined) {
        batch.members += 1;
        batch.audit.append(&mut written);
    }
    ran
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
