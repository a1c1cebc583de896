//! Files embedded in the binary from assets/: the OpenAPI document and the API docs
//! page (its HTML, script and stylesheet; no CDN, nothing inline, so the strict CSP
//! holds). Served with a content type and a short cache lifetime.

use crate::server::error::ApiError;
use crate::server::request::Req;
use crate::server::respond::Body;
use crate::server::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The OpenAPI 3.1 document of every route: assets/openapi.json without its
/// indentation (build.rs).
pub const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Embedded files: URL path, content type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    ("/openapi.json", "application/json", OPENAPI),
    ("/docs", "text/html; charset=utf-8", include_str!("../../../assets/docs/index.html")),
    ("/docs/docs.js", "text/javascript; charset=utf-8", include_str!("../../../assets/docs/docs.js")),
    ("/docs/docs.css", "text/css; charset=utf-8", include_str!("../../../assets/docs/docs.css")),
];

fn serve(path: &str) -> Result<Response<Body>, ApiError> {
    let (_, content_type, body) = FILES.iter().find(|(p, _, _)| *p == path).ok_or(ApiError::NotFound)?;
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(r)
}

/// GET /openapi.json.
pub fn openapi() -> Result<Response<Body>, ApiError> {
    serve("/openapi.json")
}

/// GET /docs and its files (404 when the operator turned the docs off).
pub fn docs(state: &AppState, req: &Req) -> Result<Response<Body>, ApiError> {
    if !state.docs {
        return Err(ApiError::NotFound);
    }
    serve(req.head.uri.path())
}
