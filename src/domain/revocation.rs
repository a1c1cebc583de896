//! Token revocation (RFC 7009): whoever holds a token may end it. An access token
//! goes on the denylist until it expires; a refresh token is revoked with its whole
//! session (its family, and every access token carrying the session's `sid`); an
//! API key is deleted. A token that is unknown, expired, forged or already revoked
//! is not an error (RFC 7009 §2.2): there is nothing left to revoke.

use super::claims::{Claims, TokenKind};
use super::counters::Counters;
use super::{Auth, Ctx, Error};
use crate::crypto::secrets::sha256;
use crate::store::records::{AuditEvent, RefreshState};

/// What a revocation request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// An access token (denylisted until its `exp`).
    AccessToken,
    /// A refresh token and the session it belongs to.
    Session,
    /// An API key.
    ApiKey,
    /// Nothing: unknown, expired, not ours, or already revoked.
    Nothing,
}

impl Auth {
    /// Revokes `token`, whatever kind it is (its own claims or prefix say which;
    /// the client's `token_type_hint` is only a hint). Possession is the proof.
    pub fn revoke_token(&self, ctx: &Ctx, token: &str) -> Result<Revoked, Error> {
        if super::api_keys::is_api_key(token) {
            return self.revoke_presented_key(ctx, token);
        }
        let Ok(claims) = self.keyring().verify::<Claims>(token, self.clock.now_secs()) else {
            return Ok(Revoked::Nothing);
        };
        let revoked = self.store.write(|tx| {
            let Some(user) = tx.user(claims.uid)?.filter(|u| u.username == claims.sub) else {
                return Ok::<_, Error>(Revoked::Nothing);
            };
            let (what, detail) = match claims.kind {
                TokenKind::Access | TokenKind::Enroll => {
                    if tx.is_revoked(&claims.jti)? {
                        return Ok(Revoked::Nothing);
                    }
                    tx.revoke_jti(&claims.jti, claims.exp)?;
                    (Revoked::AccessToken, "access token revoked (RFC 7009)".to_owned())
                }
                TokenKind::Refresh => {
                    let key = sha256(claims.jti.as_bytes());
                    let Some(mut s) = tx.refresh(&key)?.filter(|s| s.user_id == user.id) else {
                        return Ok(Revoked::Nothing);
                    };
                    let was_active = s.state == RefreshState::Active;
                    if was_active {
                        s.state = RefreshState::Revoked;
                        tx.put_refresh(&key, &s)?;
                    }
                    if !Self::end_session_row(tx, user.id, &s.family)? && !was_active {
                        return Ok(Revoked::Nothing);
                    }
                    (Revoked::Session, format!("refresh token revoked with session {} (RFC 7009)", s.family))
                }
            };
            tx.append_audit(&self.audit_record(ctx, AuditEvent::TokenRevoked, Some(&user), Some(detail)))?;
            Ok(what)
        })?;
        if revoked != Revoked::Nothing {
            Counters::bump(&self.counters.revocations);
        }
        Ok(revoked)
    }

    fn revoke_presented_key(&self, ctx: &Ctx, key: &str) -> Result<Revoked, Error> {
        let Ok(holder) = self.authenticate_key(key) else { return Ok(Revoked::Nothing) };
        let super::access::Credential::ApiKey { id } = &holder.credential else {
            return Ok(Revoked::Nothing);
        };
        match self.delete_key(ctx, &holder, id) {
            Ok(()) => Ok(Revoked::ApiKey),
            // Deleted by someone else in between: nothing left to revoke.
            Err(Error::NotFound(_)) => Ok(Revoked::Nothing),
            Err(e) => Err(e),
        }
    }
}
