//! Passkeys and WebAuthn challenges over the engine's tables, row for row as the
//! embedded engine keeps them (`store/embedded/passkeys.rs`): the credential-id
//! index that keeps credential ids unique across users, and challenges with their
//! expiry index (for cleanup and for the bound on how many may be outstanding).

use super::kv::Tx;
use super::sql::Span;
use super::*;
use crate::store::records::passkeys::{ChallengeRecord, PasskeyRecord};
use crate::store::rows::{i64_bytes_key, take_i64, take_u64, u64_key, u64_str_key};
use crate::store::UniqueField;

impl Tx<'_> {
    pub(super) fn passkeys_list(&self, user_id: u64) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows = self.range(PASSKEYS, Span::prefix(&u64_key(user_id)))?;
        rows.iter().map(|(_, v)| Ok(PasskeyRecord::decode(v)?)).collect()
    }

    pub(super) fn passkey_get(&self, user_id: u64, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        match self.get(PASSKEYS, &u64_str_key(user_id, id))? {
            Some(v) => Ok(Some(PasskeyRecord::decode(&v)?)),
            None => Ok(None),
        }
    }

    pub(super) fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let Some(v) = self.get(PASSKEY_CREDENTIALS, credential_id)? else { return Ok(None) };
        let (user_id, id) = take_u64(&v, "passkey index")?;
        let id = crate::store::rows::as_str(id, "passkey id")?;
        self.passkey_get(user_id, id)
    }

    pub(super) fn passkey_insert(&self, p: &PasskeyRecord) -> Result<(), StoreError> {
        if self.get(PASSKEY_CREDENTIALS, &p.credential_id)?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Credential));
        }
        let key = u64_str_key(p.user_id, &p.id);
        if self.get(PASSKEYS, &key)?.is_some() {
            return Err(StoreError::Database(format!("passkey id {} reused", p.id)));
        }
        self.put(PASSKEY_CREDENTIALS, p.credential_id.clone(), key.clone())?;
        self.put(PASSKEYS, key, p.encode()?)
    }

    pub(super) fn passkey_update(&self, p: &PasskeyRecord) -> Result<(), StoreError> {
        let old = self
            .passkey_get(p.user_id, &p.id)?
            .ok_or_else(|| StoreError::Database(format!("passkey {} vanished during update", p.id)))?;
        if old.credential_id != p.credential_id {
            return Err(StoreError::Database("a passkey's credential id never changes".into()));
        }
        self.put(PASSKEYS, u64_str_key(p.user_id, &p.id), p.encode()?)
    }

    pub(super) fn passkey_delete(&self, user_id: u64, id: &str) -> Result<bool, StoreError> {
        let Some(old) = self.passkey_get(user_id, id)? else { return Ok(false) };
        self.delete(PASSKEYS, u64_str_key(user_id, id))?;
        self.delete(PASSKEY_CREDENTIALS, old.credential_id)?;
        Ok(true)
    }

    pub(super) fn challenge_put(&self, challenge: &[u8], rec: &ChallengeRecord) -> Result<(), StoreError> {
        if let Some(old) = self.get(CHALLENGES, challenge)? {
            let old = ChallengeRecord::decode(&old)?;
            self.delete(CHALLENGE_EXPIRY, i64_bytes_key(old.expires_at, challenge))?;
        }
        self.put(CHALLENGES, challenge.to_vec(), rec.encode()?)?;
        self.put(CHALLENGE_EXPIRY, i64_bytes_key(rec.expires_at, challenge), Vec::new())
    }

    pub(super) fn challenge_take(&self, challenge: &[u8]) -> Result<Option<ChallengeRecord>, StoreError> {
        let Some(v) = self.get(CHALLENGES, challenge)? else { return Ok(None) };
        let rec = ChallengeRecord::decode(&v)?;
        self.delete(CHALLENGES, challenge.to_vec())?;
        self.delete(CHALLENGE_EXPIRY, i64_bytes_key(rec.expires_at, challenge))?;
        Ok(Some(rec))
    }

    /// Removes up to `max` challenges in expiry order, only those expiring before
    /// `before` when given.
    fn challenge_remove_first(&self, before: Option<i64>, max: usize) -> Result<usize, StoreError> {
        let span = match before {
            Some(t) => Span::before(i64_bytes_key(t, b"")),
            None => Span::all(),
        };
        let doomed: Vec<Vec<u8>> =
            self.range(CHALLENGE_EXPIRY, span.limit(max))?.into_iter().map(|(k, _)| k).collect();
        let mut challenges = Vec::with_capacity(doomed.len());
        for k in &doomed {
            challenges.push(take_i64(k, "challenge expiry")?.1.to_vec());
        }
        let n = doomed.len();
        self.delete_many(CHALLENGE_EXPIRY, doomed)?;
        self.delete_many(CHALLENGES, challenges)?;
        Ok(n)
    }

    pub(super) fn challenge_purge(&self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.challenge_remove_first(Some(now), max)
    }

    pub(super) fn challenge_trim(&self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        let excess = self.count(CHALLENGES)?.saturating_sub(max_rows);
        let n = usize::try_from(excess).unwrap_or(usize::MAX).min(batch);
        if n == 0 {
            return Ok(0);
        }
        self.challenge_remove_first(None, n)
    }
}
