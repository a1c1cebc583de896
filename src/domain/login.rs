//! Signing in with a password, and changing it: the hash work that costs the same
//! whatever the name, the failure counter and lockout (read and written in the
//! login's own transaction, so parallel guesses cannot exceed the limit), the
//! second factor (a code or a passkey, spent in that same transaction: it works
//! once, and wrong ones count like wrong passwords), and the session a successful login opens
//! (see `tokens.rs`).

use super::access::Principal;
use super::counters::Counters;
use super::mfa::codes::{self, Spent};
use super::mfa::webauthn::Assertion;
use super::roles::grant_scopes;
use super::tokens::{Issued, TokenPair};
use super::{validation, Auth, Ctx, Error, BAD_CREDENTIALS};
use crate::clock::Micros;
use crate::crypto::password::Verdict;
use crate::store::records::{AuditEvent, User};
use crate::store::Writes;

/// A password sign-in as asked for.
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    /// Username.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// A TOTP or recovery code, for an account with a second factor.
    pub otp: Option<&'a str>,
    /// A passkey's assertion instead of a code (it wins when both come).
    pub passkey: Option<&'a Assertion>,
    /// Scopes asked for.
    pub scopes: &'a [String],
    /// From a browser (the pages, the sign-in form): the session gets a cookie.
    pub browser: bool,
}

/// What a login's write transaction decided.
enum LoginOutcome {
    Success(Box<Issued>),
    Refused,
    /// Already locked: seconds until it unlocks.
    Locked(u64),
    /// Locked by this very failure. Counted only once the transaction committed:
    /// with group commit a write closure may run more than once.
    LockedNow(u64),
    /// Right password; the account has a second factor and no code came.
    MfaRequired,
    /// Right password; the role requires a second factor and there is none yet.
    Enroll(Box<User>),
}

pub(crate) fn is_locked(u: &User, now: Micros) -> bool {
    u.locked_until.is_some_and(|t| t > now)
}

/// Whole seconds until a lock ends (at least 1 while locked).
fn lock_secs(u: &User, now: Micros) -> u64 {
    super::phantom::secs_until(u.locked_until.unwrap_or(now), now)
}

impl Auth {
    /// Password login to the API (hashes: call with a hashing permit). Unknown,
    /// deactivated and locked accounts spend the same hash work and get the same
    /// error as a wrong password.
    pub fn login(
        &self,
        ctx: &Ctx,
        username: &str,
        password: &str,
        scopes: &[String],
    ) -> Result<TokenPair, Error> {
        self.sign_in(ctx, SignIn { username, password, otp: None, passkey: None, scopes, browser: false })
    }

    /// [`Auth::login`] from a browser (the pages, the sign-in form): the pair
    /// also carries the browser's session cookie.
    pub fn browser_login(
        &self,
        ctx: &Ctx,
        username: &str,
        password: &str,
        scopes: &[String],
    ) -> Result<TokenPair, Error> {
        self.sign_in(ctx, SignIn { username, password, otp: None, passkey: None, scopes, browser: true })
    }

