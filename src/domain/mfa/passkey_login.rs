//! Signing in with a passkey: the challenge anyone may ask for, the password-less
//! sign-in (a discoverable credential with user verification: `amr` `hwk`,
//! `mfa`), and the passkey as the second step after a password (`login.rs` calls
//! [`Auth::spend_passkey`] inside its own transaction).
//!
//! The challenge names no user and the browser is given no credential ids (the
//! authenticator offers its discoverable passkeys), so an anonymous caller learns
//! nothing about any name. Every refused assertion whose credential belongs to an
//! account counts toward that account's lockout, in the transaction that checked
//! it, exactly like a wrong password; a counter that went back is also audited as
//! `passkey_counter_regression`.

use super::amr;
use super::webauthn::{self, Assertion, Refusal, RequestOptions};
use crate::crypto::secrets::random_bytes;
use crate::domain::counters::Counters;
use crate::domain::login::is_locked;
use crate::domain::roles::grant_scopes;
use crate::domain::tokens::{Issued, Opening, TokenPair};
use crate::domain::{Auth, Ctx, Error};
use crate::store::records::passkeys::{ChallengePurpose, ChallengeRecord};
use crate::store::records::{AuditEvent, User};
use crate::store::Writes;

/// The 401 detail of a refused password-less sign-in.
pub const PASSKEY_REFUSED: &str = "Passkey not accepted";

/// What a password-less sign-in's transaction decided.
enum Outcome {
    Success(Box<Issued>),
    Refused,
    Locked(u64),
}

impl Auth {
    /// A sign-in challenge (stored, single use, five minutes). Anyone may ask: the
    /// oldest outstanding challenges give way beyond a fixed number.
    pub fn passkey_request_options(&self) -> Result<RequestOptions, Error> {
        let challenge = random_bytes::<{ webauthn::CHALLENGE_LEN }>()?.to_vec();
        let expires_at = self.clock.now_secs().saturating_add(webauthn::CHALLENGE_TTL_SECS);
        let rec = ChallengeRecord { purpose: ChallengePurpose::Authenticate, expires_at };
        self.store.write(|tx| {
            tx.put_challenge(&challenge, &rec)?;
            tx.trim_challenges(webauthn::MAX_CHALLENGES, 16)?;
            Ok::<_, Error>(())
        })?;
        Ok(RequestOptions {
            rp_id: self.relying_party().id,
            challenge,
            timeout_ms: (webauthn::CHALLENGE_TTL_SECS * 1000).unsigned_abs(),
        })
    }

    /// Signs in with a discoverable passkey alone. The authenticator must have
    /// verified the user (PIN, biometrics): the passkey is then two factors.
    pub fn passkey_sign_in(&self, ctx: &Ctx, a: &Assertion, browser: bool) -> Result<TokenPair, Error> {
        let rp = self.relying_party();
        let outcome = self.store.write(|tx| {
            let now = self.clock.now_micros();
            let challenge = match webauthn::echoed_challenge(&a.client_data_json) {
                Some(key) => tx.take_challenge(&key)?,
                None => None,
            };
            let found = tx.passkey_by_credential(&a.credential_id)?;
            let Some(mut cred) = found else {
                let rec =
                    self.audit_record(ctx, AuditEvent::LoginFailure, None, Some("unknown passkey".into()));
                tx.append_audit(&rec)?;
                return Ok(Outcome::Refused);
            };
            let Some(mut u) = tx.user(cred.user_id)? else { return Ok(Outcome::Refused) };
            if !u.is_active || is_locked(&u, now) {
                let why = if u.is_active { "account locked" } else { "account deactivated" };
                tx.append_audit(&self.audit_record(
                    ctx,
                    AuditEvent::LoginFailure,
                    Some(&u),
                    Some(why.into()),
                ))?;
                return Ok(if u.is_active { Outcome::Locked(lock_secs(&u, now)) } else { Outcome::Refused });
            }
            let checked =
                webauthn::check_assertion(&rp, challenge.as_ref(), self.clock.now_secs(), a, &cred, true);
            let count = match checked {
                Ok(count) => count,
                Err(r) => return self.refuse_passkey(tx, ctx, &mut u, r),
            };
            cred.sign_count = count;
            cred.last_used_at = Some(now);
            tx.update_passkey(&cred)?;
            u.locked_until = None;
            u.failed_logins = 0;
            u.last_login = Some(now);
            u.updated_at = now;
            tx.update_user(&u)?;
            let scopes = grant_scopes(u.role, &[]);
            let opening = Opening {
                client_id: None,
                browser,
                auth_time: now,
                amr: vec![amr::HWK.to_owned(), amr::MFA.to_owned()],
            };
            let detail = Some(format!("passkey \u{201c}{}\u{201d}", cred.name));
            let issued = self.open_session_in(tx, ctx, u, scopes, detail, &opening)?;
            Ok::<_, Error>(Outcome::Success(Box::new(issued)))
        })?;
        match outcome {
            Outcome::Success(i) => {
                Counters::bump(&self.counters.logins_ok);
                self.sign_pair(*i)
            }
            Outcome::Refused => {
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Unauthenticated(PASSKEY_REFUSED))
            }
            Outcome::Locked(secs) => {
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Locked(secs))
            }
        }
    }

    /// A refused password-less assertion: one more failure for the account.
    fn refuse_passkey(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        u: &mut User,
        r: Refusal,
    ) -> Result<Outcome, Error> {
        self.note_refusal(tx, ctx, u, r)?;
        let now = self.clock.now_micros();
        self.count_failure(tx, ctx, u, now, &format!("passkey refused: {}", r.reason()))?;
        Ok(if is_locked(u, now) { Outcome::Locked(lock_secs(u, now)) } else { Outcome::Refused })
    }

    /// Audits a counter that went back (a cloned authenticator?).
    fn note_refusal(&self, tx: &mut dyn Writes, ctx: &Ctx, u: &User, r: Refusal) -> Result<(), Error> {
        if r == Refusal::Counter {
            let why = "the signature counter went back: the passkey may have been cloned; assertion refused";
            let rec = self.audit_record(ctx, AuditEvent::PasskeyCounterRegression, Some(u), Some(why.into()));
            tx.append_audit(&rec)?;
        }
        Ok(())
    }

    /// Checks a passkey assertion as `u`'s second factor, inside the sign-in's
    /// transaction `tx`: the challenge is spent, and on success the credential's
    /// counter and last use are stored. The caller counts a refusal as a failure.
    pub(crate) fn spend_passkey(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        u: &User,
        a: &Assertion,
    ) -> Result<Result<(), Refusal>, Error> {
        let Some(key) = webauthn::echoed_challenge(&a.client_data_json) else {
            return Ok(Err(Refusal::Malformed));
        };
        let challenge = tx.take_challenge(&key)?;
        let mut cred = match tx.passkey_by_credential(&a.credential_id)? {
            Some(c) if c.user_id == u.id => c,
            _ => return Ok(Err(Refusal::Credential)),
        };
        let rp = self.relying_party();
        match webauthn::check_assertion(&rp, challenge.as_ref(), self.clock.now_secs(), a, &cred, false) {
            Ok(count) => {
                cred.sign_count = count;
                cred.last_used_at = Some(self.clock.now_micros());
                tx.update_passkey(&cred)?;
                Ok(Ok(()))
            }
            Err(r) => {
                self.note_refusal(tx, ctx, u, r)?;
                Ok(Err(r))
            }
        }
    }
}

fn lock_secs(u: &User, now: crate::clock::Micros) -> u64 {
    crate::domain::phantom::secs_until(u.locked_until.unwrap_or(now), now)
}
