//! A user managing their own second factors: start and confirm an authenticator
//! app, remove it, regenerate recovery codes, and see where they stand. Every
//! change is one write transaction with its audit entry.

use super::codes::{self, Spent};
use super::{MfaStatus, TotpEnrollment};
use crate::crypto::secrets::random_bytes;
use crate::crypto::totp;
use crate::domain::access::Principal;
use crate::domain::{Auth, Ctx, Error};
use crate::store::records::mfa::{MfaRecord, PendingTotp, TotpFactor};
use crate::store::records::{AuditEvent, User};
use crate::store::Writes;

/// How long a handed-out secret waits for its first code.
const PENDING_SECS: i64 = 10 * 60;

/// The one answer to any wrong, reused or malformed code on these endpoints.
pub(crate) const INVALID_CODE: &str = "Invalid code";

impl Auth {
    /// How many users have a second factor (the dashboard's count, kept with every
    /// change; no scan).
    pub fn users_with_mfa(&self) -> Result<u64, Error> {
        Ok(self.store.read(|r| r.mfa_users())?)
    }

    /// Whether the caller has a second factor enrolled (whatever their current
    /// sign-in used).
    pub fn has_second_factor(&self, who: &Principal) -> Result<bool, Error> {
        Ok(self.store.read(|r| r.mfa(who.id()))?.is_some_and(|m| m.has_factor()))
    }

    /// The caller's second factors.
    pub fn mfa_status(&self, who: &Principal) -> Result<MfaStatus, Error> {
        let rec = self.store.read(|r| r.mfa(who.id()))?;
        Ok(MfaStatus::of(rec.as_ref(), self.mfa_required_for(who.role())))
    }

    /// Starts enrolling an authenticator app: a new secret, not active until
    /// [`Auth::totp_confirm`] sees a code from it. Starting again replaces the
    /// secret. 409 if one is already active (remove it first).
    pub fn totp_begin(&self, who: &Principal) -> Result<TotpEnrollment, Error> {
        let secret = random_bytes::<{ totp::SECRET_LEN }>()?.to_vec();
        let now = self.clock.now_micros();
        self.store.write(|tx| {
            let mut rec = tx.mfa(who.id())?.unwrap_or_default();
            if rec.totp.is_some() {
                return Err(Error::Conflict("TOTP is already enabled"));
            }
            rec.pending_totp = Some(PendingTotp { secret: secret.clone(), created_at: now });
            rec.updated_at = now;
            tx.put_mfa(who.id(), &rec).map_err(Error::from)
        })?;
        let encoded = totp::base32(&secret);
        let otpauth_uri = otpauth_uri(self.keyring().issuer(), who.username(), &encoded);
        Ok(TotpEnrollment { secret: encoded, otpauth_uri })
    }

    /// The `otpauth://` URI of the caller's pending secret (for the QR code), if
    /// one is waiting.
    pub fn totp_pending_uri(&self, who: &Principal) -> Result<Option<String>, Error> {
        let rec = self.store.read(|r| r.mfa(who.id()))?;
        let now = self.clock.now_micros();
        Ok(rec
            .and_then(|r| r.pending_totp)
            .filter(|p| !expired(p, now))
            .map(|p| otpauth_uri(self.keyring().issuer(), who.username(), &totp::base32(&p.secret))))
    }

    /// Confirms the pending secret with a code from it: TOTP is active from now
    /// on, and the ten recovery codes returned (shown this once) replace any
    /// earlier ones. The code's step is remembered, so it cannot sign in too.
    pub fn totp_confirm(&self, ctx: &Ctx, who: &Principal, code: &str) -> Result<Vec<String>, Error> {
        checked_code(code)?;
        let (shown, kept) = codes::new_recovery_codes()?;
        let now = self.clock.now_micros();
        self.store.write(|tx| {
            let mut rec = tx.mfa(who.id())?.unwrap_or_default();
            if rec.totp.is_some() {
                return Err(Error::Conflict("TOTP is already enabled"));
            }
            let Some(pending) = rec.pending_totp.take().filter(|p| !expired(p, now)) else {
                return Err(Error::NotFound("No TOTP enrollment in progress"));
            };
            let code = code.trim().replace(' ', "");
            let Some(step) = totp::matching_step(&pending.secret, &code, self.clock.now_secs(), 0) else {
                return Err(Error::BadRequest(INVALID_CODE));
            };
            rec.totp = Some(TotpFactor { secret: pending.secret, enrolled_at: now, last_step: step });
            rec.recovery.clone_from(&kept);
            rec.updated_at = now;
            tx.put_mfa(who.id(), &rec)?;
            let u = self.current_user(tx, who)?;
            let why = "authenticator app confirmed; 10 recovery codes issued".to_owned();
            tx.append_audit(&self.audit_record(ctx, AuditEvent::MfaEnabled, Some(&u), Some(why)))?;
            Ok(())
        })?;
        Ok(shown)
    }

    /// Removes the caller's authenticator app, given a current code or a recovery
    /// code. Without any factor left the recovery codes go too. Refused while the
    /// role requires a second factor and this is the last one.
    pub fn totp_remove(&self, ctx: &Ctx, who: &Principal, code: &str) -> Result<(), Error> {
        self.spend_for_change(
            ctx,
            who,
            code,
            |u, rec| {
                if rec.totp.is_none() {
                    return Err(Error::NotFound("TOTP is not enabled"));
                }
                if rec.passkeys == 0 && self.mfa_required_for(u.role) {
                    return Err(Error::Forbidden(
                    "Your role requires a second factor: add a passkey before removing the authenticator app"
                        .into(),
                ));
                }
                Ok(())
            },
            |tx, u, rec| {
                rec.totp = None;
                if !rec.has_factor() {
                    rec.recovery.clear();
                }
                let rec_out = rec.clone();
                tx.put_mfa(u.id, &rec_out)?;
                let why = "authenticator app removed".to_owned();
                tx.append_audit(&self.audit_record(ctx, AuditEvent::MfaDisabled, Some(u), Some(why)))?;
                Ok(())
            },
        )
    }

