//! Token introspection (RFC 7662): is this access token, refresh token or API key
//! usable right now, and whose is it? Applies exactly the checks a request would
//! (signature, expiry, revocation epochs, denylist, session state, deactivation);
//! anything that fails any of them is simply inactive. Reads only.

use super::claims::TokenKind;
use super::{Account, Auth, Error};
use crate::crypto::secrets::sha256;
use crate::store::records::RefreshState;

/// What an active credential is.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// `access_token`, `refresh_token` or `api_key`.
    pub token_type: &'static str,
    /// Its owner.
    pub user: Account,
    /// Scopes it carries now.
    pub scopes: Vec<String>,
    /// Issued at (seconds), when known.
    pub iat: Option<i64>,
    /// Expires at (seconds), when it expires.
    pub exp: Option<i64>,
    /// Token or key id.
    pub jti: Option<String>,
}

impl Auth {
    /// `Some` for an active credential, `None` for anything else.
    pub fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        if super::api_keys::is_api_key(token) {
            return Ok(self.introspect_key(token));
        }
        let Ok(claims) = self.verified_claims(token) else {
            return Ok(None);
        };
        match claims.kind {
            TokenKind::Access => Ok(self.authenticate(token).ok().map(|p| TokenInfo {
                token_type: "access_token",
                user: p.account(),
                scopes: p.scopes,
                iat: Some(claims.iat),
                exp: Some(claims.exp),
                jti: Some(claims.jti.clone()),
            })),
            // An enrollment token is no credential a resource server should accept.
            TokenKind::Enroll => Ok(None),
            TokenKind::Refresh => {
                let key = sha256(claims.jti.as_bytes());
                let found = self.store.read(|r| {
                    let Some(s) = r.refresh(&key)? else { return Ok::<_, Error>(None) };
                    // A revoked session refuses its whole family (as refresh does).
                    if r.session(s.user_id, &s.family)?.is_some_and(|row| row.revoked) {
                        return Ok(None);
                    }
                    Ok(r.user(s.user_id)?.map(|u| (s, u)))
                })?;
                Ok(found
                    .filter(|(s, u)| {
                        s.state == RefreshState::Active && s.session_epoch == u.session_epoch && u.is_active
                    })
                    .map(|(s, u)| TokenInfo {
                        token_type: "refresh_token",
                        scopes: super::roles::narrow_scopes(u.role, &s.scopes),
                        user: Account::from(u),
                        iat: Some(claims.iat),
                        exp: Some(claims.exp),
                        jti: Some(claims.jti.clone()),
                    }))
            }
        }
    }

    fn introspect_key(&self, key: &str) -> Option<TokenInfo> {
        let p = self.authenticate_key(key).ok()?;
        let (jti, exp) = match &p.credential {
            super::access::Credential::ApiKey { id } => (Some(id.clone()), self.key_expiry(id, p.user.id)),
            super::access::Credential::Access { .. } | super::access::Credential::Enrollment { .. } => {
                (None, None)
            }
        };
        Some(TokenInfo { token_type: "api_key", user: p.account(), scopes: p.scopes, iat: None, exp, jti })
    }

    fn key_expiry(&self, id: &str, owner: u64) -> Option<i64> {
        let keys = self.store.read(|r| r.api_keys_of(owner)).ok()?;
        keys.into_iter().find(|(_, k)| k.id == id)?.1.expires_at.map(|t| t.div_euclid(1_000_000))
    }
}
