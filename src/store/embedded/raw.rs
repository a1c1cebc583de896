//! The redb tables as engine-neutral rows ([`rows`](crate::store::rows)): export
//! every table from one read snapshot, and load rows into an empty database in one
//! write transaction. `migrate-store` and the PostgreSQL engine's backup use these.
//!
//! Adding a table: one line in [`each_raw!`] (and its name in `store::TABLES`).

use super::*;
use crate::store::rows::{put_i64, put_u64, take_i64, take_u64};
use crate::store::RowSink;

/// A redb key or value type with an engine-neutral byte form.
trait Shape: redb::Value + 'static {
    fn enc(v: Self::SelfType<'_>, out: &mut Vec<u8>);
    fn with<R>(b: &[u8], f: impl for<'a> FnOnce(Self::SelfType<'a>) -> R) -> Result<R, StoreError>;
}

fn malformed() -> StoreError {
    StoreError::Decode("malformed row for the embedded database".into())
}

impl Shape for u64 {
    fn enc(v: u64, out: &mut Vec<u8>) {
        put_u64(out, v);
    }
    fn with<R>(b: &[u8], f: impl FnOnce(u64) -> R) -> Result<R, StoreError> {
        Ok(f(crate::store::rows::as_u64(b, "integer")?))
    }
}

impl Shape for i64 {
    fn enc(v: i64, out: &mut Vec<u8>) {
        put_i64(out, v);
    }
    fn with<R>(b: &[u8], f: impl FnOnce(i64) -> R) -> Result<R, StoreError> {
        Ok(f(crate::store::rows::as_i64(b, "integer")?))
    }
}

impl Shape for &'static str {
    fn enc(v: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(v.as_bytes());
    }
    fn with<R>(b: &[u8], f: impl for<'a> FnOnce(&'a str) -> R) -> Result<R, StoreError> {
        Ok(f(std::str::from_utf8(b).map_err(|_| malformed())?))
    }
}

impl Shape for &'static [u8] {
    fn enc(v: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(v);
    }
    fn with<R>(b: &[u8], f: impl for<'a> FnOnce(&'a [u8]) -> R) -> Result<R, StoreError> {
        Ok(f(b))
    }
}

impl Shape for () {
    fn enc((): (), _: &mut Vec<u8>) {}
    fn with<R>(b: &[u8], f: impl FnOnce(()) -> R) -> Result<R, StoreError> {
        if b.is_empty() {
            Ok(f(()))
        } else {
            Err(malformed())
        }
    }
}

/// Tuples whose fields before the last are 8-byte integers (or one byte, below).
macro_rules! int_tuple {
    ($($f:ident: $t:ident),+; $last:ident) => {
        impl Shape for ($($t,)+ $last) {
            fn enc(v: Self::SelfType<'_>, out: &mut Vec<u8>) {
                let ($($f,)+ last) = v;
                $(<$t as Shape>::enc($f, out);)+
                <$last as Shape>::enc(last, out);
            }
            fn with<R>(b: &[u8], f: impl for<'a> FnOnce(Self::SelfType<'a>) -> R) -> Result<R, StoreError> {
                let rest = b;
                $(let ($f, rest) = <$t as Fixed>::take(rest)?;)+
                <$last as Shape>::with(rest, |last| f(($($f,)+ last)))
            }
        }
    };
}

/// Fixed-width leading tuple fields.
trait Fixed: Sized {
    fn take(b: &[u8]) -> Result<(Self, &[u8]), StoreError>;
}
impl Fixed for u64 {
    fn take(b: &[u8]) -> Result<(Self, &[u8]), StoreError> {
        take_u64(b, "integer")
    }
}
impl Fixed for i64 {
    fn take(b: &[u8]) -> Result<(Self, &[u8]), StoreError> {
        take_i64(b, "integer")
    }
}
impl Fixed for u8 {
    fn take(b: &[u8]) -> Result<(Self, &[u8]), StoreError> {
        b.split_first().map(|(v, rest)| (*v, rest)).ok_or_else(malformed)
    }
}
impl Shape for u8 {
    fn enc(v: u8, out: &mut Vec<u8>) {
        out.push(v);
    }
    fn with<R>(b: &[u8], f: impl FnOnce(u8) -> R) -> Result<R, StoreError> {
        match b {
            [v] => Ok(f(*v)),
            _ => Err(malformed()),
        }
    }
}

