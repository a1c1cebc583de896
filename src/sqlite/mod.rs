//! A read-only reader of SQLite 3 database files, enough to read one ordinary table
//! of a database such as the tutorial's `auth.db`: no C library, no dependencies.
//!
//! [`read_table`] reads the whole file into memory (at most [`MAX_FILE_BYTES`]),
//! finds the table in `sqlite_schema`, and returns its column names and every row,
//! in rowid order. The file is opened read-only and never written; nothing is
//! locked, so the application that owns it should be stopped first. What it
//! refuses, each with its own [`Error`]: a file that is not SQLite 3, a truncated
//! one, UTF-16 text, a write in progress (a hot rollback journal) or changes not
//! yet checkpointed from a `-wal` file, `WITHOUT ROWID` tables, and any structure
//! that does not add up (every offset is checked and every walk is bounded by the
//! page count, so damaged input is an error, never a panic or a hang).
//!
//! It knows the file format and nothing else: what the rows mean is the caller's.

mod btree;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};

/// The largest file read (it is read into memory whole).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// One stored value, as SQLite's record format holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text (UTF-8).
    Text(String),
    /// A blob, or text that is not valid UTF-8.
    Blob(Vec<u8>),
}

/// One row: its rowid and a value per column (a rowid-alias column holds the rowid).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The rowid.
    pub rowid: i64,
    /// The values, in column order.
    pub values: Vec<Value>,
}

/// A table's columns and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names, in declaration order.
    pub columns: Vec<String>,
    /// Every row, in rowid order.
    pub rows: Vec<Row>,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read at all.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// It does not start like an SQLite 3 database.
    #[error("{0} is not an SQLite 3 database")]
    NotSqlite(PathBuf),
    /// Shorter than its header says.
    #[error("{path} is truncated: {detail}")]
    Truncated {
        /// File.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// Too big to read into memory.
    #[error("{path} is {bytes} bytes; at most {MAX_FILE_BYTES} are read")]
    TooLarge {
        /// File.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// A valid database this reader does not handle, or not in this state.
    #[error("{0}")]
    Unsupported(String),
    /// No such table.
    #[error("{path} has no table named {table}")]
    NoTable {
        /// File.
        path: PathBuf,
        /// The table asked for.
        table: String,
    },
    /// A structure inside the file does not add up.
    #[error("{path} is damaged: {detail}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What was wrong, where.
        detail: String,
    },
}

/// The file's bytes and the geometry of its pages.
pub(crate) struct Db {
    buf: Vec<u8>,
    page_size: usize,
    usable: usize,
    pages: usize,
    /// The header says WAL mode (a `-wal` file beside it may hold changes).
    wal: bool,
}

/// Reads table `name` (case-insensitive) of the database at `path`.
pub fn read_table(path: &Path, name: &str) -> Result<Table, Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    if bytes > MAX_FILE_BYTES {
        return Err(Error::TooLarge { path: path.to_path_buf(), bytes });
    }
    let db = Db::new(std::fs::read(path).map_err(io)?, path)?;
    refuse_pending_writes(path, db.wal)?;
    db.table(path, name)
}

/// [`read_table`] on a file's bytes already in memory: `path` only names it in
/// errors, and no `-journal` or `-wal` beside it is looked for.
pub fn read_table_in(buf: Vec<u8>, path: &Path, name: &str) -> Result<Table, Error> {
    Db::new(buf, path)?.table(path, name)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |a, &x| (a << 8) | u64::from(x))
}

impl Db {
    /// Checks the header and the file's length against it.
    fn new(buf: Vec<u8>, path: &Path) -> Result<Self, Error> {
        if !buf.starts_with(b"SQLite format 3\0") {
            return Err(Error::NotSqlite(path.to_path_buf()));
        }
        let truncated = |detail: String| Error::Truncated { path: path.to_path_buf(), detail };
        let h = buf.get(..100).ok_or_else(|| truncated("the 100-byte header is incomplete".into()))?;
        let page_size = match be(&h[16..18]) {
            1 => 65_536,
            n => usize::try_from(n).unwrap_or(0),
        };
        if !page_size.is_power_of_two()
            || !(512..=65_536).contains(&page_size)
            || page_size - usize::from(h[20]) < 480
        {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                detail: "impossible page size in the header".into(),
            });
        }
        if be(&h[56..60]) > 1 {
            return Err(Error::Unsupported(format!(
                "{} uses UTF-16 text, which is not supported",
                path.display()
            )));
        }
        let wal = h[18] == 2 || h[19] == 2;
        let pages = buf.len() / page_size;
        // The page count in the header is valid when its "valid-for" number matches the
        // change counter (every SQLite since 3.7.0 writes it so).
        let declared = usize::try_from(be(&h[28..32])).unwrap_or(usize::MAX);
        if be(&h[92..96]) == be(&h[24..28]) && declared > pages {
            return Err(truncated(format!(
                "the header counts {declared} pages of {page_size} bytes, the file holds {pages}"
            )));
        }
        if !buf.len().is_multiple_of(page_size) {
            return Err(truncated(format!(
                "{} bytes is not a whole number of {page_size}-byte pages",
                buf.len()
            )));
        }
        let usable = page_size - usize::from(h[20]);
        Ok(Db { buf, page_size, usable, pages, wal })
    }

    /// The rows of table `name`.
    fn table(&self, path: &Path, name: &str) -> Result<Table, Error> {
        let corrupt = |detail: String| Error::Corrupt { path: path.to_path_buf(), detail };
        let Some((root, sql)) = self.find_table(name).map_err(corrupt)? else {
            return Err(Error::NoTable { path: path.to_path_buf(), table: name.to_owned() });
        };
        let shape = schema::parse(&sql);
        if shape.without_rowid {
            return Err(Error::Unsupported(format!(
                "table {name} is a WITHOUT ROWID table, which is not supported"
            )));
        }
        let mut rows = Vec::new();
        self.scan(root, &mut |rowid, mut values| {
            values.resize(shape.columns.len(), Value::Null); // rows older than an ADD COLUMN
            if let Some(v) = shape.rowid_alias.and_then(|i| values.get_mut(i)) {
                if *v == Value::Null {
                    *v = Value::Int(rowid); // an INTEGER PRIMARY KEY is stored as NULL
                }
            }
            rows.push(Row { rowid, values });
            Ok(())
        })
        .map_err(corrupt)?;
        Ok(Table { columns: shape.columns, rows })
    }
}

/// A hot rollback journal (a write under way or interrupted) or a `-wal` file with
/// changes not yet in the main file: reading now would give stale or torn data.
fn refuse_pending_writes(path: &Path, wal_mode: bool) -> Result<(), Error> {
    let beside = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let non_empty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    let journal = beside("-journal");
    if non_empty(&journal) {
        return Err(Error::Unsupported(format!(
            "{} exists: a write to the database is under way or was interrupted; stop the application that uses it (or open the database once with sqlite3, which rolls it back) and try again",
            journal.display()
        )));
    }
    let wal = beside("-wal");
    if wal_mode && non_empty(&wal) {
        return Err(Error::Unsupported(format!(
            "{} holds changes not yet in the database; stop the application and run: sqlite3 {} 'pragma wal_checkpoint(truncate)'",
            wal.display(),
            path.display()
        )));
    }
    Ok(())
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("page_size", &self.page_size).field("pages", &self.pages).finish()
    }
}

#[cfg(test)]
mod tests;
