//! Forward auth for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`,
//! Caddy `forward_auth`): any method on /api/v1/auth/verify. A Bearer token, an
//! `X-API-Key` or the login cookie is checked exactly as on any other endpoint;
//! 200 carries the identity in headers the proxy copies upstream, 401 and 403 are
//! refusals. `?role=` (a minimum role) and `?scope=` (all of the listed scopes)
//! demand more. It reads, never writes, is not rate limited and leaves no audit
//! entry: a proxy asks on every request.
//!
//! A browser (`Accept: text/html`) with no credentials at all, whose proxy passes
//! the original URL (`X-Original-URL`, or `X-Forwarded-Proto`/`-Host`/`-Uri`) on a
//! `--redirect-allow`ed host, is sent to the login page instead: 302 to
//! `/ui/login?rd=<original URL>`. nginx's `auth_request` cannot pass a 302 on, so
//! with `?redirect=401` the answer stays 401 and carries the same `Location` for
//! `auth_request_set` + `error_page 401` to use (see the README).

use crate::domain::access::{Principal, Rule};
use crate::domain::Error;
use crate::server::cookies;
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{api_key, bearer, query, query_param};
use crate::server::handlers::ui::login_url;
use crate::server::respond::{json, Body};
use crate::server::router::Req;
use crate::server::state::AppState;
use crate::store::records::Role;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CACHE_CONTROL, LOCATION, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_json::json;

/// The caller from a Bearer header, else `X-API-Key`, else the `access_token`
/// cookie set by /auth/login (whose value is `Bearer <token>`).
fn identify(state: &AppState, req: &Req) -> Result<Principal, ApiError> {
    if let Some(token) = bearer(&req.head) {
        return Ok(state.auth.authenticate(token)?);
    }
    if let Some(key) = api_key(&req.head) {
        return Ok(state.auth.authenticate_key(key)?);
    }
    if let Some(token) = cookies::access_token(&req.head) {
        return Ok(state.auth.authenticate(&token)?);
    }
    Err(ApiError::NotAuthenticated)
}

fn demands(req: &Req) -> Result<(Rule, Vec<&'static str>), ApiError> {
    let q = query(&req.head);
    let rule = match query_param(&q, "role") {
        None => Rule::Any,
        Some(r) => Rule::MinRole(Role::parse(&r).ok_or_else(|| {
            ApiError::Validation(vec![Invalid {
                loc: vec!["query".into(), "role".into()],
                msg: "Input should be 'user', 'moderator', 'admin' or 'super_admin'".into(),
                kind: "enum".into(),
            }])
        })?),
    };
    let mut scopes = Vec::new();
    for s in query_param(&q, "scope").unwrap_or_default().split([' ', ',']).filter(|s| !s.is_empty()) {
        // Only known scopes can be demanded; they are 'static in the scope table.
        let known = crate::domain::roles::SCOPES
            .iter()
            .chain(crate::domain::roles::EXTRA_SCOPES.iter())
            .find(|(name, _)| *name == s)
            .map(|(name, _)| *name);
        match known {
            Some(k) => scopes.push(k),
            None => {
                return Err(ApiError::Validation(vec![Invalid {
                    loc: vec!["query".into(), "scope".into()],
                    msg: format!("Unknown scope '{s}'"),
                    kind: "enum".into(),
                }]))
            }
        }
    }
    Ok((rule, scopes))
}

/// The URL the browser asked the proxy for, when the proxy says.
fn original_url(req: &Req) -> Option<String> {
    let h = |name: &str| req.head.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(url) = h("x-original-url").filter(|u| !u.is_empty()) {
        return Some(url.to_owned());
    }
    let host = h("x-forwarded-host").filter(|v| !v.is_empty())?;
    let proto = h("x-forwarded-proto").filter(|v| !v.is_empty()).unwrap_or("https");
    let uri = h("x-forwarded-uri").filter(|v| v.starts_with('/')).unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

/// Where to send a browser that is not signed in, if anywhere.
fn login_redirect(state: &AppState, req: &Req) -> Option<String> {
    let accept = req.head.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !accept.to_ascii_lowercase().contains("text/html") {
        return None;
    }
    let original = original_url(req)?;
    // Only an absolute URL on an allowed host: the login page would refuse
    // anything else as `rd` anyway.
    if original.starts_with('/') {
        return None;
    }
    let target = state.return_to.check(&original)?;
    Some(login_url(state, target))
}

/// Any method /api/v1/auth/verify.
pub fn verify(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let (rule, scopes) = demands(&req)?;
    let who = match identify(state, &req) {
        Ok(who) => who,
        Err(e) => {
            let (ApiError::NotAuthenticated | ApiError::Domain(Error::Unauthenticated(_))) = e else {
                return Err(e);
            };
            let Some(location) = login_redirect(state, &req) else { return Err(e) };
            let nginx = query_param(&query(&req.head), "redirect").as_deref() == Some("401");
            let status = if nginx { StatusCode::UNAUTHORIZED } else { StatusCode::FOUND };
            let mut r = json(status, &json!({"detail": "Not authenticated", "login_url": location}));
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(LOCATION, v);
            }
            r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if nginx {
                r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return Ok(r);
        }
    };
    who.authorize(rule, None)?;
    for s in scopes {
        who.authorize(Rule::Any, Some(s))?;
    }
    let u = &who.user;
    let mut r = json(StatusCode::OK, &json!({"detail": "OK", "username": u.username}));
    let p = &state.forward_header_prefix;
    let h = r.headers_mut();
    for (suffix, value) in [
        ("user", u.username.clone()),
        ("user-id", u.id.to_string()),
        ("role", u.role.as_str().to_owned()),
        ("scopes", who.scopes.join(" ")),
        ("email", u.email.clone()),
    ] {
        if let (Ok(name), Ok(v)) =
            (HeaderName::from_bytes(format!("{p}{suffix}").as_bytes()), HeaderValue::from_str(&value))
        {
            h.insert(name, v);
        }
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
