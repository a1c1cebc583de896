//! PostgreSQL for the integration tests. `GATEHOUSE_TEST_PG` names a server (a
//! throwaway one: `eval "$(tests/pg/cluster.sh start)"`); each server under test
//! gets a database of its own in it. `GATEHOUSE_TEST_BACKEND=postgres` runs every
//! test against PostgreSQL instead of the data directory's file (`.ci/run` runs the
//! suite both ways). Tests that need PostgreSQL are skipped with a message when none
//! is configured — unless `GATEHOUSE_TEST_PG_REQUIRED` is set: then they fail.

use std::sync::atomic::{AtomicU64, Ordering};

/// Whether the whole suite runs against PostgreSQL.
pub fn backend_is_postgres() -> bool {
    std::env::var("GATEHOUSE_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// Whether a test of the embedded engine's file should be skipped: the suite runs
/// on PostgreSQL, where there is no such file (the redb run covers it).
pub fn file_engine_only(why: &str) -> bool {
    if backend_is_postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    backend_is_postgres()
}

/// Every byte the store holds: the data directory's database file, or on
/// PostgreSQL every key and value of every table of the data directory's database.
pub fn stored_bytes(data_dir: &std::path::Path) -> Vec<u8> {
    if !backend_is_postgres() {
        return std::fs::read(data_dir.join("gatehouse.redb")).unwrap();
    }
    let url = crate::harness::database_args(data_dir).pop().unwrap();
    on_runtime(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let tables =
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'gatehouse'";
        let mut out = Vec::new();
        for t in client.query(tables, &[]).await.unwrap() {
            let name: String = t.get(0);
            for row in client.query(&format!("SELECT k, v FROM gatehouse.{name}"), &[]).await.unwrap() {
                out.extend_from_slice(row.get::<_, &[u8]>(0));
                out.extend_from_slice(row.get::<_, &[u8]>(1));
            }
        }
        out
    })
}

/// The server's admin URL, or `None` (after saying so) when there is none.
pub fn server() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("GATEHOUSE_TEST_PG_REQUIRED").is_none() && !backend_is_postgres(),
                "PostgreSQL is required here but GATEHOUSE_TEST_PG is not set"
            );
            eprintln!(
                "skipped: no PostgreSQL for this test (set GATEHOUSE_TEST_PG; see tests/pg/cluster.sh)"
            );
            None
        }
    }
}

/// Runs `f` on a runtime of its own (callers may be inside a test's runtime).
fn on_runtime<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    })
    .join()
    .unwrap()
}

/// `base` with its database name replaced by `name`.
pub fn with_database(base: &str, name: &str) -> String {
    let (head, query) = base.split_once('?').unwrap_or((base, ""));
    let root = head.rsplit_once('/').map_or(head, |(r, _)| r);
    if query.is_empty() {
        format!("{root}/{name}")
    } else {
        format!("{root}/{name}?{query}")
    }
}

/// Runs SQL on the server's admin database.
pub fn admin_sql(base: &str, sql: &str) {
    let (base, sql) = (base.to_owned(), sql.to_owned());
    on_runtime(async move {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&sql).await.unwrap();
    });
}

/// A new, empty database: its URL.
pub fn fresh_database() -> Option<String> {
    let base = server()?;
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!("gh_it_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    admin_sql(&base, &format!("CREATE DATABASE {name}"));
    Some(with_database(&base, &name))
}
