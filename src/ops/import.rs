//! `import tutorial` as an operator command: run the domain's import on the rows
//! the CLI read, and turn its report into a [`Reply`]: the rows for people (every
//! skipped row with its reason, the imported ones up to a screenful) and all of
//! them for scripts. Invalid rows without `--skip-invalid` make the reply a
//! failure, so the command exits non-zero with nothing written.

use super::Reply;
use crate::domain::import::{ImportOptions, ImportReport, SkipKind, TutorialRow};
use crate::domain::{Auth, Ctx};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Imported rows listed by name in the text report (all of them are in the JSON).
const LISTED: usize = 50;

/// Runs the import and words its report.
pub(super) fn run(
    auth: &Auth,
    source: &str,
    rows: &[TutorialRow],
    opts: ImportOptions,
) -> Result<Reply, String> {
    let report = auth.import_tutorial(&Ctx::cli(), rows, opts).map_err(super::explain)?;
    let text = text(source, &report);
    let data = data(source, &report);
    Ok(if report.refused { Reply { ok: false, message: text, data } } else { Reply::ok(text, data) })
}

fn text(source: &str, r: &ImportReport) -> String {
    let mut t = format!("tutorial database {source}: {} rows\n", r.rows);
    let verb = if r.dry_run || r.refused { "would import" } else { "imported" };
    let _ = writeln!(t, "{verb} {}:", r.imported.len());
    for u in r.imported.iter().take(LISTED) {
        let id = if u.id == u64::try_from(u.tutorial_id).unwrap_or(0) {
            format!("id {}", u.id)
        } else {
            format!("id {} (was {})", u.id, u.tutorial_id)
        };
        let state = match (u.is_active, u.locked) {
            (false, _) => "deactivated",
            (true, true) => "locked (as it was)",
            (true, false) => "active",
        };
        let key = if u.api_key { ", API key" } else { "" };
        let _ = writeln!(t, "  {id:<18} {:<24} {:<12} {state}{key}", u.username, u.role.as_str());
    }
    if r.imported.len() > LISTED {
        let _ = writeln!(t, "  ... and {} more (--json lists every one)", r.imported.len() - LISTED);
    }
    let _ = writeln!(t, "skipped {}:", r.skipped.len());
    for s in &r.skipped {
        let _ = writeln!(
            t,
            "  tutorial id {:<6} {:<24} {}: {}",
            s.tutorial_id,
            format!("{:?}", s.username),
            s.kind.as_str(),
            s.reason
        );
    }
    let _ = write!(
        t,
        "totals: {} {}, {} already present, {} duplicate, {} invalid",
        r.imported.len(),
        if r.dry_run || r.refused { "to import" } else { "imported" },
        r.count(SkipKind::AlreadyPresent),
        r.count(SkipKind::Duplicate),
        r.count(SkipKind::Invalid)
    );
    if r.refused {
        let n = r.count(SkipKind::Invalid);
        let _ = write!(
            t,
            "\nnothing was imported: {n} row{} invalid. Correct {} in the tutorial's database, or pass --skip-invalid to import the others",
            if n == 1 { " is" } else { "s are" },
            if n == 1 { "it" } else { "them" }
        );
    } else if r.dry_run {
        t.push_str("\ndry run: nothing was written");
    } else if !r.imported.is_empty() {
        t.push_str("\npasswords are checked against the imported bcrypt hashes at each user's next sign-in, then stored as scrypt; everyone signs in once (tutorial tokens are not carried over)");
    }
    t
}

fn data(source: &str, r: &ImportReport) -> Value {
    let imported: Vec<Value> = r
        .imported
        .iter()
        .map(|u| {
            json!({"tutorial_id": u.tutorial_id, "id": u.id, "username": u.username, "role": u.role.as_str(),
                   "is_active": u.is_active, "locked": u.locked, "api_key": u.api_key})
        })
        .collect();
    let skipped: Vec<Value> = r
        .skipped
        .iter()
        .map(|s| json!({"tutorial_id": s.tutorial_id, "username": s.username, "kind": s.kind.as_str(), "reason": s.reason}))
        .collect();
    json!({
        "source": source, "rows": r.rows, "dry_run": r.dry_run, "refused": r.refused,
        "imported": imported, "skipped": skipped,
        "totals": {"imported": r.imported.len(), "already_present": r.count(SkipKind::AlreadyPresent),
                   "duplicate": r.count(SkipKind::Duplicate), "invalid": r.count(SkipKind::Invalid)},
    })
}
