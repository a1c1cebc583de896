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
//!
//! `?mfa=1` demands a sign-in that used a second factor (`amr` has `mfa`). A
//! user who has one but signed in without it (a session from before they enrolled)
//! gets 401 `mfa_required`, and a browser the sign-in page again (`reauth=1`);
//! a user with no second factor, or an API key, gets 403.

use crate::domain::access::{Principal, Rule};
use crate::domain::Error;
use crate::domain::Role;
use crate::server::cookies;
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{api_key, bearer, query, query_param};
use crate::server::handlers::ui::login_url;
use crate::server::request::Req;
use crate::server::respond::{json, Body};
use crate::server::state::AppState;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CACHE_CONTROL, LOCATION, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

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

/// What the query string asks of the caller and of the answer.
struct Demands {
    rule: Rule,
    scopes: Vec<&'static str>,
    /// `?redirect=401`: a login redirect answers 401, for nginx.
    nginx: bool,
    /// `?mfa=1`: a sign-in with a second factor.
    mfa: bool,
}

/// `?role=`, `?scope=` and `?redirect=`; any value outside what the document
/// allows is a 422, so a typo in a proxy's configuration never passes silently.
fn demands(req: &Req) -> Result<Demands, ApiError> {
    let q = query(&req.head);
    let nginx = match query_param(&q, "redirect").as_deref() {
        None => false,
        Some("401") => true,
        Some(_) => {
            return Err(ApiError::Validation(vec![Invalid {
                loc: vec!["query".into(), "redirect".into()],
                msg: "Input should be '401'".into(),
                kind: "enum".into(),
            }]))
        }
    };
    let mfa = match query_param(&q, "mfa").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => {
            return Err(ApiError::Validation(vec![Invalid {
                loc: vec!["query".into(), "mfa".into()],
                msg: "Input should be '1', 'true', '0' or 'false'".into(),
                kind: "enum".into(),
            }]))
        }
    };
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
    Ok(Demands { rule, scopes, nginx, mfa })
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

/// Where to send a browser that is not signed in (or must sign in again), if anywhere.
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

/// A 401 that sends a browser to the sign-in page, when the proxy says where it was going.
/// With `reauth`, the page asks for the password (and factor) even if the browser
/// is signed in.
fn to_login(state: &AppState, req: &Req, nginx: bool, reauth: bool, detail: Value) -> Option<Response<Body>> {
    let mut location = login_redirect(state, req)?;
    if reauth {
        location.push_str("&reauth=1");
    }
    let status = if nginx { StatusCode::UNAUTHORIZED } else { StatusCode::FOUND };
    let mut body = detail;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("login_url".into(), Value::from(location.clone()));
    }
    let mut r = json(status, &body);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if nginx {
        r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    Some(r)
}

/// `?mfa=1` for a caller whose sign-in did not use a second factor: a user who
/// has one signs in again with it; anyone else is refused.
fn second_factor_missing(
    state: &AppState,
    req: &Req,
    who: &Principal,
    nginx: bool,
) -> Result<Response<Body>, ApiError> {
    if who.access_token().is_none() {
        return Err(Error::Forbidden("An API key does not prove a second factor".into()).into());
    }
    if !state.auth.has_second_factor(who)? {
        return Err(
            Error::Forbidden("A second factor is required: set one up on your account page".into()).into()
        );
    }
    let detail = json!({"detail": "Second factor required", "mfa_required": true});
    match to_login(state, req, nginx, true, detail) {
        Some(r) => Ok(r),
        None => Err(Error::MfaRequired.into()),
    }
}

/// Any method /api/v1/auth/verify.
pub fn verify(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let Demands { rule, scopes, nginx, mfa } = demands(&req)?;
    let who = match identify(state, &req) {
        Ok(who) => who,
        Err(e) => {
            let (ApiError::NotAuthenticated | ApiError::Domain(Error::Unauthenticated(_))) = e else {
                return Err(e);
            };
            return to_login(state, &req, nginx, false, json!({"detail": "Not authenticated"})).ok_or(e);
        }
    };
    who.authorize(rule, None)?;
    for s in scopes {
        who.authorize(Rule::Any, Some(s))?;
    }
    if mfa && !who.multi_factor() {
        return second_factor_missing(state, &req, &who, nginx);
    }
    let u = who.account();
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
