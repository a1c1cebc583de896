//! [`Reads`] and [`Writes`] over the tables listed in `embedded/mod.rs`. Reads are
//! shared by both transaction kinds through the `reads!` macro; writes keep the
//! unique indexes and the dashboard counters in step with every user change.

use super::{
    decode_u64, StoreError, API_KEYS, API_KEY_IDS, AUDIT, AUDIT_BY_EVENT, AUDIT_BY_USER, CHALLENGES,
    CHALLENGE_EXPIRY, CLIENTS, CODES, CODE_EXPIRY, CONSENTS, DENYLIST, DENYLIST_EXPIRY, EMAILS, LOGIN_HOURS,
    META, META_HASH_COST, META_IMPORTED_HASHES, META_KEYS, META_MFA_USERS, META_NEXT_ID, META_STATS, MFA,
    PASSKEYS, PASSKEY_CREDENTIALS, REFRESH, REFRESH_EXPIRY, SESSIONS, USERNAMES, USERS,
};
use crate::store::records::mfa::MfaRecord;
use crate::store::records::oidc::{ClientRecord, CodeRecord, ConsentRecord};
use crate::store::records::passkeys::{ChallengeRecord, PasskeyRecord};
use crate::store::records::{
    ApiKeyRecord, AuditRecord, HashCost, ImportedHashes, KeySet, RefreshSession, SessionRecord, Stats, User,
};
use crate::store::{fold, AuditQuery, Reads, UniqueField, UserPage, Writes};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::reads::reads;

/// A read-only snapshot. Tables are opened on first use, so a token check that
/// reads one user and one denylist entry opens two tables, not all of them.
pub struct ReadTx {
    txn: ReadTransaction,
}

macro_rules! read_tables {
    ($($name:ident: $def:ident => $k:ty, $v:ty;)*) => {
        impl ReadTx {
            $(
                pub(super) fn $name(&self) -> Result<ReadOnlyTable<$k, $v>, StoreError> {
                    Ok(self.txn.open_table($def)?)
                }
            )*
        }
        #[allow(dead_code)] // not every table is read back inside a write
        impl<'t> WriteTx<'t> {
            $(
                pub(super) fn $name(&self) -> Result<&Table<'t, $k, $v>, StoreError> {
                    Ok(&self.$name)
                }
            )*
        }
    };
}

read_tables! {
    t_meta: META => &'static str, &'static [u8];
    t_users: USERS => u64, &'static [u8];
    t_usernames: USERNAMES => &'static str, u64;
    t_emails: EMAILS => &'static str, u64;
    t_refresh: REFRESH => &'static [u8], &'static [u8];
    t_denylist: DENYLIST => &'static str, i64;
    t_api_keys: API_KEYS => &'static [u8], &'static [u8];
    t_api_key_ids: API_KEY_IDS => (u64, &'static str), &'static [u8];
    t_audit: AUDIT => (u64, u64), &'static [u8];
    t_audit_by_user: AUDIT_BY_USER => (u64, u64, u64), ();
    t_audit_by_event: AUDIT_BY_EVENT => (u8, u64, u64), ();
    t_sessions: SESSIONS => (u64, &'static str), &'static [u8];
    t_login_hours: LOGIN_HOURS => u64, (u64, u64);
    t_clients: CLIENTS => &'static str, &'static [u8];
    t_codes: CODES => &'static [u8], &'static [u8];
    t_consents: CONSENTS => (u64, &'static str), &'static [u8];
    t_mfa: MFA => u64, &'static [u8];
    t_passkeys: PASSKEYS => (u64, &'static str), &'static [u8];
    t_passkey_credentials: PASSKEY_CREDENTIALS => &'static [u8], (u64, &'static str);
}

impl ReadTx {
    pub(super) fn open(txn: ReadTransaction) -> Self {
        Self { txn }
    }
}

impl Reads for ReadTx {
    reads!();

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        super::audit::query(&self.t_audit()?, &self.t_audit_by_user()?, &self.t_audit_by_event()?, q)
    }
}

impl Reads for WriteTx<'_> {
    reads!();

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        super::audit::query(self.t_audit()?, self.t_audit_by_user()?, self.t_audit_by_event()?, q)
    }
}

