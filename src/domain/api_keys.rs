//! API keys: the tutorial's single generated key (generate/revoke), named keys with
//! scopes and expiry, and authenticating a request by `X-API-Key`.
//!
//! A key is 256 random bits shown to its owner once; the store keeps only its
//! SHA-256: the first 16 bytes locate the record, and the whole digest is compared
//! in constant time. A stolen database yields no usable key.
//! Use is recorded in memory and written back in batches ([`Auth::flush_key_usage`])
//! so that authenticating with a key never writes on the request path.
//!
//! Keys imported from the tutorial's app (`lmsc_` and 64 hex digits) are stored
//! the same way, as the owner's generated key; they lack gatehouse's prefix, so a
//! presented key is recognised by having no dots (a JWT has two) rather than by
//! its prefix.

use super::access::{Credential, Principal};
use super::roles::{allowed_scopes, known_scope, scope_allowed};
use super::validation::FieldError;
use super::{ApiKeyInfo, Auth, Ctx, Error};
use crate::clock::Micros;
use crate::crypto::secrets::{constant_time_eq, hex, new_api_key, random_bytes, sha256, API_KEY_PREFIX};
use crate::store::records::{ApiKeyRecord, AuditEvent, AuditRecord};
use crate::store::StoreError;
use std::sync::PoisonError;

/// Most keys one user may hold.
pub const MAX_KEYS_PER_USER: usize = 100;
/// Longest lifetime a key may be given (ten years), in seconds.
pub const MAX_EXPIRES_IN: u64 = 10 * 365 * 86_400;
/// Write `last_used` back at most this often per key.
const USAGE_GRANULARITY: Micros = 60 * 1_000_000;

/// A key just created: the secret (shown once) and its metadata.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key itself.
    pub secret: String,
    /// Its metadata.
    pub info: ApiKeyInfo,
}

/// A named-key request (POST /api/v1/api-keys).
#[derive(Debug, Clone, Default)]
pub struct KeyRequest {
    /// Label.
    pub name: String,
    /// Requested scopes; `None` = exactly the presenting credential's.
    pub scopes: Option<Vec<String>>,
    /// Lifetime in seconds; `None` = no expiry.
    pub expires_in: Option<u64>,
}

/// Longest key accepted (longer is refused without a lookup).
const MAX_KEY_CHARS: usize = 128;
/// Shortest key without gatehouse's prefix accepted (imported ones are 69).
const MIN_FOREIGN_KEY_CHARS: usize = 32;
/// What an imported key is called in listings.
pub const IMPORTED_KEY_NAME: &str = "imported from the tutorial";

/// Whether `token` is shaped like an API key rather than a JWT: gatehouse's
/// prefix, or an imported key (no dots, long enough).
pub(super) fn is_api_key(token: &str) -> bool {
    token.len() <= MAX_KEY_CHARS
        && (token.starts_with(API_KEY_PREFIX)
            || (token.len() >= MIN_FOREIGN_KEY_CHARS && !token.contains('.')))
}

/// The stored form of a key imported from the tutorial: the owner's generated key
/// (which the tutorial's generate replaces and revoke removes), acting with
/// whatever the owner's role allows, as it did there. `id` is its new public id.
pub(super) fn imported_key(secret: &str, user_id: u64, id: String, now: Micros) -> ([u8; 16], ApiKeyRecord) {
    let (lookup, verifier) = digest(secret);
    let record = ApiKeyRecord {
        id,
        verifier,
        user_id,
        name: IMPORTED_KEY_NAME.into(),
        prefix: secret.chars().take(11).collect(),
        scopes: None,
        created_at: now,
        expires_at: None,
        last_used: None,
        legacy: true,
    };
    (lookup, record)
}

/// The lookup id and verifier of a presented or new key.
pub(super) fn digest(secret: &str) -> ([u8; 16], [u8; 32]) {
    let full = sha256(secret.as_bytes());
    let mut lookup = [0u8; 16];
    lookup.copy_from_slice(&full[..16]);
    (lookup, full)
}

fn rand_err(e: crate::crypto::secrets::RandomError) -> Error {
    Error::Internal(e.to_string())
}

