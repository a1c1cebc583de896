//! The signed-in browser, as the authorization and logout endpoints see it.
//!
//! A browser sign-in (the pages, the sign-in form, the first-run setup) opens a
//! session whose row keeps the SHA-256 of a random secret; the browser holds
//! `user id . session id . secret` in an HttpOnly, `SameSite=Lax` cookie, so a
//! top-level navigation from another site (a tool sending its user to sign in)
//! carries it, where the API's `SameSite=Strict` cookies stay behind. The cookie
//! is worth exactly its session: revoking the session (sign-out, password change,
//! deactivation, reuse, an admin) ends it too.

use crate::clock::Micros;
use crate::crypto::secrets::{constant_time_eq, sha256};
use crate::domain::{Account, Auth, Error, Role};
use crate::store::records::User;

/// A browser signed in to gatehouse.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// Whose.
    pub(crate) user: User,
    /// The session (refresh family) id.
    pub session_id: String,
    /// When the user last authenticated.
    pub auth_time: Micros,
    /// How.
    pub amr: Vec<String>,
}

impl BrowserSession {
    /// The account signed in.
    pub fn account(&self) -> Account {
        Account::from(&self.user)
    }

    /// The user's id.
    pub fn user_id(&self) -> u64 {
        self.user.id
    }

    /// The user's role now.
    pub fn role(&self) -> Role {
        self.user.role
    }
}

fn parse(cookie: &str) -> Option<(u64, &str, &str)> {
    let mut parts = cookie.splitn(3, '.');
    let uid = parts.next()?.parse().ok()?;
    let sid = parts.next()?;
    let secret = parts.next()?;
    (!sid.is_empty() && !secret.is_empty() && cookie.len() <= 256).then_some((uid, sid, secret))
}

impl Auth {
    /// The session a browser's cookie names, if it is live: the secret matches, the
    /// session is not revoked or expired, its epoch is the user's, the user active.
    /// Reads only.
    pub fn browser_session(&self, cookie: &str) -> Result<Option<BrowserSession>, Error> {
        let Some((uid, sid, secret)) = parse(cookie) else { return Ok(None) };
        let now = self.clock.now_secs();
        let found = self.store.read(|r| Ok::<_, Error>(r.session(uid, sid)?.zip(r.user(uid)?)))?;
        let Some((row, user)) = found else { return Ok(None) };
        let genuine = row.browser_secret.is_some_and(|d| constant_time_eq(&d, &sha256(secret.as_bytes())));
        let live = !row.revoked && row.expires_at > now && row.session_epoch == user.session_epoch;
        if !(genuine && live && user.is_active) {
            return Ok(None);
        }
        Ok(Some(BrowserSession { user, session_id: row.id, auth_time: row.auth_time, amr: row.amr }))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn cookie_shape() {
        assert_eq!(parse("12.fam-1.c2VjcmV0"), Some((12, "fam-1", "c2VjcmV0")));
        for bad in
            ["", "12", "12.fam", "x.fam.secret", "12..secret", "12.fam.", &format!("1.f.{}", "a".repeat(300))]
        {
            assert_eq!(parse(bad), None, "{bad:.20}");
        }
    }
}
