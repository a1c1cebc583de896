//! Moving in from the tutorial's app (SPEC §11): its `users` table becomes
//! gatehouse accounts, with their bcrypt hashes (verified at the next sign-in, then
//! replaced by scrypt) and their API keys (stored as digests only).
//!
//! Two halves, because the server may not be able to read the operator's file (a
//! sandboxed service): [`read_tutorial`] runs in the operator's process and turns
//! the SQLite file into plain [`TutorialRow`]s; [`Auth::import_tutorial`] (in
//! `plan.rs`) checks every row, skips what is already here, and writes the rest in
//! one transaction, in the server or offline. `rows.rs` says what each column means.
//!
//! [`Auth::import_tutorial`]: crate::domain::Auth::import_tutorial
//!
//! Nothing is half-imported: an invalid row refuses the whole import unless the
//! operator asked to skip such rows; a dry run does every check and writes nothing;
//! a second run finds every account already here and changes nothing.

mod plan;
mod rows;

use crate::sqlite::{self, Value};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The table the tutorial keeps its accounts in.
pub const TABLE: &str = "users";

/// One stored value as it travels from the operator's process to the server: what
/// the tutorial's columns can hold (no column of its holds a real number or a blob;
/// such a value is named, not carried).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cell {
    /// NULL.
    Null,
    /// An integer (booleans are 0 and 1).
    Int(i64),
    /// Text.
    Text(String),
    /// Anything else, by kind ("a real number", "a blob").
    Other(String),
}

impl From<Value> for Cell {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(i),
            Value::Text(s) => Cell::Text(s),
            Value::Real(_) => Cell::Other("a real number".into()),
            Value::Blob(_) => Cell::Other("a blob (or text that is not UTF-8)".into()),
        }
    }
}

macro_rules! tutorial_row {
    ($($field:ident),* $(,)?) => {
        /// The columns of the tutorial's `users` table that gatehouse maps, in the
        /// order `models/user.py` declares them.
        pub const COLUMNS: &[&str] = &[$(stringify!($field)),*];

        /// One row of the tutorial's `users` table, unchecked.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub struct TutorialRow {
            $(pub $field: Cell,)*
        }

        impl TutorialRow {
            /// The row from its values, asked for by column name.
            fn from_named(mut get: impl FnMut(&str) -> Cell) -> Self {
                Self { $($field: get(stringify!($field)),)* }
            }
        }
    };
}

tutorial_row!(
    id,
    username,
    email,
    hashed_password,
    full_name,
    role,
    is_active,
    is_verified,
    created_at,
    updated_at,
    last_login,
    failed_login_attempts,
    locked_until,
    api_key,
);

/// Why the tutorial's database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file itself: not SQLite, truncated, damaged, in use, no `users` table.
    #[error(transparent)]
    File(#[from] sqlite::Error),
    /// A `users` table, but not the tutorial's.
    #[error("{path}: table users is not the tutorial's (models/user.py): it has no column {missing}")]
    Schema {
        /// File.
        path: PathBuf,
        /// The columns it lacks, comma-separated.
        missing: String,
    },
}

/// Reads every row of the tutorial's `users` table at `path` (read-only; the file
/// is never modified). Columns the tutorial does not have are ignored.
pub fn read_tutorial(path: &Path) -> Result<Vec<TutorialRow>, ReadError> {
    let table = sqlite::read_table(path, TABLE)?;
    let index = |name: &str| table.columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let missing: Vec<&str> = COLUMNS.iter().copied().filter(|c| index(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(ReadError::Schema { path: path.to_path_buf(), missing: missing.join(", ") });
    }
    let rows = table.rows.into_iter().map(|row| {
        let mut values = row.values;
        TutorialRow::from_named(|name| {
            let cell = index(name).and_then(|i| values.get_mut(i)).map(|v| std::mem::replace(v, Value::Null));
            cell.map_or(Cell::Null, Cell::from)
        })
    });
    Ok(rows.collect())
}

/// How to import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Import the valid rows even if some are invalid (they are listed as skipped).
    pub skip_invalid: bool,
}

/// Why a row was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// The same username and email are here already (an earlier import, most likely).
    AlreadyPresent,
    /// Its username, email or API key belongs to another account, here or earlier
    /// in the file (compared case-insensitively, as gatehouse does).
    Duplicate,
    /// A value gatehouse cannot take (the reason says which).
    Invalid,
}

impl SkipKind {
    /// For reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipKind::AlreadyPresent => "already present",
            SkipKind::Duplicate => "duplicate",
            SkipKind::Invalid => "invalid",
        }
    }
}

/// A row not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// Its id in the tutorial's table.
    pub tutorial_id: i64,
    /// Its username as stored there (may be anything, for an invalid row).
    pub username: String,
    /// Which kind of skip.
    pub kind: SkipKind,
    /// Why, for people.
    pub reason: String,
}

/// A row imported (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// Its id in the tutorial's table.
    pub tutorial_id: i64,
    /// Its id here: the same when it was free, else a new one.
    pub id: u64,
    /// Username.
    pub username: String,
    /// Role.
    pub role: crate::store::records::Role,
    /// Active (a deactivated account stays deactivated).
    pub is_active: bool,
    /// Locked by failed sign-ins there, and still locked.
    pub locked: bool,
    /// Whether its API key came along.
    pub api_key: bool,
}

/// What an import did, or (dry run, or refused) would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows read.
    pub rows: usize,
    /// Imported (or importable), in the tutorial's id order.
    pub imported: Vec<ImportedUser>,
    /// Not imported, in the tutorial's id order.
    pub skipped: Vec<SkippedRow>,
    /// Nothing was written because of a dry run.
    pub dry_run: bool,
    /// Nothing was written because some rows are invalid (and skipping them was
    /// not asked for).
    pub refused: bool,
}

impl ImportReport {
    /// Rows skipped of `kind`.
    pub fn count(&self, kind: SkipKind) -> usize {
        self.skipped.iter().filter(|s| s.kind == kind).count()
    }
}

#[cfg(test)]
mod tests;
