//! /api/v1/auth: token (OAuth2 password form), cookie login, refresh, logout and
//! change-password.

use crate::domain::sessions::TokenPair;
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{cookie, form, json_object, Fields};
use crate::server::respond::{json, no_store, set_cookie, Body};
use crate::server::router::Req;
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Map};

const REFRESH_COOKIE_PATH: &str = "/api/v1/auth/refresh";

/// The decoded OAuth2PasswordRequestForm.
struct PasswordForm {
    username: String,
    password: String,
    scopes: Vec<String>,
}

fn password_form(req: &Req) -> Result<PasswordForm, ApiError> {
    let mut f = form(&req.head, &req.body);
    let grant_type = f.optional("grant_type");
    let username = f.required("username");
    let password = f.required("password");
    let scope = f.optional("scope").unwrap_or_default();
    let mut result = f.finish();
    if grant_type.is_some_and(|g| g != "password") {
        let bad = Invalid::body(
            &["grant_type".into()],
            "String should match pattern '^password$'",
            "string_pattern_mismatch",
        );
        result = match result {
            Ok(()) => Err(ApiError::Validation(vec![bad])),
            Err(ApiError::Validation(mut v)) => {
                v.insert(0, bad);
                Err(ApiError::Validation(v))
            }
            Err(other) => Err(other),
        };
    }
    result?;
    Ok(PasswordForm { username, password, scopes: scope.split_whitespace().map(str::to_owned).collect() })
}

/// The tutorial's TokenResponse, fields in its order.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    refresh_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
}

fn token_response(pair: &TokenPair) -> Response<Body> {
    no_store(json(
        StatusCode::OK,
        &TokenResponse {
            access_token: &pair.access_token,
            refresh_token: &pair.refresh_token,
            token_type: "bearer",
            expires_in: pair.expires_in,
            scope: pair.scopes.join(" "),
        },
    ))
}

fn set_session_cookies(r: &mut Response<Body>, state: &AppState, pair: &TokenPair) {
    let policy = state.auth.policy();
    set_cookie(r, "access_token", &format!("Bearer {}", pair.access_token), policy.access_ttl.as_secs(), "/");
    set_cookie(r, "refresh_token", &pair.refresh_token, policy.refresh_ttl.as_secs(), REFRESH_COOKIE_PATH);
}

/// POST /token: form `username, password, scope?, grant_type?` → TokenResponse.
pub async fn token(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let f = password_form(&req)?;
    let pair = state.hashing(move |auth| auth.login(&ctx, &f.username, &f.password, &f.scopes)).await?;
    Ok(token_response(&pair))
}

/// POST /login: the same form; the tokens go into HttpOnly, Secure, SameSite=Strict
/// cookies (the refresh cookie only on the refresh path) instead of the body.
pub async fn login(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let f = password_form(&req)?;
    let pair = state.hashing(move |auth| auth.login(&ctx, &f.username, &f.password, &f.scopes)).await?;
    let mut r = no_store(json(
        StatusCode::OK,
        &json!({"detail": "Login successful", "username": pair.user.username}),
    ));
    set_session_cookies(&mut r, state, &pair);
    Ok(r)
}

/// The refresh token from the JSON body, else from the refresh cookie. Returns
/// whether it came from the cookie.
fn refresh_token_input(req: &Req) -> Result<(String, bool), ApiError> {
    let from_cookie = cookie(&req.head, "refresh_token").filter(|c| !c.is_empty());
    let body = if req.body.is_empty() && from_cookie.is_some() {
        Map::new()
    } else {
        match (json_object(&req.head, &req.body), &from_cookie) {
            (Ok(m), _) => m,
            (Err(_), Some(_)) => Map::new(),
            (Err(e), None) => return Err(e),
        }
    };
    if let (None, Some(c)) = (body.get("refresh_token"), &from_cookie) {
        return Ok((c.clone(), true));
    }
    let mut f = Fields::new(body);
    let token = f.required("refresh_token");
    f.finish()?;
    Ok((token, false))
}

/// POST /refresh: rotates the refresh token. When it came from the cookie, the new
/// pair is set as cookies too (the old cookie is now spent).
pub async fn refresh(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let (token, via_cookie) = refresh_token_input(&req)?;
    let pair = state.blocking(move |auth| auth.refresh(&ctx, &token)).await?;
    let mut r = token_response(&pair);
    if via_cookie {
        set_session_cookies(&mut r, state, &pair);
    }
    Ok(r)
}

/// POST /logout (Bearer): revokes the given refresh token and the access token used.
pub async fn logout(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let (token, _) = refresh_token_input(&req)?;
    state.blocking(move |auth| auth.logout(&ctx, &who, &token)).await?;
    Ok(json(StatusCode::OK, &json!({"detail": "Successfully logged out"})))
}

/// POST /change-password (Bearer): `current_password, new_password`.
pub async fn change_password(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let current = f.required("current_password");
    let new = f.required("new_password");
    f.finish()?;
    state.hashing(move |auth| auth.change_password(&ctx, &who, &current, &new)).await?;
    Ok(json(StatusCode::OK, &json!({"detail": "Password changed. Please log in again on all devices."})))
}
