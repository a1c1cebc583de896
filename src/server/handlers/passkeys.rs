//! Passkeys over HTTP: the caller's (`/api/v1/users/me/mfa/passkeys`: creation
//! options, register, list, rename, remove; the first two accept an enrollment
//! token) and signing in with one (`/api/v1/auth/passkey`: a challenge for
//! anyone, and the password-less sign-in that sets the session cookies).

use super::webauthn_json;
use crate::clock::rfc3339;
use crate::domain::mfa::passkeys::PasskeyInfo;
use crate::domain::mfa::webauthn::Assertion;
use crate::server::cookies;
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

fn passkey_json(p: &PasskeyInfo) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "algorithm": p.algorithm,
        "backup_eligible": p.backup_eligible,
        "transports": p.transports,
        "created_at": rfc3339(p.created_at),
        "last_used_at": p.last_used_at.map(rfc3339),
    })
}

/// The `credential` member of a JSON body, and the rest of the body.
fn credential_field(req: &Req) -> Result<(Value, Map<String, Value>), ApiError> {
    let mut body = json_object(&req.head, &req.body)?;
    match body.remove("credential") {
        Some(v) => Ok((v, body)),
        None => Err(ApiError::Validation(vec![Invalid::missing("credential")])),
    }
}

/// POST /users/me/mfa/passkeys/options → `PublicKeyCredentialCreationOptionsJSON`
/// with a new challenge (single use, five minutes). Any body is ignored.
pub async fn creation_options(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?.clone();
    let o = state.blocking(move |auth| auth.passkey_creation_options(&who)).await?;
    Ok(no_store(json(StatusCode::OK, &webauthn_json::creation_options(&o))))
}

/// POST /users/me/mfa/passkeys `{credential, name?}` → 201 `{passkey,
/// recovery_codes}` (codes only with the first second factor, shown once).
pub async fn register(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let (credential, rest) = credential_field(&req)?;
    let mut f = Fields::new(rest);
    let name = f.optional("name");
    let reg = match (f.finish(), webauthn_json::registration(&credential, &["credential".into()])) {
        (Ok(()), Ok(r)) => r,
        (fields, reg) => {
            let mut errors = match fields {
                Err(ApiError::Validation(e)) => e,
                _ => Vec::new(),
            };
            errors.extend(reg.err().unwrap_or_default());
            return Err(ApiError::Validation(errors));
        }
    };
    let (ctx, who) = (req.ctx(), req.caller()?.clone());
    let done = state.blocking(move |auth| auth.passkey_register(&ctx, &who, &reg, name.as_deref())).await?;
    Ok(no_store(json(
        StatusCode::CREATED,
        &json!({"passkey": passkey_json(&done.passkey), "recovery_codes": done.recovery_codes}),
    )))
}

/// GET /users/me/mfa/passkeys → the caller's passkeys, oldest first.
pub async fn list(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?.clone();
    let list = state.blocking(move |auth| auth.passkeys(&who)).await?;
    Ok(json(StatusCode::OK, &Value::Array(list.iter().map(passkey_json).collect())))
}

/// PATCH /users/me/mfa/passkeys/{passkey_id} `{name}` → the passkey.
pub async fn rename(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let name = f.required("name");
    f.finish()?;
    let (id, who) = (req.param("passkey_id").to_owned(), req.caller()?.clone());
    let p = state.blocking(move |auth| auth.passkey_rename(&who, &id, &name)).await?;
    Ok(json(StatusCode::OK, &passkey_json(&p)))
}

/// DELETE /users/me/mfa/passkeys/{passkey_id} → 204.
pub async fn remove(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let (ctx, id, who) = (req.ctx(), req.param("passkey_id").to_owned(), req.caller()?.clone());
    state.blocking(move |auth| auth.passkey_remove(&ctx, &who, &id)).await?;
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// POST /auth/passkey/options → `PublicKeyCredentialRequestOptionsJSON` with a
/// new challenge. Anyone may ask; it names no user. Any body is ignored.
pub async fn request_options(state: &AppState) -> Result<Response<Body>, ApiError> {
    let o = state.blocking(|auth| auth.passkey_request_options()).await?;
    Ok(no_store(json(StatusCode::OK, &webauthn_json::request_options(&o))))
}

/// POST /auth/passkey `{credential}`: a password-less sign-in from the pages;
/// the tokens go into the session cookies, as with /auth/login.
pub async fn sign_in(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    cookies::from_own_pages(state, &req.head)?;
    let (credential, _) = credential_field(&req)?;
    let a = webauthn_json::assertion(&credential, &["credential".into()]).map_err(ApiError::Validation)?;
    let ctx = req.ctx();
    let pair = state.blocking(move |auth| auth.passkey_sign_in(&ctx, &a, true)).await?;
    let mut r = no_store(json(
        StatusCode::OK,
        &json!({"detail": "Login successful", "username": pair.user.username}),
    ));
    cookies::set_session(&mut r, state, &pair);
    Ok(r)
}

/// The sign-in forms' optional `passkey` field: an `AuthenticationResponseJSON`
/// as a string. One that cannot be read is an assertion that fails (for an
/// account with a second factor, a wrong second factor like any other).
pub fn form_assertion(value: Option<String>) -> Option<Assertion> {
    let text = value?;
    let read = serde_json::from_str::<Value>(&text).ok().and_then(|v| webauthn_json::assertion(&v, &[]).ok());
    Some(read.unwrap_or(Assertion {
        credential_id: Vec::new(),
        client_data_json: Vec::new(),
        authenticator_data: Vec::new(),
        signature: Vec::new(),
        user_handle: None,
    }))
}
