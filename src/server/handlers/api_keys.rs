//! /api/v1/api-keys: the tutorial's generate/revoke pair, and named keys with
//! scopes and expiry (create, list, delete); and any user's keys for admins
//! (/api/v1/admin/users/{user_id}/api-keys: list, revoke). Bearer only: an API key
//! can never manage API keys.

use crate::clock::rfc3339;
use crate::domain::admin::{Actor, Target};
use crate::domain::api_keys::KeyRequest;
use crate::domain::ApiKeyInfo;
use crate::server::error::ApiError;
use crate::server::extract::{json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

const SHOWN_ONCE: &str = "Store this key securely. It will not be shown again.";

/// Metadata of a key; never the key.
#[derive(Debug, Serialize)]
struct KeyInfo {
    id: String,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
}

fn info(k: &ApiKeyInfo) -> KeyInfo {
    KeyInfo {
        id: k.id.clone(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.clone(),
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: k.last_used.map(rfc3339),
    }
}

/// POST /generate → `{api_key, message}`; replaces the previous generated key.
pub async fn generate(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let key = state.blocking(move |auth| auth.generate_key(&ctx, &who)).await?;
    Ok(no_store(json(StatusCode::OK, &json!({"api_key": key.secret, "message": SHOWN_ONCE}))))
}

/// DELETE /revoke: removes the generated key (404 when there is none).
pub async fn revoke(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    state.blocking(move |auth| auth.revoke_generated_key(&ctx, &who)).await?;
    Ok(json(StatusCode::OK, &json!({"detail": "API key revoked successfully"})))
}

/// GET / → the caller's keys, metadata only.
pub fn list(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?;
    let keys = state.auth.list_keys(who)?;
    let out: Vec<KeyInfo> = keys.iter().map(info).collect();
    Ok(json(StatusCode::OK, &out))
}

/// POST / with `{name, scopes?, expires_in?}` → 201 with the key, shown once.
pub async fn create(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let request = KeyRequest {
        name: f.required("name"),
        scopes: f.optional_strings("scopes"),
        expires_in: f.optional_u64("expires_in"),
    };
    f.finish()?;
    let key = state.blocking(move |auth| auth.create_key(&ctx, &who, &request)).await?;
    let mut body = serde_json::to_value(info(&key.info)).unwrap_or_default();
    body["api_key"] = json!(key.secret);
    body["message"] = json!(SHOWN_ONCE);
    Ok(no_store(json(StatusCode::CREATED, &body)))
}

/// GET /api/v1/admin/users/{user_id}/api-keys: that user's keys, metadata only.
pub fn admin_list(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let target = super::admin::user_id(&req)?;
    let (_, keys) = state.auth.keys_of(Target::Id(target))?;
    let out: Vec<KeyInfo> = keys.iter().map(info).collect();
    Ok(json(StatusCode::OK, &out))
}

/// DELETE /api/v1/admin/users/{user_id}/api-keys/{key_id} → 204.
pub async fn admin_delete(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let target = super::admin::user_id(&req)?;
    let id = req.param("key_id").to_owned();
    let who = req.caller()?.clone();
    state.blocking(move |auth| auth.revoke_key_of(&ctx, Actor::Admin(&who), Target::Id(target), &id)).await?;
    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// DELETE /{key_id}.
pub async fn delete(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let id = req.param("key_id").to_owned();
    state.blocking(move |auth| auth.delete_key(&ctx, &who, &id)).await?;
    Ok(json(StatusCode::OK, &json!({"detail": "API key deleted"})))
}
