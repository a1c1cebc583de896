//! /api/v1/setup: the first-run page's endpoint. While no admin or super_admin
//! exists, `gatehouse serve` prints a one-time code; whoever presents it here
//! creates the first super_admin and is signed in. Afterwards the endpoint answers
//! 409, and the code is gone from memory. Password-class rate limit (the code has
//! 60 bits, but there is no reason to allow guessing at speed).

use super::UserResponse;
use crate::crypto::secrets::constant_time_eq;
use crate::domain::Error;
use crate::server::cookies;
use crate::server::error::ApiError;
use crate::server::extract::{json_object, Fields};
use crate::server::respond::{json, no_store, Body};
use crate::server::router::Req;
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde_json::json;

const DONE: &str = "Setup is already complete";

/// GET: whether the first-run setup is still open.
pub fn status(state: &AppState) -> Result<Response<Body>, ApiError> {
    let required = state.auth.admin_count()? == 0;
    if !required {
        close(state);
    }
    Ok(no_store(json(StatusCode::OK, &json!({ "setup_required": required }))))
}

/// Forgets the code for good: once any admin exists it must never work again,
/// even if every admin is later removed (a restart prints a fresh one then).
fn close(state: &AppState) {
    if let Ok(mut slot) = state.setup_code.lock() {
        *slot = None;
    }
}

/// Codes are compared without case, dashes or spaces (read off a console).
fn normalise(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// POST `{code, username, email, password, full_name?}` → 201 UserResponse with the
/// session cookies set.
pub async fn create(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    cookies::from_own_pages(state, &req.head)?;
    let ctx = req.ctx();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let code = f.required("code");
    let new = super::users::new_user(&mut f);
    f.finish()?;
    let expected = state.setup_code.lock().ok().and_then(|c| c.clone());
    let Some(expected) = expected else {
        return Err(Error::Conflict(DONE).into());
    };
    if !constant_time_eq(normalise(&code).as_bytes(), normalise(&expected).as_bytes()) {
        let rec = state.auth.audit_record(
            &ctx,
            crate::store::records::AuditEvent::UnauthorizedAccess,
            None,
            Some("POST /api/v1/setup: wrong setup code".into()),
        );
        state.auth.audit_later(rec);
        return Err(Error::Forbidden("Invalid setup code".into()).into());
    }
    let session_ctx = ctx.clone();
    let created = state.hashing(move |auth| auth.create_first_admin(&ctx, &new)).await;
    if matches!(&created, Ok(_) | Err(ApiError::Domain(Error::Conflict(DONE)))) {
        close(state);
    }
    let user = created?;
    tracing::info!(username = %user.username, "first super_admin created with the setup code");
    let for_session = user.clone();
    let pair = state
        .blocking(move |auth| {
            auth.open_session(&session_ctx, &for_session, "signed in by the first-run setup")
        })
        .await?;
    let mut r = no_store(json(StatusCode::CREATED, &UserResponse::from(&user)));
    cookies::set_session(&mut r, state, &pair);
    Ok(r)
}