/// An open write transaction.
pub struct WriteTx<'t> {
    t_meta: Table<'t, &'static str, &'static [u8]>,
    t_users: Table<'t, u64, &'static [u8]>,
    t_usernames: Table<'t, &'static str, u64>,
    t_emails: Table<'t, &'static str, u64>,
    t_refresh: Table<'t, &'static [u8], &'static [u8]>,
    t_denylist: Table<'t, &'static str, i64>,
    t_api_keys: Table<'t, &'static [u8], &'static [u8]>,
    t_api_key_ids: Table<'t, (u64, &'static str), &'static [u8]>,
    pub(super) t_audit: Table<'t, (u64, u64), &'static [u8]>,
    pub(super) t_audit_by_user: Table<'t, (u64, u64, u64), ()>,
    pub(super) t_audit_by_event: Table<'t, (u8, u64, u64), ()>,
    pub(super) t_refresh_expiry: Table<'t, (i64, &'static [u8]), ()>,
    pub(super) t_denylist_expiry: Table<'t, (i64, &'static str), ()>,
    t_sessions: Table<'t, (u64, &'static str), &'static [u8]>,
    pub(super) t_login_hours: Table<'t, u64, (u64, u64)>,
    t_clients: Table<'t, &'static str, &'static [u8]>,
    t_codes: Table<'t, &'static [u8], &'static [u8]>,
    pub(super) t_code_expiry: Table<'t, (i64, &'static [u8]), ()>,
    t_consents: Table<'t, (u64, &'static str), &'static [u8]>,
    t_mfa: Table<'t, u64, &'static [u8]>,
    pub(super) t_passkeys: Table<'t, (u64, &'static str), &'static [u8]>,
    pub(super) t_passkey_credentials: Table<'t, &'static [u8], (u64, &'static str)>,
    pub(super) t_challenges: Table<'t, &'static [u8], &'static [u8]>,
    pub(super) t_challenge_expiry: Table<'t, (i64, &'static [u8]), ()>,
    /// Audit rows written in this transaction, logged once it commits.
    pub(super) audit_written: Vec<AuditRecord>,
    /// Whether anything was written (a write method went past its checks): a
    /// closure that fails before that leaves a shared batch untouched.
    pub(super) dirty: bool,
}

impl<'t> WriteTx<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            t_meta: txn.open_table(META)?,
            t_users: txn.open_table(USERS)?,
            t_usernames: txn.open_table(USERNAMES)?,
            t_emails: txn.open_table(EMAILS)?,
            t_refresh: txn.open_table(REFRESH)?,
            t_denylist: txn.open_table(DENYLIST)?,
            t_api_keys: txn.open_table(API_KEYS)?,
            t_api_key_ids: txn.open_table(API_KEY_IDS)?,
            t_audit: txn.open_table(AUDIT)?,
            t_audit_by_user: txn.open_table(AUDIT_BY_USER)?,
            t_audit_by_event: txn.open_table(AUDIT_BY_EVENT)?,
            t_refresh_expiry: txn.open_table(REFRESH_EXPIRY)?,
            t_denylist_expiry: txn.open_table(DENYLIST_EXPIRY)?,
            t_sessions: txn.open_table(SESSIONS)?,
            t_login_hours: txn.open_table(LOGIN_HOURS)?,
            t_clients: txn.open_table(CLIENTS)?,
            t_codes: txn.open_table(CODES)?,
            t_code_expiry: txn.open_table(CODE_EXPIRY)?,
            t_consents: txn.open_table(CONSENTS)?,
            t_mfa: txn.open_table(MFA)?,
            t_passkeys: txn.open_table(PASSKEYS)?,
            t_passkey_credentials: txn.open_table(PASSKEY_CREDENTIALS)?,
            t_challenges: txn.open_table(CHALLENGES)?,
            t_challenge_expiry: txn.open_table(CHALLENGE_EXPIRY)?,
            audit_written: Vec::new(),
            dirty: false,
        })
    }

    /// Keeps the count of users with a second factor in step with one change.
    fn count_mfa_user(&mut self, had: bool, has: bool) -> Result<(), StoreError> {
        let n = self.mfa_users()?;
        let n = match (had, has) {
            (false, true) => n.saturating_add(1),
            (true, false) => n.saturating_sub(1),
            _ => return Ok(()),
        };
        self.t_meta.insert(META_MFA_USERS, n.to_le_bytes().as_slice())?;
        Ok(())
    }

    fn bump_stats(&mut self, old: Option<&User>, new: Option<&User>) -> Result<(), StoreError> {
        let mut stats = self.stats()?;
        stats.apply(old, new);
        self.t_meta.insert(META_STATS, stats.encode()?.as_slice())?;
        let before = self.imported_hashes()?;
        let mut imported = before;
        imported.apply(old, new);
        // Written only when it changes: a database that never imported has no row.
        if imported != before {
            self.t_meta.insert(META_IMPORTED_HASHES, imported.encode()?.as_slice())?;
        }
        Ok(())
    }

    fn next_user_id(&self) -> Result<u64, StoreError> {
        match self.t_meta.get(META_NEXT_ID)? {
            Some(v) => decode_u64(v.value()).ok_or_else(|| StoreError::Decode("user id counter".into())),
            None => Ok(1),
        }
    }

    fn check_unique(&self, user: &User) -> Result<(String, String), StoreError> {
        let name = fold(&user.username);
        let email = fold(&user.email);
        if self.t_usernames.get(name.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Username));
        }
        if self.t_emails.get(email.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Email));
        }
        Ok((name, email))
    }

    /// Writes a new user under `user.id` (already checked free and unique).
    fn put_new_user(&mut self, user: &User, name: &str, email: &str) -> Result<(), StoreError> {
        self.t_usernames.insert(name, user.id)?;
        self.t_emails.insert(email, user.id)?;
        self.t_users.insert(user.id, user.encode()?.as_slice())?;
        self.bump_stats(None, Some(user))
    }

    pub(super) fn remove_session(&mut self, user_id: u64, id: &str) -> Result<(), StoreError> {
        self.t_sessions.remove((user_id, id))?;
        Ok(())
    }

    pub(super) fn remove_refresh(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.t_refresh.remove(key)?;
        Ok(())
    }

    pub(super) fn remove_revoked(&mut self, jti: &str) -> Result<(), StoreError> {
        self.t_denylist.remove(jti)?;
        Ok(())
    }

    /// Records the schema version (migrations only).
    pub fn set_schema_version(&mut self, v: u32) -> Result<(), StoreError> {
        self.t_meta.insert(super::META_SCHEMA, v.to_le_bytes().as_slice())?;
        Ok(())
    }

    /// Every user id (migrations only; a full scan).
    pub fn all_user_ids(&self) -> Result<Vec<u64>, StoreError> {
        let mut ids = Vec::new();
        for row in self.t_users.iter()? {
            ids.push(row?.0.value());
        }
        Ok(ids)
    }
}

