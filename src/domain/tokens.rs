//! Token pairs over their life: signing a new pair for a session, refresh
//! rotation with reuse detection, and logout.
//!
//! Revocation without a scan: every user record carries two epochs. Access tokens
//! carry `ver` = the user's `token_version`; refresh sessions record the user's
//! `session_epoch`. Bumping an epoch revokes every token issued before it, exactly,
//! even within the same second. Logout revokes one access token by `jti` (denylist)
//! and one refresh session.

use super::access::Principal;
use super::claims::{Claims, TokenKind};
use super::counters::Counters;
use super::roles::{grant_scopes, narrow_scopes};
use super::{Account, Auth, Ctx, Error};
use crate::crypto::keys::Alg;
use crate::crypto::secrets::{b64url, random_bytes, sha256, uuid_v4};
use crate::store::records::{AuditEvent, RefreshSession, RefreshState, SessionRecord, User};
use crate::store::Writes;

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
    /// The account the tokens are for.
    pub user: Account,
    /// The session (refresh family) the pair belongs to: the access token's `sid`.
    pub session_id: String,
    /// For a browser sign-in, the value of its session cookie (see
    /// `oidc::browser`), which recognises the browser at the authorization endpoint.
    pub browser_cookie: Option<String>,
    /// When the user authenticated for this session.
    pub auth_time: crate::clock::Micros,
    /// How.
    pub amr: Vec<String>,
}

/// What kind of sign-in a new session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// The OpenID client its tokens are for (their `aud`), or `None` for
    /// gatehouse's own API and pages.
    pub client_id: Option<String>,
    /// A browser sign-in: the session gets a secret for the browser's cookie.
    pub browser: bool,
    /// When the user authenticated (now for a sign-in; the code's for an exchange).
    pub auth_time: crate::clock::Micros,
    /// How (RFC 8176 `amr` values).
    pub amr: Vec<String>,
}

impl Opening {
    /// A password sign-in now, to the API (`browser: false`) or the pages.
    pub fn password(now: crate::clock::Micros, browser: bool) -> Self {
        Self { client_id: None, browser, auth_time: now, amr: vec!["pwd".to_owned()] }
    }
}

/// The detail of a revoked token.
pub(super) const REVOKED: &str = "Token has been revoked";

/// A session created inside a transaction, to be signed after it commits.
pub(super) struct Issued {
    pub(super) user: User,
    pub(super) jti: String,
    pub(super) session: RefreshSession,
    pub(super) row: SessionRecord,
    /// The browser cookie's secret, for a browser sign-in.
    pub(super) browser_secret: Option<String>,
}

/// What a refresh's write transaction decided.
enum RefreshOutcome {
    Success(Box<Issued>),
    NotFound,
    Reuse,
    Revoked,
    Inactive,
}

impl Auth {
    /// Exchanges a refresh token of gatehouse's own API for a new pair (one atomic
    /// write). Presenting a token that was already exchanged revokes every session
    /// and access token of its owner. A token issued to an OpenID client is refused.
    pub fn refresh(&self, ctx: &Ctx, token: &str) -> Result<TokenPair, Error> {
        self.refresh_for(ctx, token, None)
    }

