//! Stands in for the PostgreSQL engine in a build without the `postgres` cargo
//! feature: a `postgres://` URL is recognised, and refused with a message that
//! says why, so nothing else needs to know which build this is.

use super::{StoreError, TableCounts};
use std::path::PathBuf;
use std::time::Duration;

const NOT_BUILT: &str = "this gatehouse was built without PostgreSQL (cargo feature `postgres`)";

/// How to reach the database (never constructed in this build).
#[derive(Debug, Clone)]
pub struct Options {
    /// Most connections this process opens.
    pub pool_size: usize,
    /// PEM file of the certificate authorities trusted for TLS.
    pub ca_file: Option<PathBuf>,
    /// How long a statement may take before it fails.
    pub timeout: Duration,
    /// Where the server may write files.
    pub scratch: Option<PathBuf>,
}

impl Options {
    /// Whether `s` names a PostgreSQL database (rather than a directory).
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Always refused: this build has no PostgreSQL client.
    pub fn new(_url: &str, _pool_size: usize) -> Result<Self, String> {
        Err(NOT_BUILT.into())
    }

    /// For messages.
    pub fn describe(&self) -> String {
        "postgres://".into()
    }
}

/// Always refused (see [`Options::new`]).
pub fn check(_o: &Options) -> Result<TableCounts, StoreError> {
    Err(StoreError::Database(NOT_BUILT.into()))
}

/// Always refused (see [`Options::new`]).
pub(super) fn open(_o: &Options) -> Result<super::Store, StoreError> {
    Err(StoreError::Database(NOT_BUILT.into()))
}
