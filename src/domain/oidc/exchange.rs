//! The token endpoint's grants for OpenID clients (RFC 6749 §4.1.3 and §6):
//! redeeming an authorization code, and refreshing. The client is authenticated
//! first (secret, or none for a public client); every failure after that is a
//! 400 `invalid_grant`, so a client learns nothing about codes that are not its own.
//!
//! A code is single use. Its exchange and the session it opens are one write
//! transaction; a second exchange revokes that session (its refresh tokens, and
//! every access token carrying its `sid`) and fails. A refresh token is issued only
//! when `offline_access` was granted, rotates with reuse detection like the API's,
//! and is bound to its client.

use super::authorize::secs;
use super::clients::signing_alg;
use super::id_token::{at_hash, IdClaims};
use super::{has_scope, OAuthCode};
use crate::crypto::secrets::{b64url, sha256};
use crate::domain::tokens::{Issued, Opening, TokenPair};
use crate::domain::{AuditEvent, Auth, Ctx, Error};
use crate::store::records::oidc::ClientRecord;

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// `client_id` (from Basic auth or the form).
    pub id: String,
    /// `client_secret`, when the client has one.
    pub secret: Option<String>,
}

/// A grant a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientGrant {
    /// `authorization_code`.
    Code {
        /// `code`.
        code: String,
        /// `redirect_uri` (must equal the authorization request's).
        redirect_uri: Option<String>,
        /// `code_verifier` (PKCE).
        code_verifier: Option<String>,
    },
    /// `refresh_token`.
    Refresh {
        /// `refresh_token`.
        token: String,
    },
}

/// The token endpoint's answer to a client.
#[derive(Debug, Clone)]
pub struct ClientTokens {
    /// Access token (EdDSA JWT, `aud` = the client).
    pub access_token: String,
    /// Its lifetime, seconds.
    pub expires_in: u64,
    /// With `offline_access` only.
    pub refresh_token: Option<String>,
    /// With `openid` only.
    pub id_token: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

fn grant_error(why: &'static str) -> Error {
    Error::OAuth(OAuthCode::InvalidGrant, why)
}

/// A PKCE verifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// What a code exchange's transaction decided.
enum Redeemed {
    Issued(Box<Issued>, Option<String>),
    Refused(&'static str),
}

impl Auth {
    /// The token endpoint for a client: authenticate it, then grant.
    pub fn client_grant(
        &self,
        ctx: &Ctx,
        who: &ClientCredentials,
        grant: &ClientGrant,
    ) -> Result<ClientTokens, Error> {
        let client = self.authenticate_client(&who.id, who.secret.as_deref())?;
        match grant {
            ClientGrant::Code { code, redirect_uri, code_verifier } => {
                self.redeem_code(ctx, &client, code, redirect_uri.as_deref(), code_verifier.as_deref())
            }
            ClientGrant::Refresh { token } => self.refresh_client(ctx, &client, token),
        }
    }