type Str = &'static str;
type Bytes = &'static [u8];
int_tuple!(a: u64; Str);
int_tuple!(a: u64; u64);
int_tuple!(a: u64, b: u64; u64);
int_tuple!(a: u8, b: u64; u64);
int_tuple!(a: i64; Bytes);
int_tuple!(a: i64; Str);

/// Every table with its definition, in `store::TABLES` order.
macro_rules! each_raw {
    ($m:ident, $($args:expr),*) => {{
        $m!("meta", META, $($args),*);
        $m!("users", USERS, $($args),*);
        $m!("usernames", USERNAMES, $($args),*);
        $m!("emails", EMAILS, $($args),*);
        $m!("refresh_tokens", REFRESH, $($args),*);
        $m!("revoked_jti", DENYLIST, $($args),*);
        $m!("api_keys", API_KEYS, $($args),*);
        $m!("api_key_ids", API_KEY_IDS, $($args),*);
        $m!("audit", AUDIT, $($args),*);
        $m!("audit_by_user", AUDIT_BY_USER, $($args),*);
        $m!("audit_by_event", AUDIT_BY_EVENT, $($args),*);
        $m!("refresh_expiry", REFRESH_EXPIRY, $($args),*);
        $m!("revoked_jti_expiry", DENYLIST_EXPIRY, $($args),*);
        $m!("sessions", SESSIONS, $($args),*);
        $m!("login_hours", LOGIN_HOURS, $($args),*);
        $m!("oauth_clients", CLIENTS, $($args),*);
        $m!("oauth_codes", CODES, $($args),*);
        $m!("oauth_code_expiry", CODE_EXPIRY, $($args),*);
        $m!("consents", CONSENTS, $($args),*);
        $m!("mfa", MFA, $($args),*);
        $m!("passkeys", PASSKEYS, $($args),*);
        $m!("passkey_credentials", PASSKEY_CREDENTIALS, $($args),*);
        $m!("webauthn_challenges", CHALLENGES, $($args),*);
        $m!("webauthn_challenge_expiry", CHALLENGE_EXPIRY, $($args),*);
    }};
}

/// Generic over a definition's key and value types.
fn export_table<K: Shape + redb::Key, V: Shape>(
    txn: &redb::ReadTransaction,
    name: &'static str,
    def: TableDefinition<K, V>,
    sink: RowSink<'_>,
) -> Result<(), StoreError> {
    let table = txn.open_table(def)?;
    let (mut k, mut v) = (Vec::new(), Vec::new());
    for row in table.iter()? {
        let (key, value) = row?;
        k.clear();
        v.clear();
        K::enc(key.value(), &mut k);
        V::enc(value.value(), &mut v);
        sink(name, &k, &v)?;
    }
    Ok(())
}

fn import_row<K: Shape + redb::Key, V: Shape>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    k: &[u8],
    v: &[u8],
) -> Result<(), StoreError> {
    let mut table = txn.open_table(def)?;
    K::with(k, |key| V::with(v, |value| table.insert(key, value).map(|_| ())))???;
    Ok(())
}

/// Every row of every table from one snapshot, in table order then key order.
pub(super) fn export(store: &Embedded, sink: RowSink<'_>) -> Result<(), StoreError> {
    let txn = store.db.begin_read()?;
    macro_rules! one {
        ($name:literal, $def:ident, $txn:expr, $sink:expr) => {
            export_table($txn, $name, $def, $sink)?
        };
    }
    each_raw!(one, &txn, &mut *sink);
    Ok(())
}

/// Loads rows into this database, which must hold nothing but its schema version,
/// in one write transaction (nothing is kept unless every row is). It bypasses
/// group commit on purpose: the load is one transaction of its own, never shared
/// with other writers' closures (redb's single writer makes a batch in progress
/// commit first), and it writes raw rows, not through `Writes`.
pub(super) fn import(
    store: &Embedded,
    rows: &mut dyn FnMut(RowSink<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if !super::backup::counts(store)?.iter().all(|(t, n)| *n == 0 || (*t == "meta" && *n == 1)) {
        return Err(StoreError::NotEmpty(store.path.display().to_string()));
    }
    let txn = store.db.begin_write()?;
    rows(&mut |table, k, v| {
        macro_rules! one {
            ($name:literal, $def:ident, $table:expr, $txn:expr, $k:expr, $v:expr) => {
                if $table == $name {
                    return import_row($txn, $def, $k, $v);
                }
            };
        }
        each_raw!(one, table, &txn, k, v);
        Err(StoreError::Decode(format!("no table {table} in the embedded database")))
    })?;
    txn.commit()?;
    Ok(())
}
