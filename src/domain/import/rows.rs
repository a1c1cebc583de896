//! What each column of the tutorial's `users` table means here: one row becomes the
//! account gatehouse would create, or every reason it cannot.
//!
//! How the tutorial's stack stores things (`models/user.py` through SQLAlchemy on
//! SQLite): the role as the enum's *name* (`SUPER_ADMIN`); booleans as 0/1;
//! datetimes as text without a zone (`2026-12-04 20:48:56.774830`), written from
//! UTC clocks, so read as UTC; the password as passlib's bcrypt string; the API
//! key in plaintext. The tutorial's own field rules are looser than gatehouse's
//! (a username may end in a newline, a full name may be any length), so every
//! value passes gatehouse's checks again.

use super::{Cell, TutorialRow};
use crate::clock::{parse_rfc3339, Micros};
use crate::crypto::bcrypt_hash;
use crate::domain::validation::{self, FieldError};
use crate::store::records::{Role, User};

/// An account ready to insert (its id is the tutorial's), with its API key.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    /// The account; `id` is the tutorial's id.
    pub user: User,
    /// The tutorial's plaintext API key.
    pub api_key: Option<String>,
    /// The bcrypt cost of its hash.
    pub bcrypt_cost: u32,
}

/// Shortest and longest API key taken over (the tutorial's are `lmsc_` and 64 hex
/// digits, 69 characters; anything much shorter is too guessable to keep).
const KEY_CHARS: std::ops::RangeInclusive<usize> = 32..=128;

/// The account `row` becomes, or every problem with it (joined with "; ").
/// `now` decides whether a lock still holds.
pub(super) fn candidate(row: &TutorialRow, now: Micros) -> Result<Candidate, String> {
    let mut problems = Vec::new();
    let who = identity(row, &mut problems);
    let secrets = secrets(row, &mut problems);
    let standing = standing(row, now, &mut problems);
    let (Some(who), Some((password_hash, bcrypt_cost, api_key)), Some(s)) = (who, secrets, standing) else {
        return Err(problems.join("; "));
    };
    let user = User {
        id: who.id,
        username: who.username,
        email: who.email,
        full_name: who.full_name,
        password_hash,
        role: s.role,
        is_active: s.is_active,
        is_verified: s.is_verified,
        created_at: s.created_at,
        updated_at: s.updated_at,
        last_login: s.last_login,
        failed_logins: s.failed_logins,
        locked_until: s.locked_until,
        token_version: 0,
        session_epoch: 0,
    };
    Ok(Candidate { user, api_key, bcrypt_cost })
}

/// Who the account is.
struct Identity {
    id: u64,
    username: String,
    email: String,
    full_name: Option<String>,
}

fn identity(row: &TutorialRow, p: &mut Vec<String>) -> Option<Identity> {
    let id = take(p, int("id", &row.id).and_then(positive));
    let username = take(p, text("username", &row.username).and_then(|s| checked(s, validation::username(s))));
    let email = take(p, text("email", &row.email).and_then(|s| checked(s, validation::email("email", s))));
    let full_name = take(
        p,
        opt_text("full_name", &row.full_name).and_then(|n| match n {
            Some(s) => checked(s, validation::full_name(s).map(|()| Some(s.to_owned()))),
            None => Ok(None),
        }),
    );
    Some(Identity { id: id?, username: username?, email: email?, full_name: full_name? })
}

/// The password hash, its bcrypt cost, and the plaintext API key.
fn secrets(row: &TutorialRow, p: &mut Vec<String>) -> Option<(String, u32, Option<String>)> {
    let hash = take(p, text("hashed_password", &row.hashed_password).and_then(bcrypt));
    let key = take(p, api_key(&row.api_key));
    let (hash, cost) = hash?;
    Some((hash, cost, key?))
}

/// Role, flags, times and lockout.
struct Standing {
    role: Role,
    is_active: bool,
    is_verified: bool,
    created_at: Micros,
    updated_at: Micros,
    last_login: Option<Micros>,
    failed_logins: u32,
    locked_until: Option<Micros>,
}

fn standing(row: &TutorialRow, now: Micros, p: &mut Vec<String>) -> Option<Standing> {
    let role = take(p, text("role", &row.role).and_then(role));
    let is_active = take(p, flag("is_active", &row.is_active));
    let is_verified = take(p, flag("is_verified", &row.is_verified));
    let created_at = take(p, time("created_at", &row.created_at));
    let updated_at = take(p, time("updated_at", &row.updated_at));
    let last_login = take(p, opt_time("last_login", &row.last_login));
    let failed = take(p, failures(&row.failed_login_attempts));
    let locked_until = take(p, opt_time("locked_until", &row.locked_until))?;
    // A lock that has ended means what an ended lock means at a sign-in here: the
    // count starts afresh. A lock still running is kept, with its count.
    let lock_ended = locked_until.is_some_and(|t| t <= now);
    Some(Standing {
        role: role?,
        is_active: is_active?,
        is_verified: is_verified?,
        created_at: created_at?,
        updated_at: updated_at?,
        last_login: last_login?,
        failed_logins: if lock_ended { failed.map(|_| 0)? } else { failed? },
        locked_until: locked_until.filter(|t| *t > now),
    })
}

