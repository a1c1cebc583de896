//! Serving the metrics: the `/metrics` response (also routed on the main listener
//! for admins), and the optional `--metrics-listen` plain-HTTP listener that
//! answers `GET /metrics` and nothing else.

use super::respond::{security_headers, Body};
use super::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;

/// The metrics in Prometheus' text format.
pub fn response(state: &AppState) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(state.metrics.render(&state.auth))));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

fn answer_one<B>(state: &AppState, req: &Request<B>) -> Response<Body> {
    let mut r = if req.method() == Method::GET && req.uri().path() == "/metrics" {
        response(state)
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(br#"{"detail":"Not Found"}"#)));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    security_headers(&mut r, false);
    r
}

/// The answer function for `--metrics-listen`.
pub fn answer(state: Arc<AppState>) -> super::plain::Answer {
    Arc::new(move |req| answer_one(&state, req))
}
