//! Forward-only schema migrations, run at start-up.
//!
//! The `schema_version` in `meta` says which migrations a file has had. Opening a
//! file with an older version first writes a verified backup copy beside it
//! (`gatehouse.redb.schema-N.bak`), then runs each migration from that version up,
//! all in one write transaction with the new version, so a crash leaves either the
//! old file or the fully migrated one. A newer version than this build knows is
//! refused by `Store::open` before anything is touched.

use super::tx::WriteTx;
use super::{decode_u32, Embedded, StoreError, DB_FILE, META, META_SCHEMA};
use redb::ReadableDatabase;
use std::path::Path;

/// One step: from schema `from` to `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version it starts from.
    pub from: u32,
    /// What it changes, for the log.
    pub describe: &'static str,
    /// The change, inside the migration's write transaction.
    pub run: fn(&mut WriteTx<'_>) -> Result<(), StoreError>,
}

/// This release's migrations. Schema 1 is the first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    from: 1,
    describe: "OpenID Provider: clients, codes and consents; session rows gain their client, browser secret and auth time",
    run: to_2,
}];

/// Schema 2's tables are created at open, and schema 1's session rows are read as
/// version-1 records and converted on read, so there is nothing to rewrite: the
/// new version number keeps releases that cannot read the new records out.
fn to_2(_tx: &mut WriteTx<'_>) -> Result<(), StoreError> {
    Ok(())
}

fn version(store: &Embedded) -> Result<u32, StoreError> {
    let txn = store.db.begin_read()?;
    let meta = txn.open_table(META)?;
    let v = meta.get(META_SCHEMA)?.and_then(|v| decode_u32(v.value()));
    v.ok_or_else(|| StoreError::Corrupt {
        path: store.path.clone(),
        reason: "schema version is unreadable".into(),
    })
}

/// Brings `store` to `target`, backing the file up first.
pub(super) fn run(
    store: &Embedded,
    data_dir: &Path,
    target: u32,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let found = version(store)?;
    if found >= target {
        return Ok(());
    }
    let backup = data_dir.join(format!("{DB_FILE}.schema-{found}.bak"));
    if !backup.exists() {
        super::backup::backup_to(store, &backup)?;
    }
    tracing::info!(from = found, to = target, backup = %backup.display(), "migrating the database");
    store.write_tx(|tx| {
        for v in found..target {
            let m = migrations.iter().find(|m| m.from == v).ok_or_else(|| StoreError::Corrupt {
                path: store.path.clone(),
                reason: format!("no migration from schema {v}"),
            })?;
            tracing::info!(from = v, "migration: {}", m.describe);
            (m.run)(tx)?;
        }
        tx.set_schema_version(target)?;
        Ok::<_, StoreError>(())
    })
}
