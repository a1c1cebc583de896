//! [`Writes`] over the engine's tables, keeping the same unique indexes, counters,
//! expiry indexes and audit indexes as the embedded engine, row for row. Two
//! differences, both for concurrency between instances: the audit log's sequence
//! comes from a PostgreSQL sequence (two instances appending never conflict), and
//! the dashboard counters are rewritten only when they change (a login does not
//! conflict with every other login on that one row).

use super::kv::Tx;
use super::sql::{Op, Span};
use super::*;
use crate::store::records::mfa::MfaRecord;
use crate::store::records::oidc::{ClientRecord, CodeRecord, ConsentRecord};
use crate::store::records::passkeys::{ChallengeRecord, PasskeyRecord};
use crate::store::records::shared::PhantomRecord;
use crate::store::records::{
    ApiKeyRecord, AuditEvent, AuditRecord, HashCost, KeySet, RefreshSession, SessionRecord, User,
};
use crate::store::rows::{i64_bytes_key, put_i64, put_u64, take_i64, take_u64, u64_key, u64_str_key};
use crate::store::{fold, Reads, UniqueField, Writes};

fn micros_key(t: i64) -> u64 {
    u64::try_from(t.max(0)).unwrap_or(0)
}

impl Tx<'_> {
    fn bump_stats(&self, old: Option<&User>, new: Option<&User>) -> Result<(), StoreError> {
        let before = self.stats()?;
        let mut after = before.clone();
        after.apply(old, new);
        if after != before {
            self.put(META, META_STATS.as_bytes().to_vec(), after.encode()?)?;
        }
        let before = self.imported_hashes()?;
        let mut imported = before;
        imported.apply(old, new);
        // Written only when it changes: a database that never imported has no row.
        if imported != before {
            self.put(META, META_IMPORTED_HASHES.as_bytes().to_vec(), imported.encode()?)?;
        }
        Ok(())
    }

    /// Keeps the count of users with a second factor in step with one change.
    fn count_mfa_user(&self, had: bool, has: bool) -> Result<(), StoreError> {
        let n = self.mfa_users()?;
        let n = match (had, has) {
            (false, true) => n.saturating_add(1),
            (true, false) => n.saturating_sub(1),
            _ => return Ok(()),
        };
        self.put(META, META_MFA_USERS.as_bytes().to_vec(), n.to_le_bytes().to_vec())
    }

    /// Keys below `hi` in `t`, at most `max`.
    fn keys_before(&self, t: T, hi: Vec<u8>, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.range(t, Span::before(hi).limit(max))?.into_iter().map(|(k, _)| k).collect())
    }

    fn bump_login_hour(&self, rec: &AuditRecord) -> Result<(), StoreError> {
        let hour = u64_key(micros_key(rec.at) / 3_600_000_000);
        let (ok, failed) = match self.get(LOGIN_HOURS, &hour)? {
            Some(v) => {
                let (ok, rest) = take_u64(&v, "login totals")?;
                (ok, take_u64(rest, "login totals")?.0)
            }
            None => (0, 0),
        };
        let (ok, failed) =
            if rec.event == AuditEvent::LoginSuccess { (ok + 1, failed) } else { (ok, failed + 1) };
        let mut v = Vec::with_capacity(16);
        put_u64(&mut v, ok);
        put_u64(&mut v, failed);
        self.put(LOGIN_HOURS, hour, v)
    }

    /// Deletes up to `max` of the oldest audit entries (older than `before` when
    /// given) with their index rows.
    fn remove_oldest_audit(&self, before: Option<i64>, max: usize) -> Result<usize, StoreError> {
        let span = match before {
            Some(b) => Span::before(crate::store::rows::ints_key(&[micros_key(b), 0])),
            None => Span::all(),
        };
        let rows = self.range(AUDIT, span.limit(max))?;
        let (mut by_user, mut by_event) = (Vec::new(), Vec::new());
        for (k, v) in &rows {
            let rec = AuditRecord::decode(v)?;
            if let Some(uid) = rec.user_id {
                by_user.push([u64_key(uid).as_slice(), k].concat());
            }
            by_event.push([&[rec.event.code()][..], k].concat());
        }
        let n = rows.len();
        self.delete_many(AUDIT, rows.into_iter().map(|(k, _)| k).collect())?;
        self.delete_many(AUDIT_BY_USER, by_user)?;
        self.delete_many(AUDIT_BY_EVENT, by_event)?;
        Ok(n)
    }
}

