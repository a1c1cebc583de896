//! Checking a presented access token: signature, expiry, type, owner,
//! deactivation, epoch, denylist and session state. Reads only; never writes.
//!
//! The signature and parse work of a token seen before is remembered
//! ([`verified_tokens`](super::verified_tokens)); everything that can revoke a
//! token is read from the store on every call, so logout, a password change,
//! deactivation, a role change or a session's revocation refuse the very next
//! request whether or not the token is remembered.

use super::access::{Credential, Principal};
use super::claims::{Claims, TokenKind};
use super::tokens::REVOKED;
use super::{Auth, Error};
use crate::crypto::jwt::{TokenError, MAX_TOKEN_BYTES};
use crate::crypto::secrets::sha256;
use std::sync::Arc;

const INVALID_CREDENTIALS: &str = "Could not validate credentials";

impl Auth {
    /// Checks a bearer access token: signature, expiry, type, owner, deactivation,
    /// epoch and denylist. Reads only; never writes.
    pub fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        self.check_token(token, false)
    }

    /// [`Auth::authenticate`], also accepting an enrollment token when `enrolling`
    /// (only the second-factor enrollment endpoints ask for that).
    pub(super) fn check_token(&self, token: &str, enrolling: bool) -> Result<Principal, Error> {
        let claims = self.verified_claims(token).map_err(|_| Error::Unauthenticated(INVALID_CREDENTIALS))?;
        match claims.kind {
            TokenKind::Access => {}
            TokenKind::Enroll if enrolling => {}
            TokenKind::Refresh | TokenKind::Enroll => {
                return Err(Error::Unauthenticated("Invalid token type. Use an access token."))
            }
        }
        // A shared store answers these from a cache that every committed write
        // invalidates in every instance before it is acknowledged: no round trip
        // per check, and revocation stays exact (see `Store::read_cached`).
        let (user, revoked) = self.store.read_cached(|r| {
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
        let credential = match claims.kind {
            TokenKind::Enroll => Credential::Enrollment { jti: claims.jti.clone() },
            _ => Credential::Access {
                jti: claims.jti.clone(),
                exp: claims.exp,
                sid: claims.sid.clone(),
                amr: claims.amr.clone().unwrap_or_default(),
            },
        };
        Ok(Principal::new(user, claims.scopes.as_deref().unwrap_or_default(), credential))
    }

    /// How many verified access tokens are remembered now (bounded; for tests and
    /// metrics).
    pub fn remembered_tokens(&self) -> usize {
        self.verified.len()
    }

    /// The claims of a token whose signature, issuer and times verify under the
    /// keyring in force. An access token verified before (under the same keyring,
    /// and still within its times) is not verified again; see
    /// [`verified_tokens`](super::verified_tokens).
    pub(super) fn verified_claims(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        let ring = self.keyring();
        let now = self.clock.now_secs();
        if token.len() > MAX_TOKEN_BYTES {
            return ring.verify::<Claims>(token, now).map(Arc::new);
        }
        let digest = sha256(token.as_bytes());
        if let Some(claims) = self.verified.get(&ring, &digest, now) {
            return Ok(claims);
        }
        let claims = Arc::new(ring.verify::<Claims>(token, now)?);
        // Refresh tokens are exchanged once: remembering them would only take room.
        if claims.kind == TokenKind::Access {
            self.verified.put(&ring, digest, Arc::clone(&claims));
        }
        Ok(claims)
    }
}
