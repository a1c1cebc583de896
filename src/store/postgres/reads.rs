//! [`Reads`] over the engine's tables: the same lookups, ranges and record
//! decoding as the embedded engine, on the rows of `store::rows`.

use super::kv::Tx;
use super::sql::{RowFn, Span};
use super::*;
use crate::store::records::mfa::MfaRecord;
use crate::store::records::oidc::{ClientRecord, CodeRecord, ConsentRecord};
use crate::store::records::passkeys::PasskeyRecord;
use crate::store::records::shared::PhantomRecord;
use crate::store::records::{
    ApiKeyRecord, AuditRecord, HashCost, ImportedHashes, KeySet, RefreshSession, SessionRecord, Stats, User,
};
use crate::store::rows::{as_str, as_u64, ints_key, take_u64, u64_key, u64_str_key};
use crate::store::{fold, AuditQuery, Reads, UserPage};

/// Rows read per round trip by full scans.
const SCAN_BATCH: usize = 500;

impl Tx<'_> {
    fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(META, key)
    }

    /// `next_user_id` (stored little-endian, as the embedded engine writes it).
    pub(super) fn next_user_id(&self) -> Result<Option<u64>, StoreError> {
        match self.meta(META_NEXT_ID.as_bytes())? {
            Some(v) => Ok(Some(
                <[u8; 8]>::try_from(v.as_slice())
                    .map(u64::from_le_bytes)
                    .map_err(|_| StoreError::Decode("user id counter".into()))?,
            )),
            None => Ok(None),
        }
    }

    /// Every row of `t` in key order, `SCAN_BATCH` at a time.
    pub(super) fn scan(&self, t: T, f: RowFn<'_>) -> Result<(), StoreError> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let span = match &after {
                Some(k) => Span::from(k.clone()).skip(1),
                None => Span::all(),
            };
            let rows = self.range(t, span.limit(SCAN_BATCH))?;
            for (k, v) in &rows {
                f(k, v)?;
            }
            match rows.into_iter().last() {
                Some((k, _)) if after.as_ref().is_none_or(|a| *a < k) => after = Some(k),
                _ => return Ok(()),
            }
        }
    }

    fn audit_through(
        &self,
        index: T,
        prefix: Vec<u8>,
        lo: u64,
        hi: u64,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let keep = |r: &AuditRecord| q.event.is_none_or(|e| e == r.event);
        let (mut out, mut skipped) = (Vec::new(), 0u64);
        let mut top = [prefix.as_slice(), &ints_key(&[hi, 0])].concat();
        let bottom = [prefix.as_slice(), &ints_key(&[lo, 0])].concat();
        let want = usize::try_from(q.skip).unwrap_or(usize::MAX).saturating_add(q.limit).clamp(1, SCAN_BATCH);
        loop {
            let rows = self.range(index, Span::between(bottom.clone(), top.clone()).rev().limit(want))?;
            for (k, v) in &rows {
                let rec = match index {
                    AUDIT => AuditRecord::decode(v)?,
                    _ => match self.get(AUDIT, &k[prefix.len()..])? {
                        Some(v) => AuditRecord::decode(&v)?,
                        None => continue,
                    },
                };
                if !keep(&rec) {
                    continue;
                }
                if skipped < q.skip {
                    skipped += 1;
                } else {
                    out.push(rec);
                    if out.len() >= q.limit {
                        return Ok(out);
                    }
                }
            }
            // A full page may have more below its last (smallest) key.
            let full = rows.len() >= want;
            match rows.into_iter().last() {
                Some((k, _)) if full => top = k,
                _ => return Ok(out),
            }
        }
    }
}

fn micros_key(t: i64) -> u64 {
    u64::try_from(t.max(0)).unwrap_or(0)
}

fn decode_opt<R>(
    v: Option<Vec<u8>>,
    f: impl Fn(&[u8]) -> Result<R, postcard::Error>,
) -> Result<Option<R>, StoreError> {
    match v {
        Some(v) => Ok(Some(f(&v)?)),
        None => Ok(None),
    }
}