impl Writes for Tx<'_> {
    fn insert_user_with_id(&mut self, user: &User) -> Result<bool, StoreError> {
        let (name, email) = (fold(&user.username), fold(&user.email));
        if self.get(USERNAMES, name.as_bytes())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Username));
        }
        if self.get(EMAILS, email.as_bytes())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Email));
        }
        let next = self.next_user_id()?.unwrap_or(1);
        if user.id == 0
            || user.id < next
            || user.id == u64::MAX
            || self.get(USERS, &u64_key(user.id))?.is_some()
        {
            return Ok(false);
        }
        self.put(META, META_NEXT_ID.as_bytes().to_vec(), (user.id + 1).to_le_bytes().to_vec())?;
        self.put(USERNAMES, name.into_bytes(), u64_key(user.id))?;
        self.put(EMAILS, email.into_bytes(), u64_key(user.id))?;
        self.put(USERS, u64_key(user.id), user.encode()?)?;
        self.bump_stats(None, Some(user))?;
        Ok(true)
    }

    fn insert_user(&mut self, mut user: User) -> Result<User, StoreError> {
        let (name, email) = (fold(&user.username), fold(&user.email));
        if self.get(USERNAMES, name.as_bytes())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Username));
        }
        if self.get(EMAILS, email.as_bytes())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Email));
        }
        let id = self.next_user_id()?.unwrap_or(1);
        self.put(META, META_NEXT_ID.as_bytes().to_vec(), (id + 1).to_le_bytes().to_vec())?;
        user.id = id;
        self.put(USERNAMES, name.into_bytes(), u64_key(id))?;
        self.put(EMAILS, email.into_bytes(), u64_key(id))?;
        self.put(USERS, u64_key(id), user.encode()?)?;
        self.bump_stats(None, Some(&user))?;
        Ok(user)
    }

    fn update_user(&mut self, new: &User) -> Result<(), StoreError> {
        let old = self
            .user(new.id)?
            .ok_or_else(|| StoreError::Database(format!("user {} vanished during update", new.id)))?;
        let (old_email, new_email) = (fold(&old.email), fold(&new.email));
        if old_email != new_email {
            if self.get(EMAILS, new_email.as_bytes())?.is_some() {
                return Err(StoreError::Duplicate(UniqueField::Email));
            }
            self.delete(EMAILS, old_email.into_bytes())?;
            self.put(EMAILS, new_email.into_bytes(), u64_key(new.id))?;
        }
        self.put(USERS, u64_key(new.id), new.encode()?)?;
        self.bump_stats(Some(&old), Some(new))
    }

    fn delete_user(&mut self, user: &User) -> Result<(), StoreError> {
        self.delete(USERS, u64_key(user.id))?;
        self.delete(USERNAMES, fold(&user.username).into_bytes())?;
        self.delete(EMAILS, fold(&user.email).into_bytes())?;
        self.bump_stats(Some(user), None)
    }

    fn put_hash_cost(&mut self, cost: &HashCost) -> Result<(), StoreError> {
        self.put(META, META_HASH_COST.as_bytes().to_vec(), cost.encode()?)
    }

    fn put_keys(&mut self, keys: &KeySet) -> Result<(), StoreError> {
        self.put(META, SETTINGS_KEY.to_vec(), keys.encode()?)
    }

    fn put_refresh(&mut self, key: &[u8; 32], session: &RefreshSession) -> Result<(), StoreError> {
        self.put(REFRESH, key.to_vec(), session.encode()?)?;
        self.put(REFRESH_EXPIRY, i64_bytes_key(session.expires_at, key), Vec::new())
    }

    fn put_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        self.put(SESSIONS, u64_str_key(s.user_id, &s.id), s.encode()?)
    }

    fn revoke_jti(&mut self, jti: &str, exp: i64) -> Result<(), StoreError> {
        let mut v = Vec::with_capacity(8);
        put_i64(&mut v, exp);
        self.put(DENYLIST, jti.as_bytes().to_vec(), v)?;
        self.put(DENYLIST_EXPIRY, i64_bytes_key(exp, jti.as_bytes()), Vec::new())
    }

    fn put_api_key(&mut self, lookup: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put(API_KEYS, lookup.to_vec(), key.encode()?)?;
        self.put(API_KEY_IDS, u64_str_key(key.user_id, &key.id), lookup.to_vec())
    }

    fn delete_api_key(&mut self, lookup: &[u8; 16], key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.delete(API_KEYS, lookup.to_vec())?;
        self.delete(API_KEY_IDS, u64_str_key(key.user_id, &key.id))?;
        Ok(())
    }

    fn append_audit(&mut self, rec: &AuditRecord) -> Result<(), StoreError> {
        let op = Op::Audit {
            at: u64_key(micros_key(rec.at)),
            rec: rec.encode()?,
            user: rec.user_id.map(u64_key),
            event: vec![rec.event.code()],
        };
        self.audit(op, rec)?;
        if matches!(rec.event, AuditEvent::LoginSuccess | AuditEvent::LoginFailure) {
            self.bump_login_hour(rec)?;
        }
        Ok(())
    }

    fn purge_refresh(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        let doomed = self.keys_before(REFRESH_EXPIRY, i64_bytes_key(now, b""), max)?;
        for k in &doomed {
            let (exp, key) = take_i64(k, "refresh expiry")?;
            // A session lives as long as its newest refresh token: when that one
            // expires, the session row goes too.
            if let Ok(key) = <[u8; 32]>::try_from(key) {
                if let Some(r) = self.refresh(&key)? {
                    if self.session(r.user_id, &r.family)?.is_some_and(|s| s.expires_at <= exp) {
                        self.delete(SESSIONS, u64_str_key(r.user_id, &r.family))?;
                    }
                }
            }
            self.delete(REFRESH, key.to_vec())?;
        }
        let n = doomed.len();
        self.delete_many(REFRESH_EXPIRY, doomed)?;
        Ok(n)
    }

    fn purge_denylist(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        let doomed = self.keys_before(DENYLIST_EXPIRY, i64_bytes_key(now, b""), max)?;
        let mut jtis = Vec::with_capacity(doomed.len());
        for k in &doomed {
            jtis.push(take_i64(k, "denylist expiry")?.1.to_vec());
        }
        let n = doomed.len();
        self.delete_many(DENYLIST_EXPIRY, doomed)?;
        self.delete_many(DENYLIST, jtis)?;
        Ok(n)
    }

    fn purge_audit(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        self.remove_oldest_audit(Some(before), max)
    }

    fn trim_audit(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        let excess = self.count(AUDIT)?.saturating_sub(max_rows);
        let n = usize::try_from(excess).unwrap_or(usize::MAX).min(batch);
        if n == 0 {
            return Ok(0);
        }
        self.remove_oldest_audit(None, n)
    }

    fn purge_login_hours(&mut self, before: i64, max: usize) -> Result<usize, StoreError> {
        let last = micros_key(before) / 3_600_000_000;
        let doomed = self.keys_before(LOGIN_HOURS, u64_key(last), max)?;
        let n = doomed.len();
        self.delete_many(LOGIN_HOURS, doomed)?;
        Ok(n)
    }

    fn put_client(&mut self, client: &ClientRecord) -> Result<(), StoreError> {
        self.put(CLIENTS, client.id.as_bytes().to_vec(), client.encode()?)
    }

    fn delete_client(&mut self, id: &str) -> Result<(), StoreError> {
        self.delete(CLIENTS, id.as_bytes().to_vec()).map(|_| ())
    }

    fn put_code(&mut self, key: &[u8; 32], code: &CodeRecord) -> Result<(), StoreError> {
        self.put(CODES, key.to_vec(), code.encode()?)?;
        self.put(CODE_EXPIRY, i64_bytes_key(code.expires_at, key), Vec::new())
    }

    fn purge_codes(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        let doomed = self.keys_before(CODE_EXPIRY, i64_bytes_key(now, b""), max)?;
        let mut codes = Vec::with_capacity(doomed.len());
        for k in &doomed {
            codes.push(take_i64(k, "code expiry")?.1.to_vec());
        }
        let n = doomed.len();
        self.delete_many(CODE_EXPIRY, doomed)?;
        self.delete_many(CODES, codes)?;
        Ok(n)
    }

    fn put_consent(
        &mut self,
        user_id: u64,
        client_id: &str,
        consent: &ConsentRecord,
    ) -> Result<(), StoreError> {
        self.put(CONSENTS, u64_str_key(user_id, client_id), consent.encode()?)
    }

    fn delete_consent(&mut self, user_id: u64, client_id: &str) -> Result<bool, StoreError> {
        self.delete(CONSENTS, u64_str_key(user_id, client_id))
    }

    fn put_mfa(&mut self, user_id: u64, rec: &MfaRecord) -> Result<(), StoreError> {
        let had = self.mfa(user_id)?.is_some_and(|m| m.has_factor());
        self.put(MFA, u64_key(user_id), rec.encode()?)?;
        self.count_mfa_user(had, rec.has_factor())
    }

    fn delete_mfa(&mut self, user_id: u64) -> Result<bool, StoreError> {
        let Some(old) = self.mfa(user_id)? else {
            return Ok(false);
        };
        self.delete(MFA, u64_key(user_id))?;
        self.count_mfa_user(old.has_factor(), false)?;
        Ok(true)
    }

    fn put_phantom(&mut self, digest: &[u8; 16], rec: Option<&PhantomRecord>) -> Result<(), StoreError> {
        match rec {
            Some(r) => self.put(PHANTOMS, digest.to_vec(), r.encode()?),
            None => self.delete(PHANTOMS, digest.to_vec()).map(|_| ()),
        }
    }

    fn purge_phantoms(
        &mut self,
        aged: &dyn Fn(&PhantomRecord) -> bool,
        max: usize,
    ) -> Result<usize, StoreError> {
        let mut doomed = Vec::new();
        self.scan(PHANTOMS, &mut |k, v| {
            if doomed.len() < max && aged(&PhantomRecord::decode(v)?) {
                doomed.push(k.to_vec());
            }
            Ok(())
        })?;
        let n = doomed.len();
        self.delete_many(PHANTOMS, doomed)?;
        Ok(n)
    }

    fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<(), StoreError> {
        self.passkey_insert(p)
    }

    fn update_passkey(&mut self, p: &PasskeyRecord) -> Result<(), StoreError> {
        self.passkey_update(p)
    }

    fn delete_passkey(&mut self, user_id: u64, id: &str) -> Result<bool, StoreError> {
        self.passkey_delete(user_id, id)
    }

    fn put_challenge(&mut self, challenge: &[u8], rec: &ChallengeRecord) -> Result<(), StoreError> {
        self.challenge_put(challenge, rec)
    }

    fn take_challenge(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>, StoreError> {
        self.challenge_take(challenge)
    }

    fn purge_challenges(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.challenge_purge(now, max)
    }

    fn trim_challenges(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        self.challenge_trim(max_rows, batch)
    }
}
