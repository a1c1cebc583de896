//! Forward auth for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`,
//! Caddy `forward_auth`): any method on /api/v1/auth/verify. A Bearer token, an
//! `X-API-Key` or the login cookie is checked exactly as on any other endpoint;
//! 200 carries the identity in headers the proxy copies upstream, 401 and 403 are
//! refusals. `?role=` (a minimum role) and `?scope=` (all of the listed scopes)
//! demand more. It reads, never writes, is not rate limited and leaves no audit
//! entry: a proxy asks on every request.

use crate::domain::access::{Principal, Rule};
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{api_key, bearer, cookie, query, query_param};
use crate::server::respond::{json, Body};
use crate::server::router::Req;
use crate::server::state::AppState;
use crate::store::records::Role;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL};
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
    if let Some(c) = cookie(&req.head, "access_token") {
        let token = c.strip_prefix("Bearer ").unwrap_or(&c).trim();
        if !token.is_empty() {
            return Ok(state.auth.authenticate(token)?);
        }
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

/// Any method /api/v1/auth/verify.
pub fn verify(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let (rule, scopes) = demands(&req)?;
    let who = identify(state, &req)?;
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
