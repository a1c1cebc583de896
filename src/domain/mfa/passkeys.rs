//! A user's passkeys: registering one (the creation options, then the browser's
//! answer), listing, renaming and removing them. Every change is one write
//! transaction that also keeps the second-factor record's passkey count (and so
//! the dashboard's count of users with a factor) in step, with its audit entry.
//!
//! A challenge is taken out of the store by the transaction that checks the
//! answer, whether the answer is accepted or not: it never works twice.

use super::codes;
use super::webauthn::{self, CreationOptions, Refusal, Registration, RelyingParty};
use crate::clock::Micros;
use crate::crypto::secrets::{hex, random_bytes};
use crate::crypto::webauthn as wa;
use crate::domain::access::Principal;
use crate::domain::{Auth, Ctx, Error, FieldError};
use crate::store::records::passkeys::{ChallengePurpose, ChallengeRecord, PasskeyRecord};
use crate::store::records::AuditEvent;
use crate::store::Writes;

/// Longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    /// Short id (for rename and remove).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub algorithm: &'static str,
    /// May be synced to the owner's other devices.
    pub backup_eligible: bool,
    /// How the browser reaches it.
    pub transports: Vec<String>,
    /// Registered.
    pub created_at: Micros,
    /// Last used to sign in.
    pub last_used_at: Option<Micros>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(p: &PasskeyRecord) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            algorithm: wa::key_algorithm(&p.public_key).map_or("unknown", |a| a.name()),
            backup_eligible: p.backup_eligible,
            transports: p.transports.clone(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// A registered passkey, and the recovery codes made with it when it is the
/// user's first second factor (shown this once; empty otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The new passkey.
    pub passkey: PasskeyInfo,
    /// New recovery codes, or none.
    pub recovery_codes: Vec<String>,
}

/// What a registration transaction decided (a refusal still commits: the
/// challenge is spent).
enum Outcome {
    Done(Box<Registered>),
    Refused(Refusal),
    Duplicate,
}

/// A passkey name: at most 64 characters, no control characters, not only
/// spaces; kept trimmed.
fn clean_name(name: &str) -> Result<String, Error> {
    let invalid = |msg: &str| Error::Invalid(vec![FieldError::value("name", msg)]);
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("Name must not exceed 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("Name must not contain control characters"));
    }
    if name.trim().is_empty() {
        return Err(invalid("Name must not be empty"));
    }
    Ok(name.trim().to_owned())
}

impl Auth {
    /// gatehouse as a relying party (from the issuer).
    pub fn relying_party(&self) -> RelyingParty {
        RelyingParty::of(self.keyring().issuer())
    }

    /// Starts registering a passkey: a challenge for the caller (stored, single
    /// use, five minutes) and what the browser is to be asked.
    pub fn passkey_creation_options(&self, who: &Principal) -> Result<CreationOptions, Error> {
        let challenge = random_bytes::<{ webauthn::CHALLENGE_LEN }>()?.to_vec();
        let fresh_handle = random_bytes::<32>()?.to_vec();
        let expires_at = self.clock.now_secs().saturating_add(webauthn::CHALLENGE_TTL_SECS);
        let (u, existing) = self.store.write(|tx| {
            let u = self.current_user(tx, who)?;
            let existing = tx.passkeys_of(u.id)?;
            if existing.len() >= webauthn::MAX_PASSKEYS {
                return Err(Error::Conflict("You have the most passkeys allowed: remove one first"));
            }
            // One user handle per user, so an authenticator keeps one passkey for them.
            let user_handle =
                existing.first().map_or_else(|| fresh_handle.clone(), |p| p.user_handle.clone());
            let purpose = ChallengePurpose::Register { user_id: u.id, user_handle };
            tx.put_challenge(&challenge, &ChallengeRecord { purpose, expires_at })?;
            tx.trim_challenges(webauthn::MAX_CHALLENGES, 16)?;
            Ok((u, existing))
        })?;
        let user_handle = existing.first().map_or(fresh_handle, |p| p.user_handle.clone());
        Ok(CreationOptions {
            rp: self.relying_party(),
            challenge,
            user_handle,
            display_name: u.full_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or(u.username.clone()),
            user_name: u.username,
            exclude: existing.iter().map(|p| (p.credential_id.clone(), p.transports.clone())).collect(),
            timeout_ms: (webauthn::CHALLENGE_TTL_SECS * 1000).unsigned_abs(),
        })
    }