fn validate(req: &KeyRequest, role: crate::store::records::Role) -> Result<(), Error> {
    let mut errors = Vec::new();
    let n = req.name.trim().chars().count();
    if n == 0 || n > 100 || req.name.chars().any(char::is_control) {
        errors.push(FieldError::value("name", "Name must be 1 to 100 printable characters"));
    }
    if let Some(scopes) = &req.scopes {
        for s in scopes {
            if !scope_allowed(role, s) {
                errors.push(FieldError::value(
                    "scopes",
                    &format!("Scope '{s}' is unknown or not allowed for your role"),
                ));
            }
        }
    }
    if let Some(e) = req.expires_in {
        if e == 0 || e > MAX_EXPIRES_IN {
            errors.push(FieldError::value("expires_in", "expires_in must be between 1 second and 10 years"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// The scopes a new key gets: those asked for, every one of which the presenting
/// credential must hold (a 403 names the first it lacks), or else exactly the
/// credential's own. A token narrowed at login (`scope=profile:read`) can never
/// mint a key that carries more than it does.
fn key_scopes(who: &Principal, asked: Option<&[String]>) -> Result<Vec<String>, Error> {
    let Some(asked) = asked else { return Ok(who.scopes.clone()) };
    for s in asked {
        if !who.scopes.contains(s) {
            return Err(match known_scope(s) {
                Some(name) => Error::MissingScope(name),
                None => Error::Invalid(vec![FieldError::value("scopes", &format!("Scope '{s}' is unknown"))]),
            });
        }
    }
    Ok(asked.to_vec())
}

impl Auth {
    /// The tutorial's POST /api-keys/generate: a new key with the presenting
    /// credential's scopes (for a full login, the owner's full rights), replacing
    /// the previous generated key (named keys are left alone).
    pub fn generate_key(&self, ctx: &Ctx, who: &Principal) -> Result<NewKey, Error> {
        let req = KeyRequest { name: "generated".into(), scopes: None, expires_in: None };
        self.insert_key(ctx, who, &req, true)
    }

    /// The tutorial's DELETE /api-keys/revoke: removes the generated key.
    pub fn revoke_generated_key(&self, ctx: &Ctx, who: &Principal) -> Result<(), Error> {
        self.store.write(|tx| {
            let legacy: Vec<_> = tx.api_keys_of(who.user.id)?.into_iter().filter(|(_, k)| k.legacy).collect();
            if legacy.is_empty() {
                return Err(Error::NotFound("No API key to revoke"));
            }
            for (hash, key) in legacy {
                tx.delete_api_key(&hash, &key)?;
                tx.append_audit(&self.key_event(ctx, who, AuditEvent::ApiKeyRevoked, &key))?;
            }
            Ok(())
        })
    }

    /// Creates a named key with optional scopes (a subset of the presenting
    /// credential's) and expiry.
    pub fn create_key(&self, ctx: &Ctx, who: &Principal, req: &KeyRequest) -> Result<NewKey, Error> {
        validate(req, who.user.role)?;
        self.insert_key(ctx, who, req, false)
    }

    fn key_event(&self, ctx: &Ctx, who: &Principal, event: AuditEvent, key: &ApiKeyRecord) -> AuditRecord {
        self.audit_record(ctx, event, Some(&who.user), Some(super::key_admin::key_text(key)))
    }

    fn insert_key(
        &self,
        ctx: &Ctx,
        who: &Principal,
        req: &KeyRequest,
        legacy: bool,
    ) -> Result<NewKey, Error> {
        let scopes = key_scopes(who, req.scopes.as_deref())?;
        let secret = new_api_key().map_err(rand_err)?;
        let (hash, verifier) = digest(&secret);
        let now = self.clock.now_micros();
        let record = ApiKeyRecord {
            id: hex(&random_bytes::<8>().map_err(rand_err)?),
            verifier,
            user_id: who.user.id,
            name: req.name.trim().to_owned(),
            prefix: secret.chars().take(API_KEY_PREFIX.len() + 6).collect(),
            scopes: Some(scopes),
            created_at: now,
            expires_at: req
                .expires_in
                .map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1_000_000))),
            last_used: None,
            legacy,
        };
        self.store.write(|tx| {
            let existing = tx.api_keys_of(who.user.id)?;
            if legacy {
                for (h, k) in existing.iter().filter(|(_, k)| k.legacy) {
                    tx.delete_api_key(h, k)?;
                    tx.append_audit(&self.key_event(ctx, who, AuditEvent::ApiKeyRevoked, k))?;
                }
            } else if existing.len() >= MAX_KEYS_PER_USER {
                return Err(Error::BadRequest("Too many API keys: delete one first (limit 100)"));
            }
            tx.put_api_key(&hash, &record)?;
            tx.append_audit(&self.key_event(ctx, who, AuditEvent::ApiKeyGenerated, &record))?;
            Ok(())
        })?;
        Ok(NewKey { secret, info: ApiKeyInfo::of(&record, who.role()) })
    }

    /// The caller's keys (metadata only), with recent use folded in.
    pub fn list_keys(&self, who: &Principal) -> Result<Vec<ApiKeyInfo>, Error> {
        let keys = self.store.read(|r| r.api_keys_of(who.user.id))?.into_iter().map(|(_, k)| k).collect();
        Ok(self.with_usage(keys).iter().map(|k| ApiKeyInfo::of(k, who.role())).collect())
    }

    /// `keys` with the use recorded in memory since the last write-back folded in,
    /// oldest first.
    pub(super) fn with_usage(&self, mut keys: Vec<ApiKeyRecord>) -> Vec<ApiKeyRecord> {
        let usage = self.key_usage.lock().unwrap_or_else(PoisonError::into_inner);
        for k in &mut keys {
            if let Some(t) = usage.get(&k.id) {
                k.last_used = Some(k.last_used.map_or(t.1, |old| old.max(t.1)));
            }
        }
        drop(usage);
        keys.sort_by_key(|k| k.created_at);
        keys
    }

    /// Deletes one of the caller's keys by id.
    pub fn delete_key(&self, ctx: &Ctx, who: &Principal, id: &str) -> Result<(), Error> {
        self.store.write(|tx| {
            let found = tx.api_keys_of(who.user.id)?.into_iter().find(|(_, k)| k.id == id);
            let Some((hash, key)) = found else {
                return Err(Error::NotFound("API key not found"));
            };
            tx.delete_api_key(&hash, &key)?;
            tx.append_audit(&self.key_event(ctx, who, AuditEvent::ApiKeyRevoked, &key))?;
            Ok(())
        })
    }

    /// Authenticates an `X-API-Key`. Reads only; use is recorded in memory.
    pub fn authenticate_key(&self, presented: &str) -> Result<Principal, Error> {
        const INVALID: &str = "Invalid API key";
        if !is_api_key(presented) {
            return Err(Error::Unauthenticated(INVALID));
        }
        let (hash, verifier) = digest(presented);
        // A shared store may answer from its invalidated cache (see `Store::read_cached`).
        let found = self.store.read_cached(|r| {
            let Some(key) = r.api_key(&hash)? else {
                return Ok::<_, StoreError>(None);
            };
            let user = r.user(key.user_id)?;
            Ok(Some((key, user)))
        })?;
        let Some((key, Some(user))) = found else {
            return Err(Error::Unauthenticated(INVALID));
        };
        if !constant_time_eq(&key.verifier, &verifier) {
            return Err(Error::Unauthenticated(INVALID));
        }
        let now = self.clock.now_micros();
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Unauthenticated("API key has expired"));
        }
        if !user.is_active {
            return Err(Error::Forbidden("API key owner account is deactivated".into()));
        }
        self.note_key_use(&key, hash, now);
        let scopes = key.scopes.clone().unwrap_or_else(|| allowed_scopes(user.role));
        Ok(Principal::new(user, &scopes, Credential::ApiKey { id: key.id }))
    }

    fn note_key_use(&self, key: &ApiKeyRecord, hash: [u8; 16], now: Micros) {
        self.key_usage.lock().unwrap_or_else(PoisonError::into_inner).insert(key.id.clone(), (hash, now));
    }

    /// Writes recorded key use back to the store (called periodically by the server).
    /// Keys used within the last minute of their stored `last_used` are skipped.
    /// Like [`Auth::flush_audit`], flushes run one at a time, so when one returns,
    /// every use recorded before it is written.
    pub fn flush_key_usage(&self) -> Result<usize, Error> {
        let _one_at_a_time = self.key_usage_flush.lock().unwrap_or_else(PoisonError::into_inner);
        let pending: Vec<(String, ([u8; 16], Micros))> =
            self.key_usage.lock().unwrap_or_else(PoisonError::into_inner).drain().collect();
        if pending.is_empty() {
            return Ok(0);
        }
        self.store.write(|tx| {
            let mut written = 0;
            for (_, (hash, at)) in &pending {
                if let Some(mut key) = tx.api_key(hash)? {
                    if key.last_used.is_none_or(|t| *at - t >= USAGE_GRANULARITY) {
                        key.last_used = Some(*at);
                        tx.put_api_key(hash, &key)?;
                        written += 1;
                    }
                }
            }
            Ok(written)
        })
    }
}
