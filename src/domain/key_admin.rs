//! API keys seen from above: an admin (the route demands `update:any_user`) or the
//! operator lists and revokes any user's keys, and revoking a user's sessions or
//! signing out everywhere can take every key along. A key outlives a password
//! change, refresh-token reuse and an ordinary sign-out-everywhere on purpose
//! (scripts must not break on routine changes), so those audit entries say how
//! many keys still work. Owners' own key management is in `api_keys.rs`.

use super::admin::{actor_text, api_keys, protect, Actor, Target};
use super::{Account, ApiKeyInfo, Auth, Ctx, Error};
use crate::store::records::{ApiKeyRecord, AuditEvent, User};
use crate::store::Writes;

impl Auth {
    /// A user's keys (metadata, oldest first, recent use folded in), for an admin
    /// or the operator.
    pub fn keys_of(&self, target: Target<'_>) -> Result<(Account, Vec<ApiKeyInfo>), Error> {
        let (user, keys) = self
            .store
            .read(|r| {
                let found = match target {
                    Target::Id(id) => r.user(id)?,
                    Target::Name(name) => r.user_by_name(name)?,
                };
                let Some(user) = found else { return Ok::<_, Error>(None) };
                let keys = r.api_keys_of(user.id)?.into_iter().map(|(_, k)| k).collect();
                Ok(Some((user, keys)))
            })?
            .ok_or(Error::NotFound("User not found"))?;
        let keys = self.with_usage(keys).iter().map(|k| ApiKeyInfo::of(k, user.role)).collect();
        Ok((Account::from(user), keys))
    }

    /// Revokes one key of `target` (404 when the user has no key with that id). An
    /// admin may not touch a super_admin's keys unless one.
    pub fn revoke_key_of(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        target: Target<'_>,
        key_id: &str,
    ) -> Result<ApiKeyInfo, Error> {
        self.store.write(|tx| {
            let found = match target {
                Target::Id(id) => tx.user(id)?,
                Target::Name(name) => tx.user_by_name(name)?,
            };
            let Some(user) = found else { return Err(Error::NotFound("User not found")) };
            protect(actor, &user)?;
            let key = tx.api_keys_of(user.id)?.into_iter().find(|(_, k)| k.id == key_id);
            let Some((hash, key)) = key else { return Err(Error::NotFound("API key not found")) };
            tx.delete_api_key(&hash, &key)?;
            let detail = format!("{}; {}", key_text(&key), actor_text(actor));
            tx.append_audit(&self.audit_record(ctx, AuditEvent::ApiKeyRevoked, Some(&user), Some(detail)))?;
            Ok(ApiKeyInfo::of(&key, user.role))
        })
    }

    /// Deletes every key of `user` inside `tx`, with one audit entry each saying
    /// `by` whom; returns how many there were.
    pub(super) fn revoke_all_keys_in(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        user: &User,
        by: &str,
    ) -> Result<usize, Error> {
        let keys = tx.api_keys_of(user.id)?;
        for (hash, key) in &keys {
            tx.delete_api_key(hash, key)?;
            let detail = format!("{}; with every session, {by}", key_text(key));
            tx.append_audit(&self.audit_record(ctx, AuditEvent::ApiKeyRevoked, Some(user), Some(detail)))?;
        }
        Ok(keys.len())
    }

    /// For the audit entry of a revocation that leaves keys alone: `; N API keys
    /// still work`, or nothing when the user has none.
    pub(super) fn keys_left(tx: &dyn Writes, user_id: u64) -> Result<String, Error> {
        Ok(match tx.api_keys_of(user_id)?.len() {
            0 => String::new(),
            1 => "; 1 API key still works (not revoked)".to_owned(),
            n => format!("; {} still work (not revoked)", api_keys(n)),
        })
    }
}

/// A key as audit entries name it (never the key itself).
pub(super) fn key_text(key: &ApiKeyRecord) -> String {
    format!("key {} ({}, {})", key.id, key.name, key.prefix)
}