    /// Replaces the caller's recovery codes, given a current TOTP code or an unused
    /// recovery code; returns the new ones (shown this once).
    pub fn regenerate_recovery_codes(
        &self,
        ctx: &Ctx,
        who: &Principal,
        code: &str,
    ) -> Result<Vec<String>, Error> {
        let (shown, kept) = codes::new_recovery_codes()?;
        self.spend_for_change(
            ctx,
            who,
            code,
            |_, rec| {
                if !rec.has_factor() {
                    return Err(Error::NotFound("No second factor is enabled"));
                }
                Ok(())
            },
            |tx, u, rec| {
                rec.recovery.clone_from(&kept);
                let rec_out = rec.clone();
                tx.put_mfa(u.id, &rec_out)?;
                let why = "10 new recovery codes; the old ones no longer work".to_owned();
                tx.append_audit(&self.audit_record(
                    ctx,
                    AuditEvent::RecoveryCodesRegenerated,
                    Some(u),
                    Some(why),
                ))?;
                Ok(())
            },
        )?;
        Ok(shown)
    }

    /// The shape of a change that needs a code: `check` the record, spend the code
    /// (a wrong one counts toward the lockout, and a locked account's codes are not
    /// even looked at), then `apply` — all in one transaction.
    fn spend_for_change(
        &self,
        ctx: &Ctx,
        who: &Principal,
        code: &str,
        check: impl Fn(&User, &MfaRecord) -> Result<(), Error>,
        apply: impl Fn(&mut dyn Writes, &User, &mut MfaRecord) -> Result<(), Error>,
    ) -> Result<(), Error> {
        checked_code(code)?;
        let (failed, locked_now) = self.store.write(|tx| {
            let mut u = self.current_user(tx, who)?;
            let mut rec = tx.mfa(u.id)?.unwrap_or_default();
            check(&u, &rec)?;
            let now = self.clock.now_micros();
            if crate::domain::login::is_locked(&u, now) {
                return Ok::<_, Error>((true, false));
            }
            match codes::spend(&mut rec, code, self.clock.now_secs(), now) {
                Some(spent) => {
                    if spent == Spent::Recovery {
                        self.note_recovery_used(tx, ctx, &u, &rec)?;
                    }
                    apply(tx, &u, &mut rec)?;
                    Ok((false, false))
                }
                None => Ok((true, self.count_failure(tx, ctx, &mut u, now, "wrong second factor")?)),
            }
        })?;
        // After the commit: the closure may have run more than once.
        if locked_now {
            crate::domain::counters::Counters::bump(&self.counters.lockouts);
        }
        if failed {
            return Err(Error::BadRequest(INVALID_CODE));
        }
        Ok(())
    }

    /// Audits a spent recovery code (how many are left is worth knowing).
    pub(crate) fn note_recovery_used(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        u: &User,
        rec: &MfaRecord,
    ) -> Result<(), Error> {
        let why = format!("{} recovery codes left", codes::recovery_left(rec));
        tx.append_audit(&self.audit_record(ctx, AuditEvent::RecoveryCodeUsed, Some(u), Some(why)))?;
        Ok(())
    }

    /// The caller's record as stored now (it may have changed since the token check).
    pub(super) fn current_user(&self, tx: &mut dyn Writes, who: &Principal) -> Result<User, Error> {
        tx.user(who.id())?
            .filter(|u| u.is_active)
            .ok_or(Error::Unauthenticated("Could not validate credentials"))
    }
}

/// A code longer than any is a 422, before anything is looked up.
fn checked_code(code: &str) -> Result<(), Error> {
    crate::domain::validation::one_time_code("code", code).map_err(|e| Error::Invalid(vec![e]))
}

fn expired(p: &PendingTotp, now: crate::clock::Micros) -> bool {
    now.saturating_sub(p.created_at) > PENDING_SECS * 1_000_000
}

/// `otpauth://totp/ISSUER:USER?secret=…&issuer=ISSUER&…` (the Key URI format
/// authenticator apps read). The issuer is the host of gatehouse's issuer URL,
/// without its port (a colon would end the label's issuer part).
pub fn otpauth_uri(issuer_url: &str, username: &str, secret_b32: &str) -> String {
    let host = issuer_url
        .split_once("://")
        .map_or(issuer_url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    let issuer = if host.is_empty() { "gatehouse" } else { host };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={}&period={}",
        percent(issuer),
        percent(username),
        percent(issuer),
        totp::DIGITS,
        totp::STEP_SECS
    )
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otpauth_uri_names_the_host_and_user() {
        assert_eq!(
            otpauth_uri("https://auth.example.com:8443", "alice", "ABC"),
            "otpauth://totp/auth.example.com:alice?secret=ABC&issuer=auth.example.com&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            otpauth_uri("https://[::1]:8443/x", "a b&c", "ABC"),
            "otpauth://totp/%5B%3A%3A1%5D:a%20b%26c?secret=ABC&issuer=%5B%3A%3A1%5D&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("", "bob", "A").starts_with("otpauth://totp/gatehouse:bob?"));
    }

    #[test]
    fn pending_secrets_expire() {
        let p = PendingTotp { secret: vec![], created_at: 0 };
        assert!(!expired(&p, PENDING_SECS * 1_000_000));
        assert!(expired(&p, PENDING_SECS * 1_000_000 + 1));
    }
}
