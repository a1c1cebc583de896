//! /api/v1/users/me/sessions: the caller's sign-ins (device, address, last use),
//! revoking one, and signing out everywhere. Bearer or the login cookie; API keys
//! are not sessions and cannot manage them.

use crate::clock::rfc3339;
use crate::server::cookies;
use crate::server::error::ApiError;
use crate::server::respond::{json, no_store, Body};
use crate::server::router::Req;
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

/// One session as listed.
#[derive(Debug, Serialize)]
struct SessionEntry {
    id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    ip_address: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

/// GET: live sessions, most recently used first.
pub fn list(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?;
    let entries: Vec<SessionEntry> = state
        .auth
        .sessions(who)?
        .into_iter()
        .map(|s| SessionEntry {
            created_at: rfc3339(s.record.created_at),
            last_used_at: rfc3339(s.record.last_used),
            expires_at: rfc3339(s.record.expires_at.saturating_mul(1_000_000)),
            ip_address: s.record.ip,
            user_agent: s.record.user_agent,
            current: s.current,
            id: s.record.id,
        })
        .collect();
    Ok(no_store(json(StatusCode::OK, &entries)))
}

/// DELETE /{session_id}: revokes one session (its refresh and access tokens).
/// Revoking the caller's own session signs them out and clears the cookies.
pub async fn revoke(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let id = req.param("session_id").to_owned();
    let current = who.session_id() == Some(id.as_str());
    state.blocking(move |auth| auth.revoke_session(&ctx, &who, &id)).await?;
    let mut r = json(StatusCode::OK, &json!({"detail": "Session revoked"}));
    if current && req.via_cookie {
        cookies::clear_session(&mut r, state);
    }
    Ok(r)
}

/// DELETE: revokes every session and access token of the caller.
pub async fn revoke_all(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    state.blocking(move |auth| auth.sign_out_everywhere(&ctx, &who)).await?;
    let mut r = json(StatusCode::OK, &json!({"detail": "Signed out everywhere"}));
    cookies::clear_session(&mut r, state);
    Ok(r)
}
