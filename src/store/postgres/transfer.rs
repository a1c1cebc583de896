//! Rows in and out: export every table from one snapshot, import into an empty
//! database in one transaction (batches of rows per statement), and a backup
//! written as an embedded database file, so `gatehouse backup` works the same on
//! both engines and its file restores anywhere.

use super::kv::Mode;
use super::sql::Op;
use super::{Postgres, AUDIT, META};
use crate::store::embedded::{Embedded, DB_FILE};
use crate::store::{Backend, RowSink, StoreError, TableCounts, TABLES};
use std::collections::HashMap;
use std::path::Path;

/// Rows per INSERT.
const BATCH: usize = 1000;

/// Rows of one table waiting to be inserted.
type Batch = Option<(&'static str, Vec<Vec<u8>>, Vec<Vec<u8>>)>;

/// Every row of every table from one `REPEATABLE READ` snapshot.
pub(super) fn export(store: &Postgres, sink: RowSink<'_>) -> Result<(), StoreError> {
    let tx = store.tx(Mode::Read);
    let r = TABLES.iter().try_for_each(|t| tx.scan(t, &mut |k, v| sink(t, k, v)));
    let failed = tx.failure();
    tx.abort();
    match (r, failed) {
        (Ok(()), Some(f)) => Err(f.to_error()),
        (r, _) => r,
    }
}

/// Loads rows into this database, which must hold nothing but its schema version.
pub(super) fn import(
    store: &Postgres,
    rows: &mut dyn FnMut(RowSink<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let counts = store.counts()?;
    if !counts.iter().all(|(t, n)| *n == 0 || (*t == META && *n == 1)) {
        return Err(StoreError::NotEmpty(store.describe.clone()));
    }
    store.write_tx(&mut |tx| {
        let mut pending: Batch = None;
        let mut max_seq = 0u64;
        let flush = |p: &mut Batch| match p.take() {
            Some((t, ks, vs)) if !ks.is_empty() => tx.exec(Op::InsertMany(t, ks, vs)).map(|_| ()),
            _ => Ok(()),
        };
        rows(&mut |t, k, v| {
            if t == META {
                // The target already has its schema version: replace, not insert.
                return tx.put(META, k.to_vec(), v.to_vec());
            }
            if t == AUDIT {
                if let Some(seq) = k.get(8..16).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                    max_seq = max_seq.max(u64::from_be_bytes(seq));
                }
            }
            if pending.as_ref().is_some_and(|(pt, ks, _)| *pt != t || ks.len() >= BATCH) {
                flush(&mut pending)?;
            }
            let (_, ks, vs) = pending.get_or_insert_with(|| (t, Vec::new(), Vec::new()));
            ks.push(k.to_vec());
            vs.push(v.to_vec());
            Ok(())
        })?;
        flush(&mut pending)?;
        // New audit entries must never reuse a copied key.
        let next = i64::try_from(max_seq.saturating_add(1)).unwrap_or(i64::MAX);
        tx.exec(Op::Batch(format!("SELECT setval('gatehouse.audit_seq', {next}, false)")))?;
        Ok(())
    })
}

/// Writes one snapshot as a new embedded database file at `dest` (which must not
/// exist) and checks the copy's row counts against what was exported.
pub(super) fn backup_to(store: &Postgres, dest: &Path) -> Result<TableCounts, StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    if dest.exists() {
        return Err(io(dest)(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
    }
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = parent.join(format!(".gatehouse-backup-{}-{}", std::process::id(), super::instance_id()));
    let result = (|| {
        let copy = Embedded::open(&staging)?;
        let mut exported: HashMap<&'static str, u64> = HashMap::new();
        copy.import(&mut |sink| {
            store.export(&mut |t, k, v| {
                *exported.entry(t).or_default() += 1;
                sink(t, k, v)
            })
        })?;
        let counts = copy.counts()?;
        drop(copy);
        if counts.iter().any(|(t, n)| exported.get(t).copied().unwrap_or(0) != *n) {
            return Err(StoreError::Corrupt {
                path: dest.to_path_buf(),
                reason: "the copy's tables differ from the snapshot".into(),
            });
        }
        // A hard link never replaces an existing file.
        std::fs::hard_link(staging.join(DB_FILE), dest).map_err(io(dest))?;
        Ok(counts)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}
