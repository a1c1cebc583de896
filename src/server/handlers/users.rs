//! /api/v1/users: register, and the caller's own profile (GET, PUT, DELETE /me).

use super::UserResponse;
use crate::domain::users::{NewUser, ProfileUpdate};
use crate::server::error::ApiError;
use crate::server::extract::{json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde_json::json;

/// POST /register → 201 UserResponse. Fields other than the four below are ignored.
pub async fn register(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let new = new_user(&mut f);
    f.finish()?;
    let user = state.hashing(move |auth| auth.register(&ctx, &new)).await?;
    Ok(json(StatusCode::CREATED, &UserResponse::from(&user)))
}

/// The tutorial's UserCreate fields, in its order (also the setup page's).
pub fn new_user(f: &mut Fields) -> NewUser {
    NewUser {
        username: f.required("username"),
        email: f.required("email"),
        password: f.required("password"),
        full_name: f.optional("full_name"),
    }
}

/// GET /me (Bearer or API key).
pub fn me(req: Req) -> Result<Response<Body>, ApiError> {
    Ok(json(StatusCode::OK, &UserResponse::from(&req.caller()?.account())))
}

/// PUT /me: `full_name?`, `email?`; anything else (role, is_active...) is ignored.
pub async fn update_me(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let who = req.caller()?.clone();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let update = ProfileUpdate { full_name: f.optional("full_name"), email: f.optional("email") };
    f.finish()?;
    let user = state.blocking(move |auth| auth.update_profile(&who, &update)).await?;
    Ok(json(StatusCode::OK, &UserResponse::from(&user)))
}

/// DELETE /me: deactivates the account (soft delete, as the tutorial does).
pub async fn delete_me(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    state.blocking(move |auth| auth.deactivate_self(&ctx, &who)).await?;
    Ok(json(StatusCode::OK, &json!({"detail": "Account deactivated successfully"})))
}
