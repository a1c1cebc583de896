//! Passkeys and WebAuthn challenges over redb: the credential-id index that keeps
//! credential ids unique across users, and challenges with their expiry index (for
//! cleanup, and for the bound on how many may be outstanding).

use super::tx::WriteTx;
use crate::store::records::passkeys::{ChallengeRecord, PasskeyRecord};
use crate::store::{Reads, StoreError, UniqueField};
use redb::{ReadableTable, ReadableTableMetadata};

impl WriteTx<'_> {
    pub(super) fn passkey_insert(&mut self, p: &PasskeyRecord) -> Result<(), StoreError> {
        if self.t_passkey_credentials.get(p.credential_id.as_slice())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Credential));
        }
        if self.t_passkeys.get((p.user_id, p.id.as_str()))?.is_some() {
            return Err(StoreError::Database(format!("passkey id {} reused", p.id)));
        }
        self.t_passkey_credentials.insert(p.credential_id.as_slice(), (p.user_id, p.id.as_str()))?;
        self.t_passkeys.insert((p.user_id, p.id.as_str()), p.encode()?.as_slice())?;
        Ok(())
    }

    pub(super) fn passkey_update(&mut self, p: &PasskeyRecord) -> Result<(), StoreError> {
        let old = self
            .passkey(p.user_id, &p.id)?
            .ok_or_else(|| StoreError::Database(format!("passkey {} vanished during update", p.id)))?;
        if old.credential_id != p.credential_id {
            return Err(StoreError::Database("a passkey's credential id never changes".into()));
        }
        self.t_passkeys.insert((p.user_id, p.id.as_str()), p.encode()?.as_slice())?;
        Ok(())
    }

    pub(super) fn passkey_delete(&mut self, user_id: u64, id: &str) -> Result<bool, StoreError> {
        let Some(old) = self.t_passkeys.remove((user_id, id))?.map(|v| PasskeyRecord::decode(v.value()))
        else {
            return Ok(false);
        };
        self.t_passkey_credentials.remove(old?.credential_id.as_slice())?;
        Ok(true)
    }

    pub(super) fn challenge_put(
        &mut self,
        challenge: &[u8],
        rec: &ChallengeRecord,
    ) -> Result<(), StoreError> {
        if let Some(old) = self.t_challenges.insert(challenge, rec.encode()?.as_slice())? {
            let old = ChallengeRecord::decode(old.value())?;
            self.t_challenge_expiry.remove((old.expires_at, challenge))?;
        }
        self.t_challenge_expiry.insert((rec.expires_at, challenge), ())?;
        Ok(())
    }

    pub(super) fn challenge_take(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>, StoreError> {
        let Some(v) = self.t_challenges.remove(challenge)? else { return Ok(None) };
        let rec = ChallengeRecord::decode(v.value())?;
        drop(v);
        self.t_challenge_expiry.remove((rec.expires_at, challenge))?;
        Ok(Some(rec))
    }

    /// Removes up to `max` challenges in expiry order, only those expiring before
    /// `before` when given.
    fn challenge_remove_first(&mut self, before: Option<i64>, max: usize) -> Result<usize, StoreError> {
        let mut doomed: Vec<(i64, Vec<u8>)> = Vec::new();
        let end = before.unwrap_or(i64::MAX);
        for row in self.t_challenge_expiry.range(..(end, &[][..]))?.take(max) {
            let (k, _) = row?;
            let (exp, key) = k.value();
            doomed.push((exp, key.to_vec()));
        }
        for (exp, key) in &doomed {
            self.t_challenge_expiry.remove((*exp, key.as_slice()))?;
            self.t_challenges.remove(key.as_slice())?;
        }
        Ok(doomed.len())
    }

    pub(super) fn challenge_purge(&mut self, now: i64, max: usize) -> Result<usize, StoreError> {
        self.challenge_remove_first(Some(now), max)
    }

    pub(super) fn challenge_trim(&mut self, max_rows: u64, batch: usize) -> Result<usize, StoreError> {
        let excess = self.t_challenges.len()?.saturating_sub(max_rows);
        let n = usize::try_from(excess).unwrap_or(usize::MAX).min(batch);
        if n == 0 {
            return Ok(0);
        }
        self.challenge_remove_first(None, n)
    }
}
