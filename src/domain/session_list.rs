//! The sessions a user sees on the account page: one per sign-in (a refresh
//! family, the `sid` its access tokens carry), with when, where from and what
//! device; revoking one, signing out of the current one by cookie, and signing
//! out everywhere. Logins, refresh and the token checks that consult these rows
//! are in `sessions.rs`.

use super::access::Principal;
use super::counters::Counters;
use super::{Auth, Ctx, Error, SessionInfo};
use crate::store::records::{AuditEvent, RefreshSession, SessionRecord, User};
use crate::store::Writes;

/// Most sessions listed for one user (the newest first).
pub const MAX_SESSIONS_LISTED: usize = 100;

impl Auth {
    pub(super) fn session_row(
        &self,
        u: &User,
        session: &RefreshSession,
        ctx: &Ctx,
        opening: &super::tokens::Opening,
        browser_secret: Option<&str>,
    ) -> SessionRecord {
        let now = self.clock.now_micros();
        SessionRecord {
            id: session.family.clone(),
            user_id: u.id,
            created_at: now,
            last_used: now,
            expires_at: session.expires_at,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.as_ref().map(|ua| ua.chars().take(256).collect()),
            session_epoch: u.session_epoch,
            revoked: false,
            client_id: opening.client_id.clone(),
            browser_secret: browser_secret.map(|s| crate::crypto::secrets::sha256(s.as_bytes())),
            auth_time: opening.auth_time,
            amr: opening.amr.clone(),
        }
    }

    /// Marks a session revoked (kept until it expires so its family stays refused).
    /// Returns whether there was a live one.
    pub(super) fn end_session_row(tx: &mut dyn Writes, user_id: u64, id: &str) -> Result<bool, Error> {
        match tx.session(user_id, id)? {
            Some(mut row) if !row.revoked => {
                row.revoked = true;
                tx.put_session(&row)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The caller's live sessions, most recently used first.
    pub fn sessions(&self, who: &Principal) -> Result<Vec<SessionInfo>, Error> {
        let now = self.clock.now_secs();
        let epoch = who.user.session_epoch;
        let rows = self.store.read(|r| r.sessions_of(who.user.id, 10 * MAX_SESSIONS_LISTED))?;
        let mut live: Vec<SessionInfo> = rows
            .into_iter()
            .filter(|s| !s.revoked && s.session_epoch == epoch && s.expires_at > now)
            .map(|record| {
                let current = who.session_id() == Some(record.id.as_str());
                SessionInfo::of(record, current)
            })
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse(s.last_used));
        live.truncate(MAX_SESSIONS_LISTED);
        Ok(live)
    }

    /// Revokes one of the caller's sessions: its refresh tokens and every access
    /// token carrying its id stop working at once. Revoking the session in use is
    /// signing out (the access token is denylisted too).
    pub fn revoke_session(&self, ctx: &Ctx, who: &Principal, id: &str) -> Result<(), Error> {
        let current = who.session_id() == Some(id);
        let presented = who.access_token().map(|(jti, exp)| (jti.to_owned(), exp));
        self.store.write(|tx| {
            if !Self::end_session_row(tx, who.user.id, id)? {
                return Err(Error::NotFound("Session not found"));
            }
            if let (true, Some((jti, exp))) = (current, &presented) {
                tx.revoke_jti(jti, *exp)?;
            }
            let (event, detail) = if current {
                (AuditEvent::Logout, None)
            } else {
                (AuditEvent::TokenRevoked, Some(format!("session {id} revoked by its owner")))
            };
            tx.append_audit(&self.audit_record(ctx, event, Some(&who.user), detail))?;
            Ok(())
        })?;
        Counters::bump(&self.counters.revocations);
        Ok(())
    }

    /// Signs the caller out of the session their access token belongs to (cookie
    /// sign-out, where the refresh token is out of reach on its own path).
    pub fn logout_session(&self, ctx: &Ctx, who: &Principal) -> Result<(), Error> {
        match who.session_id() {
            Some(id) => {
                let id = id.to_owned();
                self.revoke_session(ctx, who, &id).or_else(|e| match e {
                    // Already ended elsewhere: signing out again is not an error.
                    Error::NotFound(_) => Ok(()),
                    other => Err(other),
                })
            }
            None => Err(Error::BadRequest("Invalid token")),
        }
    }

    /// Revokes every session and access token of the caller ("sign out
    /// everywhere"), and with `include_api_keys` every API key too.
    pub fn sign_out_everywhere(
        &self,
        ctx: &Ctx,
        who: &Principal,
        include_api_keys: bool,
    ) -> Result<(), Error> {
        self.store.write(|tx| {
            let mut u = Self::user_or_internal(tx.user(who.user.id)?, who.user.id)?;
            super::admin::change::revoke(&mut u);
            u.updated_at = self.clock.now_micros();
            tx.update_user(&u)?;
            let keys = if include_api_keys {
                let n = self.revoke_all_keys_in(tx, ctx, &u, "by its owner")?;
                format!(", and {}", super::admin::api_keys(n))
            } else {
                Self::keys_left(tx, u.id)?
            };
            let why = Some(format!("signed out everywhere by the owner{keys}"));
            tx.append_audit(&self.audit_record(ctx, AuditEvent::TokenRevoked, Some(&u), why))?;
            Ok::<_, Error>(())
        })?;
        Counters::bump(&self.counters.revocations);
        Ok(())
    }
}
