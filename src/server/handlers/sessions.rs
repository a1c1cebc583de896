//! /api/v1/users/me/sessions and /consents: the caller's sign-ins (device, address, last use),
//! revoking one, and signing out everywhere. Bearer or the login cookie; API keys
//! are not sessions and cannot manage them.

use crate::clock::rfc3339;
use crate::server::cookies;
use crate::server::error::ApiError;
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
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
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used),
            expires_at: rfc3339(s.expires_at.saturating_mul(1_000_000)),
            ip_address: s.ip,
            user_agent: s.user_agent,
            current: s.current,
            id: s.id,
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

/// DELETE[?include_api_keys=true]: revokes every session and access token of the
/// caller, and on request every API key.
pub async fn revoke_all(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let keys = super::include_api_keys(&req)?;
    let who = req.caller()?.clone();
    state.blocking(move |auth| auth.sign_out_everywhere(&ctx, &who, keys)).await?;
    let mut r = json(StatusCode::OK, &json!({"detail": "Signed out everywhere"}));
    cookies::clear_session(&mut r, state);
    Ok(r)
}

/// GET /api/v1/users/me/consents: the applications the caller allowed.
pub fn consents(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let list: Vec<serde_json::Value> = state
        .auth
        .consents(req.caller()?)?
        .into_iter()
        .map(|c| {
            json!({"client_id": c.client_id, "client_name": c.client_name, "scopes": c.scopes,
                   "granted_at": rfc3339(c.granted_at)})
        })
        .collect();
    Ok(no_store(json(StatusCode::OK, &list)))
}

/// DELETE /api/v1/users/me/consents/{client_id}: the next sign-in asks again.
pub async fn revoke_consent(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let client = req.param("client_id").to_owned();
    state.blocking(move |auth| auth.revoke_consent(&ctx, &who, &client)).await?;
    Ok(json(StatusCode::OK, &json!({"detail": "Consent withdrawn"})))
}
