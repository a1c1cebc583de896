//! Logins, token pairs, refresh rotation with reuse detection, logout, password
//! changes, and checking a presented access token.
//!
//! Revocation without a scan: every user record carries two epochs. Access tokens
//! carry `ver` = the user's `token_version`; refresh sessions record the user's
//! `session_epoch`. Bumping an epoch revokes every token issued before it, exactly,
//! even within the same second. Logout revokes one access token by `jti` (denylist)
//! and one refresh session.

use super::access::{Credential, Principal};
use super::counters::Counters;
use super::roles::{grant_scopes, narrow_scopes};
use super::{validation, Auth, Ctx, Error, BAD_CREDENTIALS};
use crate::clock::Micros;
use crate::crypto::jwt::{Claims, TokenKind};
use crate::crypto::password::Verdict;
use crate::crypto::secrets::{sha256, uuid_v4};
use crate::store::records::{AuditEvent, RefreshSession, RefreshState, User};
use crate::store::WriteTx;

/// An access and refresh token issued together.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// Signed access JWT.
    pub access_token: String,
    /// The access token's id (the CSRF token of a cookie session derives from it).
    pub access_jti: String,
    /// Signed refresh JWT.
    pub refresh_token: String,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The user the tokens are for.
    pub user: User,
}

const INVALID_CREDENTIALS: &str = "Could not validate credentials";
const REVOKED: &str = "Token has been revoked";

/// A session created inside a transaction, to be signed after it commits.
struct Issued {
    user: User,
    jti: String,
    session: RefreshSession,
}

/// What a login's write transaction decided.
enum LoginOutcome {
    Success(Box<Issued>),
    Refused,
    /// Locked (now or already): seconds until it unlocks.
    Locked(u64),
}

/// What a refresh's write transaction decided.
enum RefreshOutcome {
    Success(Box<Issued>),
    NotFound,
    Reuse,
    Revoked,
    Inactive,
}

fn is_locked(u: &User, now: Micros) -> bool {
    u.locked_until.is_some_and(|t| t > now)
}

/// Whole seconds until a lock ends (at least 1 while locked).
fn lock_secs(u: &User, now: Micros) -> u64 {
    super::phantom::secs_until(u.locked_until.unwrap_or(now), now)
}