impl Reads for Tx<'_> {
    fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        decode_opt(self.get(USERS, &u64_key(id))?, User::decode)
    }

    fn user_id_by_name(&self, username: &str) -> Result<Option<u64>, StoreError> {
        self.get(USERNAMES, fold(username).as_bytes())?.map(|v| as_u64(&v, "user id")).transpose()
    }

    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>, StoreError> {
        self.get(EMAILS, fold(email).as_bytes())?.map(|v| as_u64(&v, "user id")).transpose()
    }

    fn users_page(&self, skip: u64, limit: usize) -> Result<UserPage, StoreError> {
        let next_id = self.next_user_id()?.unwrap_or(1);
        let dense = self.stats()?.total + 1 == next_id;
        let span = if dense { Span::from(u64_key(skip.saturating_add(1))) } else { Span::all().skip(skip) };
        let mut page = UserPage { users: Vec::new(), rows_scanned: 0 };
        for (_, v) in self.range(USERS, span.limit(limit))? {
            page.users.push(User::decode(&v)?);
        }
        let n = page.users.len() as u64;
        page.rows_scanned = if dense { n } else { skip + n };
        Ok(page)
    }

    fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<u64>, StoreError> {
        let p = fold(prefix);
        let mut ids: Vec<u64> = Vec::new();
        for index in [USERNAMES, EMAILS] {
            if ids.len() >= limit {
                break;
            }
            for (_, v) in self.range(index, Span::prefix(p.as_bytes()).limit(limit))? {
                let id = as_u64(&v, "user id")?;
                if ids.len() < limit && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    fn each_password_hash(&self, f: &mut dyn FnMut(&str)) -> Result<(), StoreError> {
        self.scan(USERS, &mut |_, v| {
            f(&User::decode(v)?.password_hash);
            Ok(())
        })
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        Ok(decode_opt(self.meta(META_STATS.as_bytes())?, Stats::decode)?.unwrap_or_default())
    }

    fn imported_hashes(&self) -> Result<ImportedHashes, StoreError> {
        Ok(decode_opt(self.meta(META_IMPORTED_HASHES.as_bytes())?, ImportedHashes::decode)?
            .unwrap_or_default())
    }

    fn hash_cost(&self) -> Result<Option<HashCost>, StoreError> {
        decode_opt(self.meta(META_HASH_COST.as_bytes())?, HashCost::decode)
    }

    fn keys(&self) -> Result<KeySet, StoreError> {
        Ok(decode_opt(self.meta(SETTINGS_KEY)?, KeySet::decode)?.unwrap_or_default())
    }

    fn refresh(&self, key: &[u8; 32]) -> Result<Option<RefreshSession>, StoreError> {
        decode_opt(self.get(REFRESH, key)?, RefreshSession::decode)
    }

    fn session(&self, user_id: u64, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        decode_opt(self.get(SESSIONS, &u64_str_key(user_id, id))?, SessionRecord::decode)
    }

    fn sessions_of(&self, user_id: u64, max: usize) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = self.range(SESSIONS, Span::prefix(&u64_key(user_id)).limit(max))?;
        rows.iter().map(|(_, v)| Ok(SessionRecord::decode(v)?)).collect()
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.get(DENYLIST, jti.as_bytes())?.is_some())
    }

    fn api_key(&self, lookup: &[u8; 16]) -> Result<Option<ApiKeyRecord>, StoreError> {
        decode_opt(self.get(API_KEYS, lookup)?, ApiKeyRecord::decode)
    }

    fn api_keys_of(&self, user_id: u64) -> Result<Vec<([u8; 16], ApiKeyRecord)>, StoreError> {
        let mut out = Vec::new();
        for (_, h) in self.range(API_KEY_IDS, Span::prefix(&u64_key(user_id)))? {
            let hash: [u8; 16] =
                h.as_slice().try_into().map_err(|_| StoreError::Decode("api key lookup id".into()))?;
            if let Some(rec) = self.api_key(&hash)? {
                out.push((hash, rec));
            }
        }
        Ok(out)
    }

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let lo = micros_key(q.since.unwrap_or(0));
        let hi = q.until.map_or(u64::MAX, micros_key);
        if lo >= hi || q.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(uid) = q.user_id {
            self.audit_through(AUDIT_BY_USER, u64_key(uid), lo, hi, q)
        } else if let Some(e) = q.event {
            self.audit_through(AUDIT_BY_EVENT, vec![e.code()], lo, hi, q)
        } else {
            self.audit_through(AUDIT, Vec::new(), lo, hi, q)
        }
    }

    fn login_hours(&self, from: u64, to: u64) -> Result<Vec<(u64, u64, u64)>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.range(LOGIN_HOURS, Span::between(u64_key(from), u64_key(to)))? {
            let (ok, rest) = take_u64(&v, "login totals")?;
            out.push((as_u64(&k, "hour")?, ok, as_u64(rest, "login totals")?));
        }
        Ok(out)
    }

    fn client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        decode_opt(self.get(CLIENTS, id.as_bytes())?, ClientRecord::decode)
    }

    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let mut out = Vec::new();
        self.scan(CLIENTS, &mut |_, v| {
            out.push(ClientRecord::decode(v)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, StoreError> {
        decode_opt(self.get(CODES, key)?, CodeRecord::decode)
    }

    fn consent(&self, user_id: u64, client_id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        decode_opt(self.get(CONSENTS, &u64_str_key(user_id, client_id))?, ConsentRecord::decode)
    }

    fn consents_of(&self, user_id: u64) -> Result<Vec<(String, ConsentRecord)>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.range(CONSENTS, Span::prefix(&u64_key(user_id)))? {
            let (_, client) = take_u64(&k, "consent key")?;
            out.push((as_str(client, "client id")?.to_owned(), ConsentRecord::decode(&v)?));
        }
        Ok(out)
    }

    fn mfa(&self, user_id: u64) -> Result<Option<MfaRecord>, StoreError> {
        decode_opt(self.get(MFA, &u64_key(user_id))?, MfaRecord::decode)
    }

    fn mfa_users(&self) -> Result<u64, StoreError> {
        match self.meta(META_MFA_USERS.as_bytes())? {
            // Little-endian, as the embedded engine writes it.
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| StoreError::Decode("mfa user counter".into())),
            None => Ok(0),
        }
    }

    fn phantom(&self, digest: &[u8; 16]) -> Result<Option<PhantomRecord>, StoreError> {
        decode_opt(self.get(PHANTOMS, digest)?, PhantomRecord::decode)
    }

    fn passkeys_of(&self, user_id: u64) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.passkeys_list(user_id)
    }

    fn passkey(&self, user_id: u64, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        self.passkey_get(user_id, id)
    }

    fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError> {
        self.passkey_by_credential_id(credential_id)
    }
}
