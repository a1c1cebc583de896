//! Creating and migrating the schema, at every start, under an advisory lock so
//! instances starting together do it once. The version is `meta.schema_version`
//! (the same number and bytes as in the embedded file): a newer one is refused
//! before anything is changed; an older one is migrated forward in the same
//! transaction that bumps it. PostgreSQL support began at schema 2, so there is
//! nothing to migrate yet. (Back a database up with `pg_dump` or
//! `gatehouse backup` before upgrading; the embedded engine's automatic copy has
//! no equivalent here.)

use super::kv::Mode;
use super::sql::Op;
use super::{Postgres, META, PHANTOMS};
use crate::store::{StoreError, TABLES};
use std::path::PathBuf;

/// pg_advisory_xact_lock key: "gatehous" in ASCII.
const LOCK: i64 = 0x6761_7465_686f_7573;

/// One forward step: from schema `from` to `from + 1`, as statements.
struct Migration {
    from: u32,
    describe: &'static str,
    sql: &'static str,
}

/// PostgreSQL's migrations (tables named in `TABLES` are created by `init` itself).
const MIGRATIONS: &[Migration] = &[];

fn ddl() -> String {
    let mut sql = String::from("CREATE SEQUENCE IF NOT EXISTS gatehouse.audit_seq;");
    for t in TABLES.iter().filter(|t| **t != META) {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS gatehouse.{t} (k bytea PRIMARY KEY, v bytea NOT NULL);"
        ));
    }
    // Short-lived shared state: not replicated, emptied after a crash, like memory.
    sql.push_str(&format!(
        "CREATE UNLOGGED TABLE IF NOT EXISTS gatehouse.{PHANTOMS} (k bytea PRIMARY KEY, v bytea NOT NULL);"
    ));
    sql
}

fn corrupt(store: &Postgres, reason: String) -> StoreError {
    StoreError::Corrupt { path: PathBuf::from(&store.describe), reason }
}

/// Brings the schema to `target` (see the module doc).
pub(super) fn init(store: &Postgres, target: u32) -> Result<(), StoreError> {
    let tx = store.tx(Mode::Write);
    let r = (|| {
        tx.exec(Op::Batch(format!(
            "SELECT pg_advisory_xact_lock({LOCK}); CREATE SCHEMA IF NOT EXISTS gatehouse; \
             CREATE TABLE IF NOT EXISTS gatehouse.{META} (k bytea PRIMARY KEY, v bytea NOT NULL);"
        )))?;
        let found = match tx.get(META, b"schema_version")? {
            Some(v) => Some(u32::from_le_bytes(
                <[u8; 4]>::try_from(v.as_slice())
                    .map_err(|_| corrupt(store, "schema version is unreadable".into()))?,
            )),
            None => None,
        };
        match found {
            Some(v) if v > target => {
                return Err(StoreError::NewerSchema {
                    path: PathBuf::from(&store.describe),
                    found: v,
                    supported: target,
                })
            }
            Some(v) if v < target => migrate(store, &tx, v, target)?,
            Some(_) => {}
            None => tx.put(META, b"schema_version".to_vec(), target.to_le_bytes().to_vec())?,
        }
        tx.exec(Op::Batch(ddl()))?;
        if let Ok(super::sql::Out::Text(v)) =
            tx.exec(Op::Text("SELECT current_setting('synchronous_commit')"))
        {
            if v == "off" {
                tracing::warn!("the database has synchronous_commit = off: a crash of PostgreSQL can lose writes gatehouse has acknowledged; set it to on for gatehouse's role");
            }
        }
        Ok(())
    })();
    match (r, tx.failure()) {
        (Ok(()), None) => tx.commit().map(|_| ()).map_err(|f| f.to_error()),
        (r, failed) => {
            tx.abort();
            Err(match (r, failed) {
                (Err(e @ (StoreError::NewerSchema { .. } | StoreError::Corrupt { .. })), _) => e,
                (_, Some(f)) => f.to_error(),
                (Err(e), None) => e,
                (Ok(()), None) => StoreError::Database("schema set-up ended without a result".into()),
            })
        }
    }
}

fn migrate(store: &Postgres, tx: &super::kv::Tx<'_>, found: u32, target: u32) -> Result<(), StoreError> {
    for v in found..target {
        let m = MIGRATIONS
            .iter()
            .find(|m| m.from == v)
            .ok_or_else(|| corrupt(store, format!("no migration from schema {v}")))?;
        tracing::info!(from = v, "migration: {}", m.describe);
        tx.exec(Op::Batch(m.sql.to_owned()))?;
    }
    tx.put(META, b"schema_version".to_vec(), target.to_le_bytes().to_vec())
}
