//! The OpenID Provider's endpoints (SPEC §9): discovery, the authorization
//! endpoint and its consent step, UserInfo, and RP-initiated logout. The token
//! endpoint's client grants are in `auth.rs` (one token endpoint for all grants).
//! Decisions are the domain's (`domain::oidc`); this file reads parameters, finds
//! the signed-in browser by its cookie, and turns outcomes into redirects, pages
//! and JSON.

use super::oidc_pages as pages;
use crate::domain::oidc::authorize::{AuthorizeParams, ClientRedirect, Next, Refusal};
use crate::domain::oidc::browser::BrowserSession;
use crate::domain::oidc::logout::LogoutParams;
use crate::domain::oidc::userinfo::userinfo as user_claims;
use crate::domain::roles::{EXTRA_SCOPES, SCOPES};
use crate::server::cookies;
use crate::server::error::ApiError;
use crate::server::extract::query;
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

/// The request's parameters: the form body of a POST, else the query string.
fn params(req: &Req) -> Vec<(String, String)> {
    let form = req.head.method == Method::POST
        && req
            .head
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        serde_urlencoded::from_bytes(&req.body).unwrap_or_default()
    } else {
        query(&req.head)
    }
}

/// The first parameter repeated, if any (OAuth forbids repeating one).
fn repeated(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .enumerate()
        .find(|(i, (k, _))| pairs[..*i].iter().any(|(k2, _)| k2 == k))
        .map(|(_, (k, _))| k.as_str())
}

fn get(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
}

fn authorize_params(p: &[(String, String)]) -> AuthorizeParams {
    AuthorizeParams {
        client_id: get(p, "client_id"),
        redirect_uri: get(p, "redirect_uri"),
        response_type: get(p, "response_type"),
        response_mode: get(p, "response_mode"),
        scope: get(p, "scope"),
        state: get(p, "state"),
        nonce: get(p, "nonce"),
        code_challenge: get(p, "code_challenge"),
        code_challenge_method: get(p, "code_challenge_method"),
        prompt: get(p, "prompt"),
        max_age: get(p, "max_age"),
        login_hint: get(p, "login_hint"),
        request: get(p, "request"),
        request_uri: get(p, "request_uri"),
        login_after: get(p, "login_after"),
    }
}

/// A redirect: 303 after a form post (the browser then GETs it), else 302.
fn redirect(req: &Req, location: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = if req.head.method == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The client's redirect URI with the response's parameters added to its query;
/// with none, the URI exactly as registered (no empty `?`).
pub fn client_url(to: &ClientRedirect) -> String {
    let query = serde_urlencoded::to_string(&to.params).unwrap_or_default();
    if query.is_empty() {
        return to.uri.clone();
    }
    let sep = if to.uri.contains('?') { '&' } else { '?' };
    format!("{}{sep}{query}", to.uri)
}

async fn session(state: &AppState, req: &Req) -> Result<Option<BrowserSession>, ApiError> {
    let Some(cookie) = cookies::browser_cookie(&req.head) else { return Ok(None) };
    state.blocking(move |auth| auth.browser_session(&cookie)).await
}

/// GET or POST /oidc/authorize (RFC 6749 §4.1.1).
pub async fn authorize(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let pairs = params(&req);
    if let Some(name) = repeated(&pairs) {
        return Ok(pages::refused(&format!("The parameter {name} is repeated.")));
    }
    let checked = {
        let p = authorize_params(&pairs);
        state.blocking(move |auth| Ok(auth.check_authorize(&p))).await?
    };
    let request = match checked {
        Ok(r) => r,
        Err(Refusal::Page(message)) => return Ok(pages::refused(&message)),
        Err(Refusal::Redirect(to)) => return Ok(redirect(&req, &client_url(&to))),
    };
    let browser = session(state, &req).await?;
    let ctx = req.ctx();
    let (r, b) = (request.clone(), browser.clone());
    let next = state.blocking(move |auth| auth.authorize_next(&ctx, &r, b.as_ref())).await?;
    Ok(match next {
        Next::Redirect(to) => redirect(&req, &client_url(&to)),
        Next::SignIn { fresh_after } => {
            redirect(&req, &sign_in_url(&pairs, fresh_after, request.login_hint.as_deref()))
        }
        Next::Consent => {
            let scopes = describe(&request.scopes);
            let user = browser.map(|b| b.account().username).unwrap_or_default();
            pages::consent(&request.client().name, &user, &scopes, &pairs, &request.redirect_uri)
        }
    })
}

/// Where to sign in: the sign-in page, coming back to this authorization request.
/// When a fresh sign-in is needed (`prompt=login`, `max_age`), the way back drops
/// `prompt=login` and carries `login_after`, so it cannot loop.
fn sign_in_url(pairs: &[(String, String)], fresh_after: Option<i64>, hint: Option<&str>) -> String {
    let mut back: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs.iter().filter(|(k, _)| k != "login_after") {
        if k == "prompt" && fresh_after.is_some() {
            let rest: Vec<&str> = v.split(' ').filter(|p| *p != "login" && !p.is_empty()).collect();
            if !rest.is_empty() {
                back.push((k.clone(), rest.join(" ")));
            }
        } else {
            back.push((k.clone(), v.clone()));
        }
    }
    if let Some(t) = fresh_after {
        back.push(("login_after".into(), t.to_string()));
    }
    let rd = format!("/oidc/authorize?{}", serde_urlencoded::to_string(&back).unwrap_or_default());
    let mut q = vec![("rd", rd)];
    if fresh_after.is_some() {
        q.push(("reauth", "1".into()));
    }
    if let Some(h) = hint {
        q.push(("login_hint", h.to_owned()));
    }
    format!("/ui/login?{}", serde_urlencoded::to_string(&q).unwrap_or_default())
}

/// Each scope with what it lets the application do.
fn describe(scopes: &[String]) -> Vec<(String, String)> {
    scopes
        .iter()
        .map(|s| {
            let d = SCOPES.iter().chain(EXTRA_SCOPES.iter()).find(|(n, _)| n == s).map_or("", |(_, d)| *d);
            (s.clone(), d.to_owned())
        })
        .collect()
}

/// POST /oidc/consent: the consent page's Allow or Deny. The request is checked
/// again from its fields; the browser must be signed in and the post must come
/// from our own page.
pub async fn consent(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    cookies::from_own_pages(state, &req.head)?;
    let pairs: Vec<(String, String)> = params(&req);
    let allow = match get(&pairs, "decision").as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Ok(pages::refused("The consent form was not answered with Allow or Deny.")),
    };
    let request_pairs: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| k != "decision").cloned().collect();
    let p = authorize_params(&request_pairs);
    let request = match state.blocking(move |auth| Ok(auth.check_authorize(&p))).await? {
        Ok(r) => r,
        Err(Refusal::Page(message)) => return Ok(pages::refused(&message)),
        Err(Refusal::Redirect(to)) => return Ok(redirect(&req, &client_url(&to))),
    };
    let Some(browser) = session(state, &req).await? else {
        return Ok(redirect(&req, &sign_in_url(&request_pairs, None, None)));
    };
    let ctx = req.ctx();
    let to = state.blocking(move |auth| auth.consent_answer(&ctx, &request, &browser, allow)).await?;
    Ok(redirect(&req, &client_url(&to)))
}

