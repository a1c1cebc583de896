//! The one place an error becomes a status code and a JSON body.
//!
//! [`ApiError`] wraps domain outcomes and adds the route-level cases (404, 405, 413,
//! malformed bodies). The mapping in [`ApiError::into_response`] is one exhaustive
//! `match` with no wildcard arm: a new variant forces a decision. Internal error text
//! is logged with the request id, never sent.

use super::respond::{json, Body};
use crate::domain::{self, FieldError};
use hyper::header::{HeaderValue, ALLOW, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// One entry of FastAPI's 422 list.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Location, e.g. `["body", "email"]`.
    pub loc: Vec<Value>,
    /// Message.
    pub msg: String,
    /// Pydantic error type.
    pub kind: String,
}

impl Invalid {
    /// An error located in the body at `loc`.
    pub fn body(loc: &[Value], msg: &str, kind: &str) -> Self {
        let mut l = vec![Value::from("body")];
        l.extend_from_slice(loc);
        Self { loc: l, msg: msg.into(), kind: kind.into() }
    }

    /// A missing required body field.
    pub fn missing(field: &str) -> Self {
        Self::body(&[field.into()], "Field required", "missing")
    }

    fn to_json(&self) -> Value {
        json!({"type": self.kind, "loc": self.loc, "msg": self.msg})
    }
}

impl From<FieldError> for Invalid {
    fn from(e: FieldError) -> Self {
        Self::body(&[Value::from(e.field)], &e.msg, e.kind)
    }
}

/// Everything a request can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// A domain outcome.
    Domain(domain::Error),
    /// Request body or query did not validate (422).
    Validation(Vec<Invalid>),
    /// No credentials were presented where they are required (401).
    NotAuthenticated,
    /// An API key was sent to an endpoint that takes only Bearer tokens (401).
    KeyNotAccepted,
    /// No route for this path (404).
    NotFound,
    /// The path exists but not with this method (405, with `Allow`).
    MethodNotAllowed(Vec<Method>),
    /// Too many requests from this client (429, with the limit headers).
    RateLimited(super::ratelimit::Decision),
    /// Body over the limit (413).
    PayloadTooLarge,
    /// The body could not be read from the connection (400).
    BodyRead,
    /// Store unusable (/health, 503).
    Unavailable,
}

impl From<domain::Error> for ApiError {
    fn from(e: domain::Error) -> Self {
        match e {
            domain::Error::Invalid(list) => {
                ApiError::Validation(list.into_iter().map(Invalid::from).collect())
            }
            other => ApiError::Domain(other),
        }
    }
}

fn detail(status: StatusCode, text: &str) -> Response<Body> {
    json(status, &json!({ "detail": text }))
}

fn bearer_challenge(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

impl ApiError {
    /// The response for this error. `request_id` goes into the log line of a 500.
    pub fn into_response(self, request_id: u64) -> Response<Body> {
        use domain::Error as D;
        match self {
            ApiError::Domain(D::Invalid(list)) => {
                ApiError::Validation(list.into_iter().map(Invalid::from).collect()).into_response(request_id)
            }
            ApiError::Domain(D::Unauthenticated(text)) => {
                bearer_challenge(detail(StatusCode::UNAUTHORIZED, text))
            }
            ApiError::Domain(D::Forbidden(text)) => detail(StatusCode::FORBIDDEN, &text),
            ApiError::Domain(D::MissingScope(scope)) => {
                let mut r = detail(StatusCode::FORBIDDEN, &format!("Token missing required scope: {scope}"));
                if let Ok(v) = HeaderValue::from_str(&format!("Bearer scope=\"{scope}\"")) {
                    r.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
                r
            }
            ApiError::Domain(D::BadRequest(text)) => detail(StatusCode::BAD_REQUEST, text),
            ApiError::Domain(D::NotFound(text)) => detail(StatusCode::NOT_FOUND, text),
            ApiError::Domain(D::Conflict(text)) => detail(StatusCode::CONFLICT, text),
            ApiError::Domain(D::Internal(text)) => {
                tracing::error!(request_id, error = %text, "internal error");
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ApiError::Validation(list) => {
                let items: Vec<Value> = list.iter().map(Invalid::to_json).collect();
                json(StatusCode::UNPROCESSABLE_ENTITY, &json!({ "detail": items }))
            }
            ApiError::NotAuthenticated => {
                bearer_challenge(detail(StatusCode::UNAUTHORIZED, "Not authenticated"))
            }
            ApiError::KeyNotAccepted => bearer_challenge(detail(
                StatusCode::UNAUTHORIZED,
                "API keys are not accepted for this endpoint; send a Bearer token",
            )),
            ApiError::NotFound => detail(StatusCode::NOT_FOUND, "Not Found"),
            ApiError::MethodNotAllowed(allow) => {
                let mut r = detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                let list = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                if let Ok(v) = HeaderValue::from_str(&list) {
                    r.headers_mut().insert(ALLOW, v);
                }
                r
            }
            ApiError::RateLimited(d) => {
                let mut r = detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
                if let Ok(v) = HeaderValue::from_str(&d.retry_after.to_string()) {
                    r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
                }
                r
            }
            ApiError::PayloadTooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            ApiError::BodyRead => detail(StatusCode::BAD_REQUEST, "Request body could not be read"),
            ApiError::Unavailable => json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unhealthy", "version": env!("CARGO_PKG_VERSION")}),
            ),
        }
    }
}