    fn redeem_code(
        &self,
        ctx: &Ctx,
        client: &ClientRecord,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<ClientTokens, Error> {
        let key = sha256(code.as_bytes());
        let now = self.clock.now_secs();
        let outcome = self.store.write(|tx| {
            let Some(mut c) = tx.code(&key)? else { return Ok(Redeemed::Refused("the code is invalid")) };
            if let Some(family) = &c.redeemed {
                // A replay: whoever holds the code now may not be the client that
                // redeemed it first, so what it issued is revoked.
                Self::end_session_row(tx, c.user_id, family)?;
                let user = tx.user(c.user_id)?;
                let why = format!("code for client {} redeemed twice; session {family} revoked", c.client_id);
                tx.append_audit(&self.audit_record(
                    ctx,
                    AuditEvent::CodeReuseDetected,
                    user.as_ref(),
                    Some(why),
                ))?;
                return Ok(Redeemed::Refused("the code was already used; what it issued is revoked"));
            }
            if c.expires_at <= now || c.client_id != client.id {
                return Ok(Redeemed::Refused("the code is invalid or expired"));
            }
            if redirect_uri != Some(c.redirect_uri.as_str()) {
                return Ok(Redeemed::Refused("redirect_uri does not match the authorization request"));
            }
            match (&c.code_challenge, verifier) {
                (Some(challenge), Some(v))
                    if valid_verifier(v) && b64url(&sha256(v.as_bytes())) == *challenge => {}
                (Some(_), _) => {
                    return Ok(Redeemed::Refused("code_verifier does not match the code_challenge"))
                }
                (None, Some(_)) => {
                    return Ok(Redeemed::Refused("code_verifier sent, but no code_challenge was"))
                }
                (None, None) => {}
            }
            let user = tx.user(c.user_id)?.filter(|u| u.is_active && u.session_epoch == c.session_epoch);
            let Some(user) = user else { return Ok(Redeemed::Refused("the user's sessions have ended")) };
            let opening = Opening {
                client_id: Some(client.id.clone()),
                browser: false,
                auth_time: c.auth_time,
                amr: c.amr.clone(),
            };
            let issued = self.open_session_in(tx, ctx, user, c.scopes.clone(), None, &opening)?;
            c.redeemed = Some(issued.session.family.clone());
            tx.put_code(&key, &c)?;
            Ok::<_, Error>(Redeemed::Issued(Box::new(issued), c.nonce.clone()))
        })?;
        match outcome {
            Redeemed::Refused(why) => Err(grant_error(why)),
            Redeemed::Issued(issued, nonce) => {
                let pair = self.sign_pair(*issued)?;
                self.client_tokens(client, pair, nonce)
            }
        }
    }

    fn refresh_client(&self, ctx: &Ctx, client: &ClientRecord, token: &str) -> Result<ClientTokens, Error> {
        let pair = self.refresh_for(ctx, token, Some(&client.id)).map_err(|e| match e {
            Error::Unauthenticated(t) if t.starts_with("Token reuse") => {
                grant_error("refresh token reuse detected; every session of the user was revoked")
            }
            Error::Unauthenticated(_) => grant_error("the refresh token is invalid, expired or revoked"),
            other => other,
        })?;
        self.client_tokens(client, pair, None)
    }

    /// The pair as a client gets it: the refresh token only with `offline_access`,
    /// an ID token with `openid`.
    fn client_tokens(
        &self,
        client: &ClientRecord,
        pair: TokenPair,
        nonce: Option<String>,
    ) -> Result<ClientTokens, Error> {
        let id_token =
            if has_scope(&pair.scopes, "openid") { Some(self.id_token(client, &pair, nonce)?) } else { None };
        let refresh_token = has_scope(&pair.scopes, "offline_access").then_some(pair.refresh_token);
        Ok(ClientTokens {
            access_token: pair.access_token,
            expires_in: pair.expires_in,
            refresh_token,
            id_token,
            scopes: pair.scopes,
        })
    }

    fn id_token(
        &self,
        client: &ClientRecord,
        pair: &TokenPair,
        nonce: Option<String>,
    ) -> Result<String, Error> {
        let alg = signing_alg(client.id_token_alg);
        let keys = self.keyring();
        let now = self.clock.now_secs();
        let ttl = i64::try_from(self.policy.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let u = &pair.user;
        let profile = has_scope(&pair.scopes, "profile");
        let email = has_scope(&pair.scopes, "email");
        let claims = IdClaims {
            iss: keys.issuer().to_owned(),
            sub: u.id.to_string(),
            aud: client.id.clone(),
            exp: now.saturating_add(ttl),
            iat: now,
            auth_time: secs(pair.auth_time),
            nonce,
            amr: pair.amr.clone(),
            azp: client.id.clone(),
            at_hash: Some(at_hash(alg, &pair.access_token)),
            sid: Some(pair.session_id.clone()),
            name: profile.then(|| u.full_name.clone().unwrap_or_else(|| u.username.clone())),
            preferred_username: profile.then(|| u.username.clone()),
            email: email.then(|| u.email.clone()),
            email_verified: email.then_some(u.is_verified),
            role: Some(u.role.as_str().to_owned()),
        };
        keys.sign(alg, &claims).map_err(|e| Error::Internal(format!("signing an ID token: {e}")))
    }
}