/// GET or POST /oidc/userinfo (Bearer; the route demands `openid`).
pub fn userinfo(req: Req) -> Result<Response<Body>, ApiError> {
    Ok(no_store(json(StatusCode::OK, &user_claims(req.caller()?)?)))
}

/// GET or POST /oidc/logout (RP-Initiated Logout 1.0).
pub async fn logout(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let pairs = params(&req);
    let p = LogoutParams {
        id_token_hint: get(&pairs, "id_token_hint"),
        client_id: get(&pairs, "client_id"),
        post_logout_redirect_uri: get(&pairs, "post_logout_redirect_uri"),
        state: get(&pairs, "state"),
    };
    let plan = match state.blocking(move |auth| Ok(auth.check_logout(&p))).await? {
        Ok(plan) => plan,
        Err(message) => return Ok(pages::refused(&message)),
    };
    let browser = session(state, &req).await?;
    let confirmed = get(&pairs, "confirm").as_deref() == Some("yes") && req.head.method == Method::POST;
    if confirmed {
        cookies::from_own_pages(state, &req.head)?;
    }
    if browser.is_some() && !confirmed && !plan.confirmed_by_hint(browser.as_ref()) {
        let carried: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "confirm").collect();
        let back_to = plan.redirect.as_ref().map(|(uri, _)| uri.as_str());
        return Ok(pages::confirm_logout(plan.client_name.as_deref(), &carried, back_to));
    }
    if let Some(b) = browser {
        let ctx = req.ctx();
        state.blocking(move |auth| auth.end_browser_session(&ctx, &b)).await?;
    }
    let mut r = match &plan.redirect {
        Some((uri, st)) => {
            let to = ClientRedirect {
                uri: uri.clone(),
                params: st.iter().map(|s| ("state", s.clone())).collect(),
            };
            redirect(&req, &client_url(&to))
        }
        None => pages::signed_out(),
    };
    cookies::clear_session(&mut r, state);
    Ok(r)
}

/// GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0).
pub fn discovery(state: &AppState) -> Result<Response<Body>, ApiError> {
    let iss = &state.issuer;
    let scopes: Vec<&str> = SCOPES.iter().chain(EXTRA_SCOPES.iter()).map(|(s, _)| *s).collect();
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oidc/authorize"),
        "token_endpoint": format!("{iss}/api/v1/auth/token"),
        "userinfo_endpoint": format!("{iss}/oidc/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{iss}/oidc/logout"),
        "revocation_endpoint": format!("{iss}/api/v1/auth/revoke"),
        "introspection_endpoint": format!("{iss}/api/v1/auth/introspect"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "password"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash",
            "sid", "name", "preferred_username", "updated_at", "email", "email_verified", "role"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    });
    let mut r = json(StatusCode::OK, &doc);
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(r)
}
