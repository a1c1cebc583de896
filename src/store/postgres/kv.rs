//! One transaction on one pooled connection, as key-value operations on the
//! engine's tables (`get`, `range`, `put`, `delete`...), each a round trip.
//!
//! The connection is taken from the pool at the first statement, and `BEGIN`
//! travels with that statement. The first error is remembered: the transaction is
//! then dead (PostgreSQL refuses everything after an error), later statements fail
//! at once, and a commit is never sent — so an error the caller swallowed can
//! never turn into a silent rollback reported as success. Whether the error was a
//! serialization failure decides whether [`Postgres::write`](super::Postgres) runs
//! the closure again.

use super::cache::{self, Cache, Touched};
use super::link::{Conn, Link};
use super::sql::{Op, Out, Rows, Span, T};
use crate::store::records::AuditRecord;
use crate::store::StoreError;
use std::cell::RefCell;

/// How statements are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// One snapshot, read-only.
    Read,
    /// SERIALIZABLE, committed durably.
    Write,
    /// Each statement on its own, point lookups of credential checks cached.
    Loose,
}

impl Mode {
    fn begin(self) -> Option<&'static str> {
        match self {
            Mode::Read => Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            Mode::Write => Some("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            Mode::Loose => None,
        }
    }
}

/// Why a transaction died.
#[derive(Debug, Clone)]
pub(super) enum Failed {
    /// SQLSTATE 40001/40P01: run it again.
    Conflict(String),
    /// The database is unreachable or did not answer.
    Unavailable(String),
    /// Anything else.
    Other(String),
}

impl Failed {
    pub fn to_error(&self) -> StoreError {
        match self {
            Failed::Conflict(m) => StoreError::Busy(m.clone()),
            Failed::Unavailable(m) => StoreError::Unavailable(m.clone()),
            Failed::Other(m) => StoreError::Database(m.clone()),
        }
    }

    fn of(e: &tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let text = super::describe_error(e);
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
                Failed::Conflict(text)
            }
            Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") || c.code() == "53300" => {
                Failed::Unavailable(text)
            }
            Some(_) => Failed::Other(text),
            None => Failed::Unavailable(text),
        }
    }
}

struct State {
    conn: Option<Conn>,
    begun: bool,
    failed: Option<Failed>,
    touched: Touched,
    audit: Vec<AuditRecord>,
}

/// An open transaction (see the module doc).
pub(super) struct Tx<'l> {
    link: &'l Link,
    cache: &'l Cache,
    mode: Mode,
    state: RefCell<State>,
}

impl<'l> Tx<'l> {
    /// A transaction that takes its connection at the first statement.
    pub fn new(link: &'l Link, cache: &'l Cache, mode: Mode) -> Self {
        let state =
            State { conn: None, begun: false, failed: None, touched: Touched::default(), audit: Vec::new() };
        Self { link, cache, mode, state: RefCell::new(state) }
    }

    /// Runs one statement.
    pub fn exec(&self, op: Op) -> Result<Out, StoreError> {
        let (conn, begin) = {
            let mut st = self.state.borrow_mut();
            if let Some(f) = &st.failed {
                return Err(f.to_error());
            }
            let conn = match st.conn.take() {
                Some(c) => c,
                None => match self.link.checkout() {
                    Ok(c) => c,
                    Err(e) => {
                        st.failed = Some(Failed::Unavailable(e.to_string()));
                        return Err(e);
                    }
                },
            };
            (conn, if st.begun { None } else { self.mode.begin() })
        };
        let sent = self.link.call(self.link.timeout, async move {
            let mut conn = conn;
            let out = op.run(&mut conn, begin).await;
            (conn, out)
        });
        let mut st = self.state.borrow_mut();
        let result = match sent {
            Ok((conn, Ok(out))) => {
                st.conn = Some(conn);
                st.begun |= begin.is_some();
                Ok(out)
            }
            Ok((conn, Err(e))) => {
                let failed = Failed::of(&e);
                // Keep a live connection for the rollback; a closed one is dropped.
                st.begun |= begin.is_some();
                st.conn = (!conn.client.is_closed()).then_some(conn);
                st.failed = Some(failed.clone());
                Err(failed.to_error())
            }
            Err(e) => {
                // Timed out: the connection stays with the abandoned statement.
                st.failed = Some(Failed::Unavailable(e.to_string()));
                Err(e)
            }
        };
        self.link.note(&result);
        result
    }

    fn rows(&self, op: Op) -> Result<Rows, StoreError> {
        match self.exec(op)? {
            Out::Rows(r) => Ok(r),
            other => Err(StoreError::Database(format!("unexpected answer {other:?}"))),
        }
    }

