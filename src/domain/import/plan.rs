//! The import itself: check every row, drop duplicates within the file, compare
//! with the accounts already here, and write what is new in one transaction.
//!
//! Ids are kept where free (see `Writes::insert_user_with_id`); the others get new
//! ids after every kept one is placed, so one taken id never costs another its own.
//! Before anything is written, the login work ceiling is raised to the highest
//! imported bcrypt cost, so a sign-in for an unknown name costs what one for an
//! imported account costs from the first moment (see `crypto::password`).

use super::rows::{candidate, Candidate};
use super::{ImportOptions, ImportReport, ImportedUser, SkipKind, SkippedRow, TutorialRow};
use crate::crypto::secrets::{hex, random_bytes};
use crate::domain::api_keys::{digest, imported_key};
use crate::domain::{Auth, Ctx, Error};
use crate::store::records::{AuditEvent, Role, User};
use crate::store::{fold, Reads, StoreError, Writes};
use std::collections::HashMap;

/// How a transaction ended without committing.
enum Step {
    /// On purpose: a dry run.
    RollBack,
    /// An error.
    Failed(Error),
}

impl From<StoreError> for Step {
    fn from(e: StoreError) -> Self {
        Step::Failed(e.into())
    }
}

/// A checked row with what the transaction needs that must not be made inside it
/// (a transaction may run again, so its random key id is chosen once, here).
struct Ready {
    c: Candidate,
    key_id: Option<String>,
}

impl Auth {
    /// Imports the tutorial's rows (see the module doc of `domain::import`).
    /// Invalid rows refuse the whole import unless `opts.skip_invalid`; the report
    /// says what was (or, for a dry run or a refusal, would be) imported and why
    /// each other row was skipped.
    pub fn import_tutorial(
        &self,
        ctx: &Ctx,
        rows: &[TutorialRow],
        opts: ImportOptions,
    ) -> Result<ImportReport, Error> {
        let mut report = ImportReport { rows: rows.len(), dry_run: opts.dry_run, ..ImportReport::default() };
        let ready = self.checked(rows, &mut report.skipped)?;
        report.refused = report.count(SkipKind::Invalid) > 0 && !opts.skip_invalid;
        let rehearse = opts.dry_run || report.refused;
        if !rehearse {
            if let Some(cost) = ready.iter().map(|r| r.c.bcrypt_cost).max() {
                self.passwords.raise_bcrypt_ceiling(cost);
            }
        }
        let (done, skipped) = self.write_or_rehearse(ctx, &ready, rehearse)?;
        report.imported = done;
        report.skipped.extend(skipped);
        if !rehearse && report.imported.iter().any(|u| matches!(u.role, Role::Admin | Role::SuperAdmin)) {
            self.setup_required()?; // an admin came in: the setup code is spent
        }
        report.skipped.sort_by_key(|s| s.tutorial_id);
        report.imported.sort_by_key(|u| u.tutorial_id);
        Ok(report)
    }

    /// Every row checked on its own, then against the earlier rows; what is
    /// refused goes to `skipped`.
    fn checked(&self, rows: &[TutorialRow], skipped: &mut Vec<SkippedRow>) -> Result<Vec<Ready>, Error> {
        let now = self.clock.now_micros();
        let mut valid = Vec::new();
        for row in rows {
            match candidate(row, now) {
                Ok(c) => valid.push(c),
                Err(reason) => skipped.push(skip(row, SkipKind::Invalid, reason)),
            }
        }
        first_of_each(valid, skipped)
    }

    /// The import's one transaction; when `rehearse` (a dry run, or a refused
    /// import), the same transaction rolled back, so every check and every id it
    /// reports is the one a real run would give.
    fn write_or_rehearse(
        &self,
        ctx: &Ctx,
        ready: &[Ready],
        rehearse: bool,
    ) -> Result<(Vec<ImportedUser>, Vec<SkippedRow>), Error> {
        let mut rehearsed = None;
        let outcome = self.store.write(|tx| {
            let done = self.write_new(tx, ctx, ready).map_err(Step::Failed)?;
            if rehearse {
                rehearsed = Some(done);
                return Err(Step::RollBack);
            }
            Ok(done)
        });
        match (outcome, rehearsed) {
            (Ok(done), _) | (Err(Step::RollBack), Some(done)) => Ok(done),
            (Err(Step::Failed(e)), _) => Err(e),
            (Err(Step::RollBack), None) => Err(Error::Internal("import rehearsal lost its result".into())),
        }
    }

