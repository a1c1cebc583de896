//! The bridge between the synchronous storage interface and the asynchronous
//! PostgreSQL client: a small runtime of the engine's own drives the connections,
//! and a bounded pool hands them out.
//!
//! A caller (the domain, on the server's blocking pool, or an operator command)
//! sends one future at a time to that runtime and waits for its answer with a
//! deadline. If it happens to wait on a worker of a multi-threaded runtime (a token
//! check answered inline), the wait is announced with `block_in_place`, so the
//! worker's other tasks move elsewhere instead of stalling. Nothing here blocks the
//! engine's own runtime.

use super::tls::MakeRustls;
use crate::store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Statement};

/// One pooled connection and the statements prepared on it.
pub(super) struct Conn {
    pub client: Client,
    stmts: HashMap<String, Statement>,
    /// Held while checked out: the pool's bound counts connections in use.
    permit: Option<OwnedSemaphorePermit>,
}

impl Conn {
    /// `sql` prepared on this connection (once; then from the cache).
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.stmts.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// Connections, at most `size` of them, made on demand and kept while healthy.
struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustls,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Pool {
    async fn get(self: Arc<Self>) -> Result<Conn, StoreError> {
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("every database connection stayed busy".into()))?
            .map_err(|_| StoreError::Unavailable("the connection pool is closed".into()))?;
        loop {
            let next = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            match next {
                Some(c) if c.client.is_closed() => continue,
                Some(c) => return Ok(Conn { permit: Some(permit), ..c }),
                None => break,
            }
        }
        let (client, connection) =
            self.config.connect(self.tls.clone()).await.map_err(|e| unavailable(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "database connection ended");
            }
        });
        Ok(Conn { client, stmts: HashMap::new(), permit: Some(permit) })
    }

    /// Keeps an open connection for the next caller and frees its slot.
    fn put_back(&self, mut conn: Conn) {
        conn.permit = None;
        if !conn.client.is_closed() {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        }
    }
}

/// What a connection failure says, for the operator.
pub(super) fn unavailable(e: &tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(super::describe_error(e))
}

/// The engine's runtime, its pool, and whether the database last answered.
pub(super) struct Link {
    rt: Option<Runtime>,
    handle: Handle,
    pool: Arc<Pool>,
    /// How long one statement may take before the caller gives up on it.
    pub timeout: Duration,
    up: AtomicBool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Link {
    /// Starts the runtime; connections are made when first needed.
    pub fn new(
        config: tokio_postgres::Config,
        tls: MakeRustls,
        size: usize,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gatehouse-db")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("cannot start the database runtime: {e}")))?;
        let handle = rt.handle().clone();
        let pool = Arc::new(Pool {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size.max(1))),
            wait: timeout,
        });
        Ok(Self { rt: Some(rt), handle, pool, timeout, up: AtomicBool::new(true) })
    }

    /// The engine's runtime (for its own background tasks).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `fut` on the engine's runtime and waits for it, at most `timeout` (a
    /// future still running then is left to finish or fail on its own).
    pub fn call<T: Send + 'static>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        blocking(|| rx.recv_timeout(timeout)).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => {
                StoreError::Unavailable(format!("no answer from the database within {} s", timeout.as_secs()))
            }
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                StoreError::Unavailable("the database runtime stopped".into())
            }
        })
    }

    /// A connection from the pool (waiting at most `timeout` for one).
    pub fn checkout(&self) -> Result<Conn, StoreError> {
        let pool = Arc::clone(&self.pool);
        let r = self.call(self.timeout.saturating_mul(2), pool.get()).and_then(|r| r);
        self.note(&r);
        r
    }

    /// Returns a connection whose last statement finished cleanly.
    pub fn checkin(&self, conn: Conn) {
        self.pool.put_back(conn);
    }

    /// Runs `fut` on a connection in the background and then returns it to the
    /// pool (a read transaction's end, a rollback): nobody waits for it.
    pub fn finish_later<F>(&self, conn: Conn, end: impl FnOnce(Conn) -> F + Send + 'static)
    where
        F: Future<Output = Option<Conn>> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        self.handle.spawn(async move {
            if let Some(c) = end(conn).await {
                pool.put_back(c);
            }
        });
    }

    /// Records whether the database answered, logging each change once: the line
    /// an operator looks for when requests start failing with 503.
    pub fn note<T>(&self, r: &Result<T, StoreError>) {
        match r {
            Err(StoreError::Unavailable(why)) => {
                if self.up.swap(false, Ordering::Relaxed) {
                    tracing::error!(reason = %why, "database unavailable: requests that need it fail with 503 until it answers again");
                }
            }
            _ => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!("database reachable again");
                }
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Dropping a runtime may not block inside another runtime's task.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs a blocking wait, telling a multi-threaded tokio runtime first when called
/// on one of its workers (elsewhere, including its blocking pool, it just runs).
pub(super) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Sleeps without stalling a runtime worker (see [`blocking`]).
pub(super) fn pause(d: Duration) {
    blocking(|| std::thread::sleep(d));
}