    /// The value under `k`. Credential lookups outside a transaction go through
    /// the cache.
    pub fn get(&self, t: T, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cached = if self.mode == Mode::Loose { cache::slot(t) } else { None };
        let Some(slot) = cached else {
            return Ok(self.rows(Op::Get(t, k.to_vec()))?.pop().map(|(_, v)| v));
        };
        if let Some(hit) = self.cache.lookup(slot, k) {
            return Ok(hit);
        }
        let ticket = self.cache.ticket(slot, k);
        let v = self.rows(Op::Get(t, k.to_vec()))?.pop().map(|(_, v)| v);
        if let Some(ticket) = ticket {
            self.cache.fill(slot, k, ticket, &v);
        }
        Ok(v)
    }

    /// Rows in `span`.
    pub fn range(&self, t: T, span: Span) -> Result<Rows, StoreError> {
        self.rows(Op::Range(t, span))
    }

    /// Rows in `t`.
    pub fn count(&self, t: T) -> Result<u64, StoreError> {
        match self.exec(Op::Count(t))? {
            Out::Count(n) => Ok(n),
            other => Err(StoreError::Database(format!("unexpected answer {other:?}"))),
        }
    }

    /// Inserts or replaces.
    pub fn put(&self, t: T, k: Vec<u8>, v: Vec<u8>) -> Result<(), StoreError> {
        self.state.borrow_mut().touched.record(t, &k);
        self.exec(Op::Put(t, k, v)).map(|_| ())
    }

    /// Deletes; whether the key was there.
    pub fn delete(&self, t: T, k: Vec<u8>) -> Result<bool, StoreError> {
        self.state.borrow_mut().touched.record(t, &k);
        match self.exec(Op::Delete(t, k))? {
            Out::Affected(n) => Ok(n > 0),
            _ => Ok(false),
        }
    }

    /// Deletes every key in `keys` (one statement).
    pub fn delete_many(&self, t: T, keys: Vec<Vec<u8>>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        for k in &keys {
            self.state.borrow_mut().touched.record(t, k);
        }
        self.exec(Op::DeleteMany(t, keys)).map(|_| ())
    }

    /// Appends an audit entry with its index rows (see `sql.rs`), logged once committed.
    pub fn audit(&self, op: Op, rec: &AuditRecord) -> Result<(), StoreError> {
        self.exec(op)?;
        self.state.borrow_mut().audit.push(rec.clone());
        Ok(())
    }

    /// Why the transaction died, if it did.
    pub fn failure(&self) -> Option<Failed> {
        self.state.borrow().failed.clone()
    }

    /// Commits (sending the cache invalidations in the same round trip), then
    /// evicts locally and waits for the invalidations to come back. Returns the
    /// audit entries written.
    pub fn commit(self) -> Result<Vec<AuditRecord>, Failed> {
        let Tx { link, cache, mode, state } = self;
        let st = state.into_inner();
        if let Some(f) = st.failed {
            end(link, mode, st.conn, st.begun);
            return Err(f);
        }
        let Some(conn) = st.conn.filter(|_| st.begun) else {
            return Ok(st.audit); // nothing was sent
        };
        let (payloads, seqs) = cache.payloads(&st.touched);
        let sent = link.call(link.timeout, async move {
            let mut conn = conn;
            let out = commit_on(&mut conn, payloads).await;
            (conn, out)
        });
        let outcome = match sent {
            Ok((conn, Ok(()))) => {
                link.checkin(conn);
                Ok(())
            }
            Ok((conn, Err(e))) => {
                end(link, mode, Some(conn), true);
                Err(Failed::of(&e))
            }
            Err(e) => Err(Failed::Unavailable(e.to_string())),
        };
        link.note(&outcome.as_ref().map_err(Failed::to_error));
        match outcome {
            Ok(()) => {
                cache.committed(&st.touched, &seqs);
                Ok(st.audit)
            }
            Err(f) => {
                cache.forget(&seqs);
                Err(f)
            }
        }
    }

    /// Ends without committing: the rollback runs in the background and the
    /// connection goes back to the pool after it.
    pub fn abort(self) {
        let Tx { link, mode, state, .. } = self;
        let st = state.into_inner();
        end(link, mode, st.conn, st.begun);
    }
}

/// Gives a connection back: after a background ROLLBACK when a transaction is open.
fn end(link: &Link, mode: Mode, conn: Option<Conn>, begun: bool) {
    match conn {
        Some(c) if begun && mode != Mode::Loose => {
            link.finish_later(c, |c| async move { c.client.batch_execute("ROLLBACK").await.ok().map(|()| c) })
        }
        Some(c) => link.checkin(c),
        None => {}
    }
}

/// Notifications and COMMIT in one round trip. If the notification statement
/// failed, PostgreSQL turned the COMMIT into a rollback: report its error.
async fn commit_on(conn: &mut Conn, payloads: Vec<String>) -> Result<(), tokio_postgres::Error> {
    if payloads.is_empty() {
        return conn.client.batch_execute("COMMIT").await;
    }
    let notify = Op::Notify(payloads);
    let stmt = conn.prepare(&notify.sql()).await?;
    let params = notify.params();
    let (n, c) = tokio::join!(conn.client.execute(&stmt, &params), conn.client.batch_execute("COMMIT"));
    n?;
    c
}