    /// A password sign-in with an optional second factor (hashes: call with a
    /// hashing permit). An account with a second factor needs `otp`: without it
    /// the answer is [`Error::MfaRequired`], and a wrong one is a wrong password.
    pub fn sign_in(&self, ctx: &Ctx, req: SignIn<'_>) -> Result<TokenPair, Error> {
        let SignIn { username, password, .. } = req;
        validation::presented_password("password", password).map_err(|e| Error::Invalid(vec![e]))?;
        if let Some(code) = req.otp {
            validation::one_time_code("otp", code).map_err(|e| Error::Invalid(vec![e]))?;
        }
        if username.chars().count() > validation::MAX_USERNAME_CHARS {
            return Err(self.refuse_impossible_name(ctx, username, password));
        }
        let now = self.clock.now_micros();
        let found = self.store.read(|r| r.user_by_name(username))?;
        let seen = match found {
            Some(u) if u.is_active && !is_locked(&u, now) => u,
            other => {
                self.passwords.burn(password);
                let why = match &other {
                    None => "unknown user",
                    Some(u) if !u.is_active => "account deactivated",
                    Some(_) => "account locked",
                };
                let mut rec =
                    self.audit_record(ctx, AuditEvent::LoginFailure, other.as_ref(), Some(why.into()));
                if other.is_none() {
                    rec.username = Some(super::audit::cut(username, super::audit::MAX_UNKNOWN_NAME));
                }
                self.audit_later(rec);
                Counters::bump(&self.counters.logins_failed);
                // A locked account says so (with the time left), so its owner knows
                // to wait. Unknown and deactivated names are counted and "locked"
                // the same way, so the hint does not reveal which names exist.
                let locked = match &other {
                    Some(u) if u.is_active => Some(lock_secs(u, now)),
                    _ => self.phantom_fail(&crate::store::fold(username), now)?,
                };
                return Err(locked.map_or(Error::Unauthenticated(BAD_CREDENTIALS), Error::Locked));
            }
        };
        let verdict = self.passwords.verify(password, &seen.password_hash);
        let rehash = match verdict {
            Verdict::Match { rehash: true } => Some(self.passwords.hash(password)?),
            _ => None,
        };
        let correct = matches!(verdict, Verdict::Match { .. });
        match self.record_login(ctx, &seen, correct, rehash, &req)? {
            LoginOutcome::Success(i) => {
                Counters::bump(&self.counters.logins_ok);
                self.sign_pair(*i)
            }
            LoginOutcome::Refused => {
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Unauthenticated(BAD_CREDENTIALS))
            }
            LoginOutcome::Locked(secs) => {
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Locked(secs))
            }
            LoginOutcome::LockedNow(secs) => {
                Counters::bump(&self.counters.lockouts);
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Locked(secs))
            }
            LoginOutcome::MfaRequired => Err(Error::MfaRequired),
            LoginOutcome::Enroll(u) => Err(Error::EnrollmentRequired(self.enrollment_token(&u)?)),
        }
    }

    /// A login for a name longer than any account's: the same hash work, audit entry
    /// and 401 as an unknown name, but nothing is looked up or remembered (such names
    /// cannot be locked, so counting them would only let anyone fill memory).
    fn refuse_impossible_name(&self, ctx: &Ctx, username: &str, password: &str) -> Error {
        self.passwords.burn(password);
        let mut rec = self.audit_record(ctx, AuditEvent::LoginFailure, None, Some("unknown user".into()));
        rec.username = Some(super::audit::cut(username, super::audit::MAX_UNKNOWN_NAME));
        self.audit_later(rec);
        Counters::bump(&self.counters.logins_failed);
        Error::Unauthenticated(BAD_CREDENTIALS)
    }

    /// The write half of a login: the failure counter is read and written in the same
    /// transaction that records the result, so parallel guesses cannot exceed the
    /// limit; a success resets it, records the time and opens a refresh session.
    fn record_login(
        &self,
        ctx: &Ctx,
        seen: &User,
        correct: bool,
        rehash: Option<String>,
        req: &SignIn<'_>,
    ) -> Result<LoginOutcome, Error> {
        self.store.write(|tx| {
            let mut u = Self::user_or_internal(tx.user(seen.id)?, seen.id)?;
            let now = self.clock.now_micros();
            // Re-check inside the transaction: another request may have locked,
            // deactivated or changed the password since the caller's read.
            if !u.is_active || is_locked(&u, now) || u.password_hash != seen.password_hash {
                let rec = self.audit_record(
                    ctx,
                    AuditEvent::LoginFailure,
                    Some(&u),
                    Some("account state changed".into()),
                );
                tx.append_audit(&rec)?;
                if u.is_active && is_locked(&u, now) {
                    return Ok(LoginOutcome::Locked(lock_secs(&u, now)));
                }
                return Ok(LoginOutcome::Refused);
            }
            if u.locked_until.is_some() {
                // An expired lock: start counting afresh.
                u.locked_until = None;
                u.failed_logins = 0;
            }
            if !correct {
                return self.refuse_login(tx, ctx, &mut u, now, "wrong password");
            }
            let mut factors = tx.mfa(u.id)?.filter(|m| m.has_factor());
            let second = match (factors.as_mut(), req.otp, req.passkey) {
                (None, ..) if self.mfa_required_for(u.role) => {
                    // Nothing to guess here: the password was right.
                    u.failed_logins = 0;
                    u.updated_at = now;
                    tx.update_user(&u)?;
                    let why = Some("second factor enrollment required".to_owned());
                    tx.append_audit(&self.audit_record(ctx, AuditEvent::LoginFailure, Some(&u), why))?;
                    return Ok(LoginOutcome::Enroll(Box::new(u)));
                }
                (None, ..) => None,
                // The failure counter stays as it is: a right password alone proves
                // nothing to an account with a second factor.
                (Some(_), None, None) => return Ok(LoginOutcome::MfaRequired),
                (Some(_), _, Some(a)) => match self.spend_passkey(tx, ctx, &u, a)? {
                    Ok(()) => Some(Spent::Passkey),
                    Err(r) => {
                        let why = format!("wrong second factor: passkey refused: {}", r.reason());
                        return self.refuse_login(tx, ctx, &mut u, now, &why);
                    }
                },
                (Some(m), Some(code), None) => match codes::spend(m, code, self.clock.now_secs(), now) {
                    Some(spent) => {
                        tx.put_mfa(u.id, m)?;
                        if spent == Spent::Recovery {
                            self.note_recovery_used(tx, ctx, &u, m)?;
                        }
                        Some(spent)
                    }
                    None => return self.refuse_login(tx, ctx, &mut u, now, "wrong second factor"),
                },
            };
            u.updated_at = now;
            u.failed_logins = 0;
            u.last_login = Some(now);
            if let Some(h) = &rehash {
                u.password_hash.clone_from(h);
                self.note_hash_written(tx)?;
            }
            tx.update_user(&u)?;
            let scopes = grant_scopes(u.role, req.scopes);
            let mut opening = super::tokens::Opening::password(now, req.browser);
            opening.amr = super::mfa::password_amr(second);
            let issued = self.open_session_in(tx, ctx, u, scopes, None, &opening)?;
            Ok::<_, Error>(LoginOutcome::Success(Box::new(issued)))
        })
    }

    /// Counts a failed sign-in against `u` in `tx` and says how it ended.
    fn refuse_login(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        u: &mut User,
        now: Micros,
        why: &str,
    ) -> Result<LoginOutcome, Error> {
        let locked_now = self.count_failure(tx, ctx, u, now, why)?;
        match (locked_now, is_locked(u, now)) {
            (true, _) => Ok(LoginOutcome::LockedNow(lock_secs(u, now))),
            (false, true) => Ok(LoginOutcome::Locked(lock_secs(u, now))),
            (false, false) => Ok(LoginOutcome::Refused),
        }
    }

    /// One more failure against `u` (a wrong password, or a wrong second factor
    /// anywhere), audited, locking the account at the limit; stored in `tx`, the
    /// transaction that read `u`, so concurrent failures are all counted. Returns
    /// whether this failure locked the account: the caller bumps the lockout
    /// counter once its transaction has committed (the closure may run again).
    pub(crate) fn count_failure(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        u: &mut User,
        now: Micros,
        why: &str,
    ) -> Result<bool, Error> {
        if u.locked_until.is_some_and(|t| t <= now) {
            u.locked_until = None;
            u.failed_logins = 0;
        }
        if now.saturating_sub(u.updated_at) >= micros(self.policy.lockout) {
            // Failures a whole lock window old are forgotten, as they are for names
            // without an account (`phantom`): waiting tells them apart no more than
            // guessing does.
            u.failed_logins = 0;
        }
        u.updated_at = now;
        u.failed_logins = u.failed_logins.saturating_add(1);
        tx.append_audit(&self.audit_record(ctx, AuditEvent::LoginFailure, Some(u), Some(why.to_owned())))?;
        let max = self.policy.max_failed_logins;
        let locks = max > 0 && u.failed_logins >= max && !is_locked(u, now);
        if locks {
            u.locked_until = Some(now.saturating_add(micros(self.policy.lockout)));
            let why =
                format!("{} failed logins; locked for {} s", u.failed_logins, self.policy.lockout.as_secs());
            tx.append_audit(&self.audit_record(ctx, AuditEvent::AccountLocked, Some(u), Some(why)))?;
        }
        tx.update_user(u)?;
        Ok(locks)
    }

    /// Changes the caller's password (hashes: call with a hashing permit) and revokes
    /// every session and access token they hold.
    pub fn change_password(&self, ctx: &Ctx, who: &Principal, current: &str, new: &str) -> Result<(), Error> {
        validation::new_password("new_password", new).map_err(|e| Error::Invalid(vec![e]))?;
        const WRONG: &str = "Current password is incorrect";
        if validation::presented_password("current_password", current).is_err() {
            return Err(Error::BadRequest(WRONG));
        }
        let stored = who.user.password_hash.clone();
        if !matches!(self.passwords.verify(current, &stored), Verdict::Match { .. }) {
            return Err(Error::BadRequest(WRONG));
        }
        let fresh = self.passwords.hash(new)?;
        self.store.write(|tx| {
            let mut u = Self::user_or_internal(tx.user(who.user.id)?, who.user.id)?;
            if u.password_hash != stored {
                return Err(Error::BadRequest(WRONG));
            }
            u.password_hash.clone_from(&fresh);
            self.note_hash_written(tx)?;
            u.token_version = u.token_version.wrapping_add(1);
            u.session_epoch = u.session_epoch.wrapping_add(1);
            u.updated_at = self.clock.now_micros();
            tx.update_user(&u)?;
            let why = format!("all sessions revoked{}", Self::keys_left(tx, u.id)?);
            let rec = self.audit_record(ctx, AuditEvent::PasswordChanged, Some(&u), Some(why));
            tx.append_audit(&rec)?;
            Ok(())
        })
    }
}

fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