fn take<T>(problems: &mut Vec<String>, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| problems.push(e)).ok()
}

/// A gatehouse field rule's verdict on `value`, worded for the operator.
fn checked<T>(value: &str, r: Result<T, FieldError>) -> Result<T, String> {
    r.map_err(|e| format!("{} {value:?}: {}", e.field, e.msg.trim_start_matches("Value error, ")))
}

fn kind(c: &Cell) -> String {
    match c {
        Cell::Null => "empty (NULL)".into(),
        Cell::Int(i) => format!("the number {i}"),
        Cell::Text(s) => format!("the text {s:?}"),
        Cell::Other(k) => k.clone(),
    }
}

fn text<'a>(name: &str, c: &'a Cell) -> Result<&'a str, String> {
    match c {
        Cell::Text(s) => Ok(s),
        other => Err(format!("{name} is {}, not text", kind(other))),
    }
}

fn opt_text<'a>(name: &str, c: &'a Cell) -> Result<Option<&'a str>, String> {
    match c {
        Cell::Null => Ok(None),
        other => text(name, other).map(Some),
    }
}

fn int(name: &str, c: &Cell) -> Result<i64, String> {
    match c {
        Cell::Int(i) => Ok(*i),
        other => Err(format!("{name} is {}, not a number", kind(other))),
    }
}

fn positive(i: i64) -> Result<u64, String> {
    u64::try_from(i).ok().filter(|i| *i > 0).ok_or_else(|| format!("id {i} is not a positive number"))
}

fn flag(name: &str, c: &Cell) -> Result<bool, String> {
    match c {
        Cell::Int(0) => Ok(false),
        Cell::Int(1) => Ok(true),
        other => Err(format!("{name} is {}, not 0 or 1", kind(other))),
    }
}

fn failures(c: &Cell) -> Result<u32, String> {
    match c {
        Cell::Null => Ok(0),
        Cell::Int(i) => u32::try_from(*i).map_err(|_| format!("failed_login_attempts {i} is out of range")),
        other => Err(format!("failed_login_attempts is {}, not a number", kind(other))),
    }
}

fn bcrypt(hash: &str) -> Result<(String, u32), String> {
    let cost = bcrypt_hash::cost_of(hash).map_err(|p| {
        let shown: String = hash.chars().take(7).collect();
        format!("hashed_password ({shown}…): {p}")
    })?;
    Ok((hash.to_owned(), cost))
}

fn role(s: &str) -> Result<Role, String> {
    let found = Role::ALL.into_iter().find(|r| {
        let value = r.as_str();
        s == value || s == value.to_ascii_uppercase()
    });
    found.ok_or_else(|| {
        format!("role {s:?} is not one of the tutorial's (USER, MODERATOR, ADMIN, SUPER_ADMIN)")
    })
}

/// SQLAlchemy's SQLite `DATETIME` text, `YYYY-MM-DD HH:MM:SS[.ffffff]`, read as UTC;
/// also the ISO 8601 forms with `T` and with a zone (`Z`, `+HH:MM`).
pub(super) fn parse_time(s: &str) -> Option<Micros> {
    let mut t = s.trim().to_owned();
    if t.len() >= 19 && t.as_bytes().get(10) == Some(&b' ') {
        t.replace_range(10..11, "T");
    }
    let b = t.as_bytes();
    let zoned = t.ends_with(['Z', 'z'])
        || (b.len() >= 25 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':');
    if !zoned {
        t.push('Z');
    }
    parse_rfc3339(&t)
}

fn time(name: &str, c: &Cell) -> Result<Micros, String> {
    let s = text(name, c)?;
    parse_time(s).ok_or_else(|| format!("{name} {s:?} is not a date and time"))
}

fn opt_time(name: &str, c: &Cell) -> Result<Option<Micros>, String> {
    match c {
        Cell::Null => Ok(None),
        other => time(name, other).map(Some),
    }
}

fn api_key(c: &Cell) -> Result<Option<String>, String> {
    match c {
        Cell::Null => Ok(None),
        Cell::Text(s) if s.is_empty() => Ok(None),
        Cell::Text(s) if KEY_CHARS.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(s.clone()))
        }
        Cell::Text(s) => Err(format!(
            "api_key is not a key gatehouse can keep ({} characters; 32 to 128 printable ones without spaces)",
            s.chars().count()
        )),
        other => Err(format!("api_key is {}, not text", kind(other))),
    }
}