    /// Finishes registering: checks the browser's answer against the caller's
    /// challenge and stores the passkey. The first second factor also gets ten
    /// recovery codes.
    pub fn passkey_register(
        &self,
        ctx: &Ctx,
        who: &Principal,
        reg: &Registration,
        name: Option<&str>,
    ) -> Result<Registered, Error> {
        let name = name.map(clean_name).transpose()?;
        let Some(key) = webauthn::echoed_challenge(&reg.client_data_json) else {
            return Err(registration_refused(Refusal::Malformed));
        };
        let (shown, kept) = codes::new_recovery_codes()?;
        let id = hex(&random_bytes::<8>()?);
        let rp = self.relying_party();
        let outcome = self.store.write(|tx| {
            let challenge = tx.take_challenge(&key)?;
            let u = self.current_user(tx, who)?;
            let now = self.clock.now_micros();
            let new =
                match webauthn::check_registration(&rp, challenge.as_ref(), u.id, self.clock.now_secs(), reg)
                {
                    Ok(n) => n,
                    Err(r) => return Ok(Outcome::Refused(r)),
                };
            if tx.passkey_by_credential(&new.credential_id)?.is_some() {
                return Ok(Outcome::Duplicate);
            }
            let count = tx.passkeys_of(u.id)?.len();
            if count >= webauthn::MAX_PASSKEYS {
                return Err(Error::Conflict("You have the most passkeys allowed: remove one first"));
            }
            let rec = PasskeyRecord {
                id: id.clone(),
                user_id: u.id,
                credential_id: new.credential_id,
                public_key: new.public_key,
                user_handle: new.user_handle,
                sign_count: new.sign_count,
                name: name.clone().unwrap_or_else(|| format!("Passkey {}", count + 1)),
                backup_eligible: new.backup_eligible,
                transports: reg.transports.clone(),
                created_at: now,
                last_used_at: None,
            };
            tx.insert_passkey(&rec)?;
            let mut mfa = tx.mfa(u.id)?.unwrap_or_default();
            let first = !mfa.has_factor();
            mfa.passkeys = mfa.passkeys.saturating_add(1);
            if first {
                mfa.recovery.clone_from(&kept);
            }
            mfa.updated_at = now;
            tx.put_mfa(u.id, &mfa)?;
            let info = PasskeyInfo::from(&rec);
            let mut why = format!("passkey \u{201c}{}\u{201d} ({})", rec.name, info.algorithm);
            if first {
                why.push_str("; 10 recovery codes issued");
            }
            tx.append_audit(&self.audit_record(ctx, AuditEvent::PasskeyRegistered, Some(&u), Some(why)))?;
            let recovery_codes = if first { shown.clone() } else { Vec::new() };
            Ok(Outcome::Done(Box::new(Registered { passkey: info, recovery_codes })))
        })?;
        match outcome {
            Outcome::Done(r) => Ok(*r),
            Outcome::Refused(r) => Err(registration_refused(r)),
            Outcome::Duplicate => Err(Error::Conflict("This passkey is already registered")),
        }
    }

    /// The caller's passkeys, oldest first.
    pub fn passkeys(&self, who: &Principal) -> Result<Vec<PasskeyInfo>, Error> {
        let mut list = self.store.read(|r| r.passkeys_of(who.id()))?;
        list.sort_by_key(|p| p.created_at);
        Ok(list.iter().map(PasskeyInfo::from).collect())
    }

    /// Renames one of the caller's passkeys.
    pub fn passkey_rename(&self, who: &Principal, id: &str, name: &str) -> Result<PasskeyInfo, Error> {
        let name = clean_name(name)?;
        self.store.write(|tx| {
            let u = self.current_user(tx, who)?;
            let mut p = tx.passkey(u.id, id)?.ok_or(Error::NotFound("Passkey not found"))?;
            p.name.clone_from(&name);
            tx.update_passkey(&p)?;
            Ok(PasskeyInfo::from(&p))
        })
    }

    /// Removes one of the caller's passkeys. Only from a sign-in that itself used a
    /// second factor (a stolen password alone cannot take one away), and not the
    /// last factor of a role that requires one. Without any factor left the
    /// recovery codes go too.
    pub fn passkey_remove(&self, ctx: &Ctx, who: &Principal, id: &str) -> Result<(), Error> {
        if !who.multi_factor() {
            return Err(Error::Forbidden("Sign in with a second factor to remove a passkey".into()));
        }
        self.store.write(|tx| {
            let u = self.current_user(tx, who)?;
            let p = tx.passkey(u.id, id)?.ok_or(Error::NotFound("Passkey not found"))?;
            let mut mfa = tx.mfa(u.id)?.unwrap_or_default();
            if mfa.totp.is_none() && mfa.passkeys <= 1 && self.mfa_required_for(u.role) {
                return Err(Error::Forbidden(
                    "Your role requires a second factor: add another one before removing this passkey".into(),
                ));
            }
            tx.delete_passkey(u.id, id)?;
            mfa.passkeys = mfa.passkeys.saturating_sub(1);
            if !mfa.has_factor() {
                mfa.recovery.clear();
            }
            mfa.updated_at = self.clock.now_micros();
            tx.put_mfa(u.id, &mfa)?;
            let why = format!("passkey \u{201c}{}\u{201d}", p.name);
            tx.append_audit(&self.audit_record(ctx, AuditEvent::PasskeyRemoved, Some(&u), Some(why)))?;
            Ok(())
        })
    }

    /// Deletes every passkey of `user_id` in `tx` (a reset, a deleted account);
    /// how many there were. The caller settles the second-factor record.
    pub(crate) fn delete_passkeys_in(&self, tx: &mut dyn Writes, user_id: u64) -> Result<usize, Error> {
        let all = tx.passkeys_of(user_id)?;
        for p in &all {
            tx.delete_passkey(user_id, &p.id)?;
        }
        Ok(all.len())
    }
}

/// The 400 of a refused registration (the caller is signed in: the reason helps).
fn registration_refused(r: Refusal) -> Error {
    Error::BadRequest(match r {
        Refusal::Challenge => {
            "Passkey registration failed: the challenge is unknown, used or expired; start again"
        }
        Refusal::Origin => "Passkey registration failed: wrong origin",
        Refusal::RpId => "Passkey registration failed: made for another site",
        Refusal::Unsupported => "Passkey registration failed: the authenticator's algorithm is not supported",
        Refusal::Presence => "Passkey registration failed: the user was not present",
        _ => "Passkey registration failed: the authenticator's answer is invalid",
    })
}