    /// Inside the transaction: compare with what is here, then insert the new
    /// accounts (kept ids first) and their keys, each with an audit entry.
    fn write_new(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        ready: &[Ready],
    ) -> Result<(Vec<ImportedUser>, Vec<SkippedRow>), Error> {
        let (new, skipped) = against_store(tx, ready)?;
        let mut placed: Vec<(&Ready, u64)> = Vec::with_capacity(new.len());
        let mut renumber = Vec::new();
        for r in new {
            if tx.insert_user_with_id(&r.c.user)? {
                placed.push((r, r.c.user.id));
            } else {
                renumber.push(r);
            }
        }
        for r in renumber {
            let u = tx.insert_user(User { id: 0, ..r.c.user.clone() })?;
            placed.push((r, u.id));
        }
        let now = self.clock.now_micros();
        let mut done = Vec::with_capacity(placed.len());
        for (r, id) in placed {
            let user = User { id, ..r.c.user.clone() };
            if let (Some(secret), Some(key_id)) = (&r.c.api_key, &r.key_id) {
                let (lookup, record) = imported_key(secret, id, key_id.clone(), now);
                tx.put_api_key(&lookup, &record)?;
            }
            let key = if r.c.api_key.is_some() { " with its API key" } else { "" };
            let why = format!("imported from the tutorial's database (its id {}){key}", r.c.user.id);
            tx.append_audit(&self.audit_record(ctx, AuditEvent::UserRegistered, Some(&user), Some(why)))?;
            done.push(imported(&r.c, id));
        }
        Ok((done, skipped))
    }
}

fn skip(row: &TutorialRow, kind: SkipKind, reason: String) -> SkippedRow {
    let id = match row.id {
        super::Cell::Int(i) => i,
        _ => 0,
    };
    let username = match &row.username {
        super::Cell::Text(s) => s.clone(),
        _ => String::new(),
    };
    SkippedRow { tutorial_id: id, username, kind, reason }
}

fn skipped(c: &Candidate, kind: SkipKind, reason: String) -> SkippedRow {
    let id = i64::try_from(c.user.id).unwrap_or(i64::MAX);
    SkippedRow { tutorial_id: id, username: c.user.username.clone(), kind, reason }
}

fn imported(c: &Candidate, id: u64) -> ImportedUser {
    ImportedUser {
        tutorial_id: i64::try_from(c.user.id).unwrap_or(i64::MAX),
        id,
        username: c.user.username.clone(),
        role: c.user.role,
        is_active: c.user.is_active,
        locked: c.user.locked_until.is_some(),
        api_key: c.api_key.is_some(),
    }
}

/// Keeps the first row (by the tutorial's id) of each username, email and API key,
/// compared as gatehouse compares them (the tutorial's unique indexes are
/// case-sensitive, so `Bob@x.org` and `bob@x.org` can both be there).
fn first_of_each(mut list: Vec<Candidate>, out: &mut Vec<SkippedRow>) -> Result<Vec<Ready>, Error> {
    list.sort_by_key(|c| c.user.id);
    let (mut names, mut emails, mut keys) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut ready = Vec::with_capacity(list.len());
    for c in list {
        let id = c.user.id;
        let by_name = names.get(&fold(&c.user.username)).map(|first| {
            format!("username {:?} is also tutorial id {first}'s (case-insensitively)", c.user.username)
        });
        let by_email = || {
            emails.get(&fold(&c.user.email)).map(|first| {
                format!("email {:?} is also tutorial id {first}'s (case-insensitively)", c.user.email)
            })
        };
        let by_key = || {
            let first = c.api_key.as_deref().and_then(|k| keys.get(&digest(k).1));
            first.map(|first| format!("its API key is also tutorial id {first}'s"))
        };
        let clash = by_name.or_else(by_email).or_else(by_key);
        if let Some(reason) = clash {
            out.push(skipped(&c, SkipKind::Duplicate, format!("{reason}; only the first is imported")));
            continue;
        }
        names.insert(fold(&c.user.username), id);
        emails.insert(fold(&c.user.email), id);
        let key_id = match &c.api_key {
            Some(k) => {
                keys.insert(digest(k).1, id);
                Some(hex(&random_bytes::<8>().map_err(|e| Error::Internal(e.to_string()))?))
            }
            None => None,
        };
        ready.push(Ready { c, key_id });
    }
    Ok(ready)
}

/// Sorts rows into new ones and those whose account, or username, email or key, is
/// here already.
fn against_store<'a>(
    r: &dyn Reads,
    ready: &'a [Ready],
) -> Result<(Vec<&'a Ready>, Vec<SkippedRow>), StoreError> {
    let (mut new, mut out) = (Vec::new(), Vec::new());
    for item in ready {
        let u = &item.c.user;
        let by_name = r.user_by_name(&u.username)?;
        let verdict = match by_name {
            Some(here) if fold(&here.email) == fold(&u.email) => Some((
                SkipKind::AlreadyPresent,
                format!("already here as id {} (same username and email)", here.id),
            )),
            Some(here) => Some((
                SkipKind::Duplicate,
                format!("username {:?} belongs to another account here (id {})", u.username, here.id),
            )),
            None => match r.user_id_by_email(&u.email)? {
                Some(id) => Some((
                    SkipKind::Duplicate,
                    format!("email {:?} belongs to account id {id} here", u.email),
                )),
                None => match &item.c.api_key {
                    Some(k) if r.api_key(&digest(k).0)?.is_some() => {
                        Some((SkipKind::Duplicate, "its API key is already registered here".to_owned()))
                    }
                    _ => None,
                },
            },
        };
        match verdict {
            Some((kind, reason)) => out.push(skipped(&item.c, kind, reason)),
            None => new.push(item),
        }
    }
    Ok((new, out))
}