/// Documented on the trait. Every method sets `self.dirty = true` before its first
/// change (group commit relies on it; `group_tests.rs` checks it).
impl Writes for WriteTx<'_> {
    fn insert_user(&mut self, mut user: User) -> Result<User, StoreError> {
        let (name, email) = self.check_unique(&user)?;
        let id = self.next_user_id()?;
        self.dirty = true;
        self.t_meta.insert(META_NEXT_ID, (id + 1).to_le_bytes().as_slice())?;
        user.id = id;
        self.put_new_user(&user, &name, &email)?;
        Ok(user)
    }

    fn insert_user_with_id(&mut self, user: &User) -> Result<bool, StoreError> {
        let (name, email) = self.check_unique(user)?;
        let next = self.next_user_id()?;
        if user.id == 0 || user.id < next || user.id == u64::MAX || self.t_users.get(user.id)?.is_some() {
            return Ok(false);
        }
        self.dirty = true;
        self.t_meta.insert(META_NEXT_ID, (user.id + 1).to_le_bytes().as_slice())?;
        self.put_new_user(user, &name, &email)?;
        Ok(true)
    }

    fn update_user(&mut self, new: &User) -> Result<(), StoreError> {
        let old = self
            .user(new.id)?
            .ok_or_else(|| StoreError::Database(format!("user {} vanished during update", new.id)))?;
        let (old_email, new_email) = (fold(&old.email), fold(&new.email));
        if old_email != new_email && self.t_emails.get(new_email.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Email));
        }
        self.dirty = true;
        if old_email != new_email {
            self.t_emails.remove(old_email.as_str())?;
            self.t_emails.insert(new_email.as_str(), new.id)?;
        }
        self.t_users.insert(new.id, new.encode()?.as_slice())?;
        self.bump_stats(Some(&old), Some(new))?;
        Ok(())
    }

    fn delete_user(&mut self, user: &User) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_users.remove(user.id)?;
        self.t_usernames.remove(fold(&user.username).as_str())?;
        self.t_emails.remove(fold(&user.email).as_str())?;
        self.bump_stats(Some(user), None)?;
        Ok(())
    }

    fn put_refresh(&mut self, key: &[u8; 32], session: &RefreshSession) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_refresh.insert(key.as_slice(), session.encode()?.as_slice())?;
        self.t_refresh_expiry.insert((session.expires_at, key.as_slice()), ())?;
        Ok(())
    }

    fn put_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_sessions.insert((s.user_id, s.id.as_str()), s.encode()?.as_slice())?;
        Ok(())
    }

    fn revoke_jti(&mut self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_denylist.insert(jti, exp)?;
        self.t_denylist_expiry.insert((exp, jti), ())?;
        Ok(())
    }

    fn put_hash_cost(&mut self, cost: &HashCost) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_meta.insert(META_HASH_COST, cost.encode()?.as_slice())?;
        Ok(())
    }

    fn put_keys(&mut self, keys: &KeySet) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_meta.insert(META_KEYS, keys.encode()?.as_slice())?;
        Ok(())
    }

    fn put_api_key(&mut self, hash: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_api_keys.insert(hash.as_slice(), key.encode()?.as_slice())?;
        self.t_api_key_ids.insert((key.user_id, key.id.as_str()), hash.as_slice())?;
        Ok(())
    }

    fn delete_api_key(&mut self, hash: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_api_keys.remove(hash.as_slice())?;
        self.t_api_key_ids.remove((key.user_id, key.id.as_str()))?;
        Ok(())
    }

    fn append_audit(&mut self, rec: &AuditRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.audit_append(rec)
    }

    fn purge_refresh(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.refresh_purge(now, max)
    }

    fn purge_denylist(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.denylist_purge(now, max)
    }

    fn purge_audit(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.audit_purge(before, max)
    }

    fn trim_audit(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.audit_trim(max_rows, batch)
    }

    fn purge_login_hours(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.login_hours_purge(before, max)
    }

    fn put_client(&mut self, client: &ClientRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_clients.insert(client.id.as_str(), client.encode()?.as_slice())?;
        Ok(())
    }

    fn delete_client(&mut self, id: &str) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_clients.remove(id)?;
        Ok(())
    }

    fn put_code(&mut self, key: &[u8; 32], code: &CodeRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_codes.insert(key.as_slice(), code.encode()?.as_slice())?;
        self.t_code_expiry.insert((code.expires_at, key.as_slice()), ())?;
        Ok(())
    }

    fn purge_codes(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        let mut doomed: Vec<(i64, Vec<u8>)> = Vec::new();
        for row in self.t_code_expiry.range(..(now, &[][..]))?.take(max) {
            let (k, _) = row?;
            let (exp, key) = k.value();
            doomed.push((exp, key.to_vec()));
        }
        for (exp, key) in &doomed {
            self.t_code_expiry.remove((*exp, key.as_slice()))?;
            self.t_codes.remove(key.as_slice())?;
        }
        Ok(doomed.len())
    }

    fn put_consent(
        &mut self,
        user_id: u64,
        client_id: &str,
        consent: &ConsentRecord,
    ) -> Result<(), StoreError> {
        self.dirty = true;
        self.t_consents.insert((user_id, client_id), consent.encode()?.as_slice())?;
        Ok(())
    }

    fn delete_consent(&mut self, user_id: u64, client_id: &str) -> Result<bool, StoreError> {
        self.dirty = true;
        Ok(self.t_consents.remove((user_id, client_id))?.is_some())
    }

    fn put_mfa(&mut self, user_id: u64, rec: &MfaRecord) -> Result<(), StoreError> {
        let had = self.mfa(user_id)?.is_some_and(|m| m.has_factor());
        self.dirty = true;
        self.t_mfa.insert(user_id, rec.encode()?.as_slice())?;
        self.count_mfa_user(had, rec.has_factor())
    }

    fn delete_mfa(&mut self, user_id: u64) -> Result<bool, StoreError> {
        self.dirty = true;
        let Some(old) = self.t_mfa.remove(user_id)?.map(|v| MfaRecord::decode(v.value())).transpose()? else {
            return Ok(false);
        };
        self.count_mfa_user(old.has_factor(), false)?;
        Ok(true)
    }

    fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.passkey_insert(p)
    }

    fn update_passkey(&mut self, p: &PasskeyRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.passkey_update(p)
    }

    fn delete_passkey(&mut self, user_id: u64, id: &str) -> Result<bool, StoreError> {
        self.dirty = true;
        self.passkey_delete(user_id, id)
    }

    fn put_challenge(&mut self, challenge: &[u8], rec: &ChallengeRecord) -> Result<(), StoreError> {
        self.dirty = true;
        self.challenge_put(challenge, rec)
    }

    fn take_challenge(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>, StoreError> {
        self.dirty = true;
        self.challenge_take(challenge)
    }

    fn purge_challenges(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.challenge_purge(now, max)
    }

    fn trim_challenges(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        self.dirty = true;
        self.challenge_trim(max_rows, batch)
    }
}
