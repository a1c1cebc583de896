//! `gatehouse import tutorial`: this process reads the tutorial's SQLite file (the
//! server may run sandboxed, unable to read the operator's path) and sends the rows
//! to the running server's admin socket, or, with no server running, imports them
//! on the data directory itself. Either way the domain's one import runs; its
//! report is printed like any operator command's reply.

use super::ImportTutorialArgs;
use crate::domain::import::read_tutorial;
use crate::domain::{HashParams, Policy};
use crate::ops::Request;
use anyhow::anyhow;

/// `gatehouse import tutorial --sqlite PATH [--dry-run] [--skip-invalid]`
pub fn tutorial(a: ImportTutorialArgs) -> anyhow::Result<()> {
    let rows = read_tutorial(&a.sqlite).map_err(|e| anyhow!("{e}"))?;
    let source = std::path::absolute(&a.sqlite).unwrap_or_else(|_| a.sqlite.clone());
    let req = Request::ImportTutorial {
        source: source.display().to_string(),
        rows,
        dry_run: a.dry_run,
        skip_invalid: a.skip_invalid,
    };
    // Importing hashes nothing: the default scrypt parameters are only opened with.
    super::operator::dispatch(&a.target, req, HashParams::DEFAULT, Policy::default())
}
