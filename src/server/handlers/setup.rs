//! /api/v1/setup: the first-run page's endpoint. While no admin or super_admin
//! exists, `gatehouse serve` prints a one-time code; whoever presents it here
//! creates the first super_admin and is signed in. Afterwards the endpoint answers
//! 409, and the code is gone from memory. Password-class rate limit (the code has
//! 60 bits, but there is no reason to allow guessing at speed).

use super::UserResponse;
use crate::server::cookies;
use crate::server::error::ApiError;
use crate::server::extract::{json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde_json::json;

/// GET: whether the first-run setup is still open.
pub fn status(state: &AppState) -> Result<Response<Body>, ApiError> {
    let required = state.auth.setup_required()?;
    Ok(no_store(json(StatusCode::OK, &json!({ "setup_required": required }))))
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
    let session_ctx = ctx.clone();
    let user = state.hashing(move |auth| auth.first_admin_with_code(&ctx, &code, &new)).await?;
    tracing::info!(username = %user.username, "first super_admin created with the setup code");
    let id = user.id;
    let pair = state
        .blocking(move |auth| auth.open_session(&session_ctx, id, "signed in by the first-run setup"))
        .await?;
    let mut r = no_store(json(StatusCode::CREATED, &UserResponse::from(&user)));
    cookies::set_session(&mut r, state, &pair);
    Ok(r)
}
