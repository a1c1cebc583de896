//! /api/v1/auth: token (OAuth2 password form), cookie login, refresh, logout and
//! change-password. Both sign-ins take a second factor: `otp` (a code) or
//! `passkey` (an assertion as JSON).

use crate::domain::login::SignIn;
use crate::domain::mfa::webauthn::Assertion;
use crate::domain::tokens::TokenPair;
use crate::server::cookies;
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{cookie, form, json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// What the token endpoint was asked for.
enum Grant {
    /// The tutorial's OAuth2PasswordRequestForm, with SPEC §10's optional `otp`
    /// (or a passkey's assertion, `passkey`, as JSON).
    Password {
        username: String,
        password: String,
        otp: Option<String>,
        passkey: Option<Assertion>,
        scopes: Vec<String>,
    },
    /// RFC 6749 §6.
    Refresh { token: String },
}

/// Decodes the token endpoint's form. No `grant_type` means the password grant (as
/// the tutorial's form treats it); `refresh_token` is accepted where `refresh` is.
fn grant(req: &Req, refresh: bool) -> Result<Grant, ApiError> {
    let mut f = form(&req.head, &req.body);
    let grant_type = f.optional("grant_type");
    match grant_type.as_deref() {
        None | Some("password") => {
            let username = f.required("username");
            let password = f.required("password");
            let scope = f.optional("scope").unwrap_or_default();
            let otp = f.optional("otp").filter(|o| !o.trim().is_empty());
            let passkey = f.optional("passkey");
            f.finish()?;
            Ok(Grant::Password {
                username,
                password,
                otp,
                passkey: super::passkeys::form_assertion(passkey),
                scopes: scope.split_whitespace().map(str::to_owned).collect(),
            })
        }
        Some("refresh_token") if refresh => {
            let token = f.required("refresh_token");
            f.finish()?;
            Ok(Grant::Refresh { token })
        }
        Some(_) => Err(grant_type_error(if refresh { "^(password|refresh_token)$" } else { "^password$" })),
    }
}

fn grant_type_error(pattern: &str) -> ApiError {
    ApiError::Validation(vec![Invalid::body(
        &["grant_type".into()],
        &format!("String should match pattern '{pattern}'"),
        "string_pattern_mismatch",
    )])
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

/// POST /token: the password grant (form `username, password, scope?,
/// grant_type?`) or `grant_type=refresh_token` → TokenResponse. Errors carry RFC
/// 6749's `error` and `error_description` beside `detail`.
pub async fn token(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    // A request that names a client is an OpenID client's: RFC 6749's answers.
    let pairs = super::client_token::form_pairs(&req);
    let password_grant = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "grant_type")
        .is_none_or(|(_, v)| v == "password" || v.is_empty());
    if !password_grant {
        if let Some(who) = super::client_token::credentials(&req, &pairs)? {
            return super::client_token::token(state, &req, pairs, who).await;
        }
        if pairs.iter().any(|(k, v)| k == "grant_type" && v == "authorization_code") {
            let why = "client authentication is required for authorization_code";
            return Err(
                crate::domain::Error::OAuth(crate::domain::oidc::OAuthCode::InvalidClient, why).into()
            );
        }
    }
    let ctx = req.ctx();
    let oauth = |e: ApiError| ApiError::OAuth(Box::new(e));
    let pair = match grant(&req, true).map_err(oauth)? {
        Grant::Password { username, password, otp, passkey, scopes } => {
            state
                .hashing(move |auth| {
                    let sign_in = SignIn {
                        username: &username,
                        password: &password,
                        otp: otp.as_deref(),
                        passkey: passkey.as_ref(),
                        scopes: &scopes,
                        browser: false,
                    };
                    auth.sign_in(&ctx, sign_in)
                })
                .await
        }
        Grant::Refresh { token } => state.blocking(move |auth| auth.refresh(&ctx, &token)).await,
    }
    .map_err(oauth)?;
    Ok(token_response(&pair))
}

/// POST /login: the same form; the tokens go into HttpOnly, Secure, SameSite=Strict
/// cookies (the refresh cookie only on the refresh path) instead of the body, with
/// the CSRF cookie the pages echo (see `server::cookies`).
pub async fn login(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    cookies::from_own_pages(state, &req.head)?;
    let ctx = req.ctx();
    let (username, password, otp, passkey, scopes) = match grant(&req, false)? {
        Grant::Password { username, password, otp, passkey, scopes } => {
            (username, password, otp, passkey, scopes)
        }
        // grant(_, false) refuses refresh_token with a 422 before it gets here.
        Grant::Refresh { .. } => return Err(grant_type_error("^password$")),
    };
    let pair = state
        .hashing(move |auth| {
            let sign_in = SignIn {
                username: &username,
                password: &password,
                otp: otp.as_deref(),
                passkey: passkey.as_ref(),
                scopes: &scopes,
                browser: true,
            };
            auth.sign_in(&ctx, sign_in)
        })
        .await?;
    let mut r = no_store(json(
        StatusCode::OK,
        &json!({"detail": "Login successful", "username": pair.user.username}),
    ));
    cookies::set_session(&mut r, state, &pair);
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

/// POST /refresh: rotates the refresh token → a new TokenResponse (SPEC §1: from
/// the JSON body or the refresh cookie). From the cookie, the new pair is set as
/// cookies too, and a browser must be on our own pages (see
/// `cookies::from_own_pages`): a sibling host or another site cannot spend it.
pub async fn refresh(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let (token, via_cookie) = refresh_token_input(&req)?;
    if via_cookie {
        cookies::from_own_pages(state, &req.head)?;
    }
    let pair = state.blocking(move |auth| auth.refresh(&ctx, &token)).await?;
    let mut r = token_response(&pair);
    if via_cookie {
        cookies::set_session(&mut r, state, &pair);
    }
    Ok(r)
}

/// POST /logout: revokes the given refresh token (body, as in the tutorial) and
/// the access token used. Signed in by cookie and with no body, it ends the session
/// the access token belongs to (the pages' sign-out: the refresh cookie never
/// reaches this path).
/// Either way the session cookies are cleared.
pub async fn logout(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let empty = req.body.iter().all(u8::is_ascii_whitespace);
    if req.via_cookie && empty && cookies_only(&req) && who.session_id().is_some() {
        state.blocking(move |auth| auth.logout_session(&ctx, &who)).await?;
    } else {
        let (token, _) = refresh_token_input(&req)?;
        state.blocking(move |auth| auth.logout(&ctx, &who, &token)).await?;
    }
    let mut r = json(StatusCode::OK, &json!({"detail": "Successfully logged out"}));
    cookies::clear_session(&mut r, state);
    Ok(r)
}

/// Whether the request carries no refresh token of its own (no body field and no
/// refresh cookie): the cookie sign-out.
fn cookies_only(req: &Req) -> bool {
    cookie(&req.head, "refresh_token").is_none_or(|c| c.is_empty())
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

/// POST /revoke (RFC 7009): form `token` (access token, refresh token or API key)
/// and an optional `token_type_hint` (`access_token` or `refresh_token`; the token
/// says what it is, so the hint only has to be one of the two). Holding the token is
/// the proof: no other credential is needed, and services with introspection
/// credentials revoke the same way. 200 whether or not there was anything to revoke.
pub async fn revoke(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    use crate::domain::{oidc::OAuthCode, Error};
    let mut f = form(&req.head, &req.body);
    let token = f.optional("token");
    let hint = f.optional("token_type_hint");
    let Some(token) = token else {
        return Err(Error::OAuth(OAuthCode::InvalidRequest, "The token parameter is required").into());
    };
    if hint.as_deref().is_some_and(|h| h != "access_token" && h != "refresh_token") {
        let why = "token_type_hint must be access_token or refresh_token";
        return Err(Error::OAuth(OAuthCode::UnsupportedTokenType, why).into());
    }
    let ctx = req.ctx();
    state.blocking(move |auth| auth.revoke_token(&ctx, &token)).await?;
    Ok(no_store(json(StatusCode::OK, &json!({}))))
}

/// POST /introspect (RFC 7662): form `token` (an access token, refresh token or API
/// key) → `{active: false}` or `{active: true, sub, username, scope, token_type, ...}`.
/// Callers need the `introspect` scope or an admin role.
pub async fn introspect(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let mut f = form(&req.head, &req.body);
    let token = f.required("token");
    let _hint = f.optional("token_type_hint");
    f.finish()?;
    let info = state.blocking(move |auth| auth.introspect(&token)).await?;
    let body = match info {
        None => json!({"active": false}),
        Some(i) => {
            let mut v = json!({
                "active": true,
                "sub": i.user.username,
                "username": i.user.username,
                "uid": i.user.id,
                "role": i.user.role.as_str(),
                "scope": i.scopes.join(" "),
                "token_type": i.token_type,
                "iss": state.issuer,
            });
            // RFC 7662: leave out what does not apply (a key without expiry).
            for (name, value) in [
                ("iat", i.iat.map(Value::from)),
                ("exp", i.exp.map(Value::from)),
                ("jti", i.jti.map(Value::from)),
            ] {
                if let Some(value) = value {
                    v[name] = value;
                }
            }
            v
        }
    };
    Ok(no_store(json(StatusCode::OK, &body)))
}