    /// [`Auth::refresh`] on behalf of `client` (`None`: the API): a refresh token
    /// is bound to the client it was issued to.
    pub(super) fn refresh_for(
        &self,
        ctx: &Ctx,
        token: &str,
        client: Option<&str>,
    ) -> Result<TokenPair, Error> {
        let claims = self
            .keyring()
            .verify::<Claims>(token, self.clock.now_secs())
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
                        "spent refresh token of session family {} presented again; all sessions revoked{}",
                        s.family,
                        Self::keys_left(tx, u.id)?
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
            if row.as_ref().and_then(|r| r.client_id.as_deref()) != client {
                return Ok(RefreshOutcome::NotFound);
            }
            s.state = RefreshState::Rotated;
            tx.put_refresh(&key, &s)?;
            let scopes = narrow_scopes(u.role, &s.scopes);
            let (jti, new_key, session) = self.new_session(&u, scopes, Some(s.family.clone()))?;
            tx.put_refresh(&new_key, &session)?;
            let now = self.clock.now_micros();
            let mut row = row.unwrap_or_else(|| {
                self.session_row(&u, &session, ctx, &Opening::password(s.created_at, false), None)
            });
            row.last_used = now;
            row.expires_at = session.expires_at;
            row.ip.clone_from(&ctx.ip);
            row.user_agent = ctx.user_agent.as_ref().map(|ua| ua.chars().take(256).collect());
            tx.put_session(&row)?;
            tx.append_audit(&self.audit_record(ctx, AuditEvent::TokenRefresh, Some(&u), None))?;
            let issued = Issued { user: u, jti, session, row, browser_secret: None };
            Ok::<_, Error>(RefreshOutcome::Success(Box::new(issued)))
        })?;
        match outcome {
            RefreshOutcome::Success(i) => {
                Counters::bump(&self.counters.tokens_refreshed);
                self.sign_pair(*i)
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
            .verify::<Claims>(refresh_token, self.clock.now_secs())
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

    /// Opens a session for `u` inside `tx` (a login, or the first-run setup): the
    /// refresh record, the session row and the login_success entry.
    pub(super) fn open_session_in(
        &self,
        tx: &mut dyn Writes,
        ctx: &Ctx,
        u: User,
        scopes: Vec<String>,
        detail: Option<String>,
        opening: &Opening,
    ) -> Result<Issued, Error> {
        let (jti, key, session) = self.new_session(&u, scopes, None)?;
        let browser_secret = if opening.browser {
            let bytes = random_bytes::<32>().map_err(|e| Error::Internal(e.to_string()))?;
            Some(b64url(&bytes))
        } else {
            None
        };
        let row = self.session_row(&u, &session, ctx, opening, browser_secret.as_deref());
        tx.put_refresh(&key, &session)?;
        tx.put_session(&row)?;
        if opening.client_id.is_none() {
            tx.append_audit(&self.audit_record(ctx, AuditEvent::LoginSuccess, Some(&u), detail))?;
        }
        Ok(Issued { user: u, jti, session, row, browser_secret })
    }

    /// Signs `user` in without a password (right after the first-run setup created
    /// them, with the setup code as the proof).
    pub fn open_session(&self, ctx: &Ctx, user_id: u64, detail: &str) -> Result<TokenPair, Error> {
        let opening = Opening::password(self.clock.now_micros(), true);
        let issued = self.store.write(|tx| {
            let u = Self::user_or_internal(tx.user(user_id)?, user_id)?;
            let scopes = grant_scopes(u.role, &[]);
            self.open_session_in(tx, ctx, u, scopes, Some(detail.to_owned()), &opening)
        })?;
        Counters::bump(&self.counters.logins_ok);
        self.sign_pair(issued)
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

    pub(super) fn sign_pair(&self, issued: Issued) -> Result<TokenPair, Error> {
        let Issued { user, jti: refresh_jti, session, row, browser_secret } = issued;
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
            nbf: None,
            exp: now.saturating_add(i64::try_from(access_ttl).unwrap_or(i64::MAX)),
            iss: keys.issuer().to_owned(),
            role: Some(user.role.as_str().to_owned()),
            scopes: Some(session.scopes.clone()),
            ver: Some(user.token_version),
            sid: Some(session.family.clone()),
            aud: row.client_id.clone(),
            amr: Some(row.amr.clone()),
        };
        let refresh = Claims {
            sub: user.username.clone(),
            uid: user.id,
            kind: TokenKind::Refresh,
            jti: refresh_jti,
            iat: now,
            nbf: None,
            exp: session.expires_at,
            iss: keys.issuer().to_owned(),
            role: None,
            scopes: None,
            ver: None,
            sid: None,
            aud: None,
            amr: None,
        };
        let sign = |c: &Claims| keys.sign(Alg::EdDSA, c).map_err(|e| Error::Internal(e.to_string()));
        Ok(TokenPair {
            access_token: sign(&access)?,
            access_jti,
            refresh_token: sign(&refresh)?,
            expires_in: access_ttl,
            scopes: session.scopes.clone(),
            session_id: session.family.clone(),
            browser_cookie: browser_secret.map(|s| format!("{}.{}.{s}", user.id, session.family)),
            auth_time: row.auth_time,
            amr: row.amr.clone(),
            user: Account::from(user),
        })
    }
}
