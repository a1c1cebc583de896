//! `gatehouse migrate-store`: copies every table from one store to another, empty
//! one (a data directory's file to PostgreSQL, or back), then proves the copy.
//!
//! The source is read from one snapshot and the target written in one
//! transaction, so a failure leaves the target empty. Proof: the target is read
//! back and, table by table, its row count and a SHA-256 over its rows (in key
//! order, in the engine-neutral form both engines share) must equal what was read
//! from the source. A target holding anything is refused.

use super::{Error, StoreLocation};
use crate::crypto::secrets::{hex, Sha256};
use crate::store::{self, StoreError, TABLES};

/// One table as copied and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// Table name.
    pub table: &'static str,
    /// Rows in it.
    pub rows: u64,
    /// SHA-256 over its rows (hex).
    pub digest: String,
}

/// Rows and a running digest per table; keys must come in ascending order.
struct Tally {
    tables: Vec<(&'static str, u64, Sha256, Option<Vec<u8>>)>,
}

impl Tally {
    fn new() -> Self {
        Self { tables: TABLES.iter().map(|t| (*t, 0, Sha256::default(), None)).collect() }
    }

    fn add(&mut self, table: &'static str, k: &[u8], v: &[u8]) -> Result<(), StoreError> {
        let Some((_, rows, digest, last)) = self.tables.iter_mut().find(|(t, ..)| *t == table) else {
            return Err(StoreError::Database(format!("unknown table {table}")));
        };
        if last.as_deref().is_some_and(|l| l >= k) {
            return Err(StoreError::Database(format!("rows of {table} out of key order")));
        }
        *last = Some(k.to_vec());
        *rows += 1;
        for part in [k, v] {
            let len = u32::try_from(part.len()).map_err(|_| StoreError::Database("row too large".into()))?;
            digest.update(&len.to_be_bytes());
            digest.update(part);
        }
        Ok(())
    }

    fn finish(self) -> Vec<TableCheck> {
        self.tables
            .into_iter()
            .map(|(table, rows, digest, _)| TableCheck { table, rows, digest: hex(&digest.finish()) })
            .collect()
    }
}

/// Copies `from` into the empty store `to` and verifies the copy.
pub fn migrate_store(from: &StoreLocation, to: &StoreLocation) -> Result<Vec<TableCheck>, Error> {
    if let StoreLocation::Dir(dir) = from {
        if !dir.join(store::DB_FILE).exists() {
            return Err(Error::NotFound("no database in the source directory"));
        }
    }
    let source = store::open(from)?;
    let target = store::open(to)?;
    let mut sent = Tally::new();
    target.import(&mut |sink| {
        sent = Tally::new(); // a retried transaction reads the source again
        source.export(&mut |t, k, v| {
            sent.add(t, k, v)?;
            sink(t, k, v)
        })
    })?;
    let mut back = Tally::new();
    target.export(&mut |t, k, v| back.add(t, k, v))?;
    let (sent, back) = (sent.finish(), back.finish());
    for (s, b) in sent.iter().zip(&back) {
        if s != b {
            return Err(Error::Internal(format!(
                "table {}: copied {} rows (sha256 {}), but the target holds {} (sha256 {})",
                s.table, s.rows, s.digest, b.rows, b.digest
            )));
        }
    }
    Ok(back)
}
