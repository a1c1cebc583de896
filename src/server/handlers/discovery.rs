//! What other services need to trust gatehouse without asking it: the signing keys
//! (RFC 7517 JWKS, OKP/Ed25519) and the authorization-server metadata (RFC 8414).
//! Both are public, small and cacheable.

use crate::domain::roles::{EXTRA_SCOPES, SCOPES};
use crate::server::error::ApiError;
use crate::server::respond::{json, Body};
use crate::server::state::AppState;
use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Response, StatusCode};
use serde_json::json;

/// How long clients may cache either document. A rotated-in key is published for
/// the rotation lead time (an hour by default) before it signs, far longer.
const CACHE: &str = "public, max-age=300";

fn cacheable(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    r
}

/// GET /.well-known/jwks.json: every key that verifies now (pending, active,
/// retired), as `{"keys": [{kty, crv, x, kid, use, alg}]}`.
pub fn jwks(state: &AppState) -> Result<Response<Body>, ApiError> {
    Ok(cacheable(json(StatusCode::OK, &json!({ "keys": state.auth.jwks() }))))
}

/// GET /.well-known/oauth-authorization-server (RFC 8414).
pub fn metadata(state: &AppState) -> Result<Response<Body>, ApiError> {
    let iss = &state.issuer;
    let scopes: Vec<&str> = SCOPES.iter().chain(EXTRA_SCOPES.iter()).map(|(s, _)| *s).collect();
    let mut doc = json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/api/v1/auth/token"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{iss}/api/v1/auth/introspect"),
        "revocation_endpoint": format!("{iss}/api/v1/auth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["none"],
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": [],
        "scopes_supported": scopes,
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["bearer", "api_key"],
    });
    if state.docs {
        doc["service_documentation"] = json!(format!("{iss}/docs"));
    }
    Ok(cacheable(json(StatusCode::OK, &doc)))
}
