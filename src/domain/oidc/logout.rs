//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a tool sends the
//! browser here to end the gatehouse session, optionally naming itself (an
//! `id_token_hint` it received, or `client_id`) and where to go afterwards. That
//! place must be one of the client's registered post-logout URIs, exactly: anything
//! else is refused on a page, never followed (no open redirect). Without a valid
//! hint the user confirms on a page first, so no other site can sign them out
//! with a mere link.

use super::browser::BrowserSession;
use super::id_token::IdClaims;
use crate::domain::{AuditEvent, Auth, Ctx, Error};

/// An end-session request as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutParams {
    /// An ID token gatehouse issued (expired ones too).
    pub id_token_hint: Option<String>,
    /// The client asking.
    pub client_id: Option<String>,
    /// Where to send the browser afterwards.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed back to it.
    pub state: Option<String>,
}

/// What an end-session request will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutPlan {
    /// Whom the hint named (the ID token's `sub`), when there was a valid one.
    pub hinted_user: Option<u64>,
    /// The redirect afterwards (the registered URI) and its `state`.
    pub redirect: Option<(String, Option<String>)>,
    /// Name of the client, for the confirmation page.
    pub client_name: Option<String>,
}

impl LogoutPlan {
    /// Whether to sign `session` out without asking: the hint names its user.
    pub fn confirmed_by_hint(&self, session: Option<&BrowserSession>) -> bool {
        match (self.hinted_user, session) {
            (Some(hinted), Some(s)) => hinted == s.user_id(),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Auth {
    /// Checks an end-session request; `Err` is the text of the page that refuses it.
    pub fn check_logout(&self, p: &LogoutParams) -> Result<LogoutPlan, String> {
        let hint: Option<IdClaims> = match nonempty(&p.id_token_hint) {
            Some(t) => Some(
                self.keyring()
                    .verify_expired_ok(t)
                    .map_err(|_| "The id_token_hint is not an ID token gatehouse issued.".to_owned())?,
            ),
            None => None,
        };
        let client_id = match (hint.as_ref().map(|h| h.aud.as_str()), nonempty(&p.client_id)) {
            (Some(a), Some(b)) if a != b => return Err("client_id does not match the id_token_hint.".into()),
            (Some(a), _) => Some(a),
            (None, b) => b,
        };
        let client = match client_id {
            Some(id) => Some(
                self.store
                    .read(|r| r.client(id))
                    .map_err(|e| e.to_string())?
                    .ok_or("The application is not registered with gatehouse.")?,
            ),
            None => None,
        };
        let redirect = match (nonempty(&p.post_logout_redirect_uri), &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err("post_logout_redirect_uri needs id_token_hint or client_id.".into())
            }
            (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                Some((uri.to_owned(), p.state.clone().filter(|s| !s.is_empty())))
            }
            (Some(_), Some(_)) => {
                return Err("post_logout_redirect_uri is not registered for this application.".into())
            }
        };
        Ok(LogoutPlan {
            hinted_user: hint.and_then(|h| h.sub.parse().ok()),
            redirect,
            client_name: client.map(|c| c.name),
        })
    }

    /// Ends a browser's gatehouse session (its refresh family and every access
    /// token carrying its `sid`).
    pub fn end_browser_session(&self, ctx: &Ctx, session: &BrowserSession) -> Result<(), Error> {
        self.store.write(|tx| {
            Self::end_session_row(tx, session.user_id(), &session.session_id)?;
            let what = "signed out (OpenID end session)".to_owned();
            tx.append_audit(&self.audit_record(ctx, AuditEvent::Logout, Some(&session.user), Some(what)))?;
            Ok::<_, Error>(())
        })
    }
}