impl Auth {
    /// Password login (hashes: call with a hashing permit). Unknown, deactivated and
    /// locked accounts spend the same hash work and get the same error as a wrong
    /// password.
    pub fn login(
        &self,
        ctx: &Ctx,
        username: &str,
        password: &str,
        scopes: &[String],
    ) -> Result<TokenPair, Error> {
        validation::presented_password("password", password).map_err(|e| Error::Invalid(vec![e]))?;
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
                    rec.username = Some(username.chars().take(64).collect());
                }
                self.audit_later(rec);
                Counters::bump(&self.counters.logins_failed);
                // A locked account says so (with the time left), so its owner knows
                // to wait. Unknown and deactivated names are counted and "locked"
                // the same way, so the hint does not reveal which names exist.
                let locked = match &other {
                    Some(u) if u.is_active => Some(lock_secs(u, now)),
                    _ => self.phantom.fail(
                        &crate::store::fold(username),
                        now,
                        self.policy.max_failed_logins,
                        self.policy.lockout,
                    ),
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
        match self.record_login(ctx, &seen, correct, rehash, scopes)? {
            LoginOutcome::Success(i) => {
                Counters::bump(&self.counters.logins_ok);
                self.sign_pair(i.user, &i.jti, &i.session)
            }
            LoginOutcome::Refused => {
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Unauthenticated(BAD_CREDENTIALS))
            }
            LoginOutcome::Locked(secs) => {
                Counters::bump(&self.counters.logins_failed);
                Err(Error::Locked(secs))
            }
        }
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
        scopes: &[String],
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
            u.updated_at = now;
            if !correct {
                u.failed_logins = u.failed_logins.saturating_add(1);
                let rec =
                    self.audit_record(ctx, AuditEvent::LoginFailure, Some(&u), Some("wrong password".into()));
                tx.append_audit(&rec)?;
                let max = self.policy.max_failed_logins;
                if max > 0 && u.failed_logins >= max {
                    u.locked_until = Some(now.saturating_add(micros(self.policy.lockout)));
                    let why = format!(
                        "{} failed logins; locked for {} s",
                        u.failed_logins,
                        self.policy.lockout.as_secs()
                    );
                    tx.append_audit(&self.audit_record(ctx, AuditEvent::AccountLocked, Some(&u), Some(why)))?;
                    Counters::bump(&self.counters.lockouts);
                }
                tx.update_user(&u)?;
                if is_locked(&u, now) {
                    return Ok(LoginOutcome::Locked(lock_secs(&u, now)));
                }
                return Ok(LoginOutcome::Refused);
            }
            u.failed_logins = 0;
            u.last_login = Some(now);
            if let Some(h) = rehash {
                u.password_hash = h;
            }
            tx.update_user(&u)?;
            let scopes = grant_scopes(u.role, scopes);
            let issued = self.open_session_in(tx, ctx, u, scopes, None)?;
            Ok::<_, Error>(LoginOutcome::Success(Box::new(issued)))
        })
    }

    /// Exchanges a refresh token for a new pair (one atomic write). Presenting a
    /// token that was already exchanged revokes every session and access token of
    /// its owner.
    pub fn refresh(&self, ctx: &Ctx, token: &str) -> Result<TokenPair, Error> {
        let claims = self
            .keyring()
            .verify(token, self.clock.now_secs())
            .map_err(|_| Error::Unauthenticated("Invalid refresh token"))?;
        if claims.kind != TokenKind::Refresh {
            return Err(Error::Unauthenticated("Invalid token type"));
        }
        let key = sha256(claims.jti.as_bytes());
        let outcome = self.store.write(|tx| {
            let Some(mut s) = tx.refresh(&key)? else { return Ok(RefreshOutcome::NotFound) };
            let Some(mut u) = tx.user(s.user_id)? else { return Ok(RefreshOutcome::Inactive) };
            match s.state {
                RefreshState::Rotated => {
                    u.session_epoch = u.session_epoch.wrapping_add(1);
                    u.token_version = u.token_version.wrapping_add(1);
                    u.updated_at = self.clock.now_micros();
                    tx.update_user(&u)?;
                    let why = format!(
                        "spent refresh token of session family {} presented again; all sessions revoked",
                        s.family
                    );
                    tx.append_audit(&self.audit_record(
                        ctx,
                        AuditEvent::TokenReuseDetected,
                        Some(&u),
                        Some(why),
                    ))?;
                    return Ok(RefreshOutcome::Reuse);
                }
                RefreshState::Revoked => return Ok(RefreshOutcome::Revoked),
                RefreshState::Active => {}
            }
            if s.session_epoch != u.session_epoch {
                return Ok(RefreshOutcome::Revoked);
            }
            if !u.is_active {
                return Ok(RefreshOutcome::Inactive);
            }
            // A session row missing here predates sessions (an upgraded database):
            // it is adopted. A revoked one refuses the whole family.
            let row = tx.session(u.id, &s.family)?;
            if row.as_ref().is_some_and(|r| r.revoked || r.session_epoch != u.session_epoch) {
                return Ok(RefreshOutcome::Revoked);
            }
            s.state = RefreshState::Rotated;
            tx.put_refresh(&key, &s)?;
            let scopes = narrow_scopes(u.role, &s.scopes);
            let (jti, new_key, session) = self.new_session(&u, scopes, Some(s.family.clone()))?;
            tx.put_refresh(&new_key, &session)?;
            let now = self.clock.now_micros();
            let mut row = row.unwrap_or_else(|| self.session_row(&u, &session, ctx));
            row.last_used = now;
            row.expires_at = session.expires_at;
            row.ip.clone_from(&ctx.ip);
            row.user_agent = ctx.user_agent.as_ref().map(|ua| ua.chars().take(256).collect());
            tx.put_session(&row)?;
            tx.append_audit(&self.audit_record(ctx, AuditEvent::TokenRefresh, Some(&u), None))?;
            Ok::<_, Error>(RefreshOutcome::Success(Box::new(Issued { user: u, jti, session })))
        })?;
        match outcome {
            RefreshOutcome::Success(i) => {
                Counters::bump(&self.counters.tokens_refreshed);
                self.sign_pair(i.user, &i.jti, &i.session)
            }
            RefreshOutcome::NotFound => Err(Error::Unauthenticated("Token not found")),
            RefreshOutcome::Reuse => {
                Counters::bump(&self.counters.reuse_detected);
                Counters::bump(&self.counters.revocations);
                Err(Error::Unauthenticated(
                    "Token reuse detected. All sessions revoked. Please log in again.",
                ))
            }
            RefreshOutcome::Revoked => Err(Error::Unauthenticated(REVOKED)),
            RefreshOutcome::Inactive => Err(Error::Unauthenticated("User not found or inactive")),
        }
    }

    /// Revokes the caller's refresh token and the access token they presented.
    pub fn logout(&self, ctx: &Ctx, who: &Principal, refresh_token: &str) -> Result<(), Error> {
        let claims = self
            .keyring()
            .verify(refresh_token, self.clock.now_secs())
            .map_err(|_| Error::BadRequest("Invalid token"))?;
        if claims.kind != TokenKind::Refresh || claims.uid != who.user.id {
            return Err(Error::BadRequest("Invalid token"));
        }
        let presented = who.access_token().map(|(jti, exp)| (jti.to_owned(), exp));
        let key = sha256(claims.jti.as_bytes());
        self.store.write(|tx| {
            if let Some(mut s) = tx.refresh(&key)? {
                if s.state == RefreshState::Active {
                    s.state = RefreshState::Revoked;
                    tx.put_refresh(&key, &s)?;
                }
                Self::end_session_row(tx, s.user_id, &s.family)?;
            }
            if let Some((jti, exp)) = &presented {
                tx.revoke_jti(jti, *exp)?;
            }
            tx.append_audit(&self.audit_record(ctx, AuditEvent::Logout, Some(&who.user), None))?;
            Ok::<_, Error>(())
        })?;
        Counters::bump(&self.counters.revocations);
        Ok(())
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
            u.password_hash = fresh;
            u.token_version = u.token_version.wrapping_add(1);
            u.session_epoch = u.session_epoch.wrapping_add(1);
            u.updated_at = self.clock.now_micros();
            tx.update_user(&u)?;
            let rec = self.audit_record(
                ctx,
                AuditEvent::PasswordChanged,
                Some(&u),
                Some("all sessions revoked".into()),
            );
            tx.append_audit(&rec)?;
            Ok(())
        })
    }

    /// Checks a bearer access token: signature, expiry, type, owner, deactivation,
    /// epoch and denylist. Reads only; never writes.
    pub fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        let claims = self
            .keyring()
            .verify(token, self.clock.now_secs())
            .map_err(|_| Error::Unauthenticated(INVALID_CREDENTIALS))?;
        if claims.kind != TokenKind::Access {
            return Err(Error::Unauthenticated("Invalid token type. Use an access token."));
        }
        let (user, revoked) = self.store.read(|r| {
            let user = r.user(claims.uid)?;
            let mut revoked = r.is_revoked(&claims.jti)?;
            if let Some(sid) = &claims.sid {
                revoked |= r.session(claims.uid, sid)?.is_none_or(|s| s.revoked);
            }
            Ok::<_, Error>((user, revoked))
        })?;
        let Some(user) = user.filter(|u| u.username == claims.sub) else {
            return Err(Error::Unauthenticated(INVALID_CREDENTIALS));
        };
        if !user.is_active {
            return Err(Error::Forbidden("Account is deactivated".into()));
        }
        if claims.ver != Some(user.token_version) || revoked {
            return Err(Error::Unauthenticated(REVOKED));
        }
        let scopes = claims.scopes.unwrap_or_default();
        Ok(Principal::new(
            user,
            &scopes,
            Credential::Access { jti: claims.jti, exp: claims.exp, sid: claims.sid },
        ))
    }

    /// Opens a session for `u` inside `tx` (a login, or the first-run setup): the
    /// refresh record, the session row and the login_success entry.
    fn open_session_in(
        &self,
        tx: &mut WriteTx<'_>,
        ctx: &Ctx,
        u: User,
        scopes: Vec<String>,
        detail: Option<String>,
    ) -> Result<Issued, Error> {
        let (jti, key, session) = self.new_session(&u, scopes, None)?;
        tx.put_refresh(&key, &session)?;
        tx.put_session(&self.session_row(&u, &session, ctx))?;
        tx.append_audit(&self.audit_record(ctx, AuditEvent::LoginSuccess, Some(&u), detail))?;
        Ok(Issued { user: u, jti, session })
    }

    /// Signs `user` in without a password (right after the first-run setup created
    /// them, with the setup code as the proof).
    pub fn open_session(&self, ctx: &Ctx, user: &User, detail: &str) -> Result<TokenPair, Error> {
        let issued = self.store.write(|tx| {
            let u = Self::user_or_internal(tx.user(user.id)?, user.id)?;
            let scopes = grant_scopes(u.role, &[]);
            self.open_session_in(tx, ctx, u, scopes, Some(detail.to_owned()))
        })?;
        Counters::bump(&self.counters.logins_ok);
        self.sign_pair(issued.user, &issued.jti, &issued.session)
    }

    fn new_session(
        &self,
        u: &User,
        scopes: Vec<String>,
        family: Option<String>,
    ) -> Result<(String, [u8; 32], RefreshSession), Error> {
        let rand = |e: crate::crypto::secrets::RandomError| Error::Internal(e.to_string());
        let jti = uuid_v4().map_err(rand)?;
        let family = match family {
            Some(f) => f,
            None => uuid_v4().map_err(rand)?,
        };
        let ttl = i64::try_from(self.policy.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
        let session = RefreshSession {
            user_id: u.id,
            family,
            scopes,
            session_epoch: u.session_epoch,
            created_at: self.clock.now_micros(),
            expires_at: self.clock.now_secs().saturating_add(ttl),
            state: RefreshState::Active,
        };
        let key = sha256(jti.as_bytes());
        Ok((jti, key, session))
    }

    fn sign_pair(&self, user: User, refresh_jti: &str, session: &RefreshSession) -> Result<TokenPair, Error> {
        Counters::bump(&self.counters.tokens_issued);
        let keys = self.keyring();
        let now = self.clock.now_secs();
        let access_ttl = self.policy.access_ttl.as_secs();
        let access_jti = uuid_v4().map_err(|e| Error::Internal(e.to_string()))?;
        let access = Claims {
            sub: user.username.clone(),
            uid: user.id,
            kind: TokenKind::Access,
            jti: access_jti.clone(),
            iat: now,
            exp: now.saturating_add(i64::try_from(access_ttl).unwrap_or(i64::MAX)),
            iss: keys.issuer().to_owned(),
            role: Some(user.role.as_str().to_owned()),
            scopes: Some(session.scopes.clone()),
            ver: Some(user.token_version),
            sid: Some(session.family.clone()),
        };
        let refresh = Claims {
            sub: user.username.clone(),
            uid: user.id,
            kind: TokenKind::Refresh,
            jti: refresh_jti.to_owned(),
            iat: now,
            exp: session.expires_at,
            iss: keys.issuer().to_owned(),
            role: None,
            scopes: None,
            ver: None,
            sid: None,
        };
        let sign = |c: &Claims| keys.sign(c).map_err(|e| Error::Internal(e.to_string()));
        Ok(TokenPair {
            access_token: sign(&access)?,
            access_jti,
            refresh_token: sign(&refresh)?,
            expires_in: access_ttl,
            scopes: session.scopes.clone(),
            user,
        })
    }
}

fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
