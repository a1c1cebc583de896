//! The one place an error becomes a status code and a JSON body.
//!
//! [`ApiError`] wraps domain outcomes and adds the route-level cases (404, 405, 413,
//! malformed bodies). The mapping in [`ApiError::into_response`] is one exhaustive
//! `match` with no wildcard arm: a new variant forces a decision. Internal error text
//! is logged with the request id, never sent.

use super::respond::{json, Body};
use crate::domain::oidc::OAuthCode;
use crate::domain::{self, FieldError};
use hyper::header::{HeaderName, CACHE_CONTROL, CONNECTION, RETRY_AFTER};
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
    /// The body did not arrive whole within `--body-timeout` (408; the connection
    /// is closed, so a slow sender cannot keep its slot).
    BodyTimeout,
    /// A cookie-authenticated unsafe request that is not provably same-origin (403).
    CrossSite,
    /// Store unusable (/health, 503).
    Unavailable,
    /// A failure at the OAuth2 token endpoint: rendered as `inner`, with RFC 6749
    /// `error` and `error_description` beside the tutorial's `detail`.
    OAuth(Box<ApiError>),
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

/// An error response before it is built: status, JSON body, extra headers.
struct Rendered {
    status: StatusCode,
    body: Value,
    headers: Vec<(HeaderName, HeaderValue)>,
}

fn detail(status: StatusCode, text: &str) -> Rendered {
    Rendered { status, body: json!({ "detail": text }), headers: Vec::new() }
}

fn bearer_challenge(mut r: Rendered) -> Rendered {
    r.headers.push((WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    r
}

fn with_header(mut r: Rendered, name: HeaderName, value: &str) -> Rendered {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers.push((name, v));
    }
    r
}

impl ApiError {
    /// The response for this error. `request_id` goes into the log line of a 500.
    pub fn into_response(self, request_id: u64) -> Response<Body> {
        let r = self.render(request_id);
        let mut resp = json(r.status, &r.body);
        for (k, v) in r.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }

    /// The RFC 6749 §5.2 `error` code for this failure at the token endpoint.
    fn oauth_code(&self) -> Option<&'static str> {
        use domain::Error as D;
        match self {
            ApiError::Validation(list)
                if list.iter().any(|i| i.loc.get(1) == Some(&Value::from("grant_type"))) =>
            {
                Some("unsupported_grant_type")
            }
            ApiError::Validation(_) | ApiError::Domain(D::Invalid(_)) => Some("invalid_request"),
            ApiError::Domain(
                D::Unauthenticated(_) | D::Locked(_) | D::MfaRequired | D::EnrollmentRequired(_),
            ) => Some("invalid_grant"),
            ApiError::Domain(D::Internal(_) | D::Storage(_)) => Some("server_error"),
            ApiError::Domain(D::Unavailable(_)) => Some("temporarily_unavailable"),
            ApiError::Domain(D::OAuth(code, _)) => Some(code.as_str()),
            // Not failures of the grant itself: the tutorial's answer, without RFC fields.
            ApiError::Domain(
                D::Forbidden(_) | D::MissingScope(_) | D::BadRequest(_) | D::NotFound(_) | D::Conflict(_),
            )
            | ApiError::NotAuthenticated
            | ApiError::KeyNotAccepted
            | ApiError::NotFound
            | ApiError::MethodNotAllowed(_)
            | ApiError::RateLimited(_)
            | ApiError::PayloadTooLarge
            | ApiError::BodyRead
            | ApiError::BodyTimeout
            | ApiError::CrossSite
            | ApiError::Unavailable
            | ApiError::OAuth(_) => None,
        }
    }

    fn render(self, request_id: u64) -> Rendered {
        use domain::Error as D;
        match self {
            ApiError::OAuth(inner) => {
                let code = inner.oauth_code();
                let mut r = inner.render(request_id);
                if let (Some(code), Some(obj)) = (code, r.body.as_object_mut()) {
                    let description = match obj.get("detail") {
                        Some(Value::String(s)) => s.clone(),
                        _ => "The request is missing a parameter or has an invalid one".into(),
                    };
                    obj.insert("error".into(), Value::from(code));
                    obj.insert("error_description".into(), Value::from(description));
                }
                r.headers.push((CACHE_CONTROL, HeaderValue::from_static("no-store")));
                r
            }
            ApiError::Domain(D::OAuth(code, text)) => {
                let mut headers = vec![(CACHE_CONTROL, HeaderValue::from_static("no-store"))];
                let status = if code == OAuthCode::InvalidClient {
                    headers.push((WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gatehouse\"")));
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                Rendered {
                    status,
                    body: json!({"error": code.as_str(), "error_description": text, "detail": text}),
                    headers,
                }
            }
            ApiError::Domain(D::Invalid(list)) => {
                ApiError::Validation(list.into_iter().map(Invalid::from).collect()).render(request_id)
            }
            ApiError::Domain(D::Unauthenticated(text)) => {
                bearer_challenge(detail(StatusCode::UNAUTHORIZED, text))
            }
            ApiError::Domain(D::Locked(secs)) => with_header(
                bearer_challenge(detail(StatusCode::UNAUTHORIZED, domain::BAD_CREDENTIALS)),
                RETRY_AFTER,
                &secs.to_string(),
            ),
            ApiError::Domain(D::MfaRequired) => {
                let mut r = bearer_challenge(detail(StatusCode::UNAUTHORIZED, "Second factor required"));
                if let Some(obj) = r.body.as_object_mut() {
                    obj.insert("mfa_required".into(), Value::Bool(true));
                }
                r
            }
            ApiError::Domain(D::EnrollmentRequired(t)) => Rendered {
                status: StatusCode::FORBIDDEN,
                body: json!({
                    "detail": domain::mfa::policy::ENROLLMENT_REQUIRED,
                    "mfa_enrollment_required": true,
                    "enrollment_token": t.token,
                    "token_type": "bearer",
                    "expires_in": t.expires_in,
                }),
                headers: vec![(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            },
            ApiError::Domain(D::Forbidden(text)) => detail(StatusCode::FORBIDDEN, &text),
            ApiError::Domain(D::MissingScope(scope)) => with_header(
                detail(StatusCode::FORBIDDEN, &format!("Token missing required scope: {scope}")),
                WWW_AUTHENTICATE,
                &format!("Bearer scope=\"{scope}\""),
            ),
            ApiError::Domain(D::BadRequest(text)) => detail(StatusCode::BAD_REQUEST, text),
            ApiError::Domain(D::NotFound(text)) => detail(StatusCode::NOT_FOUND, text),
            ApiError::Domain(D::Conflict(text)) => detail(StatusCode::CONFLICT, text),
            ApiError::Domain(D::Internal(text)) => {
                tracing::error!(request_id, error = %text, "internal error");
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ApiError::Domain(D::Storage(e)) => {
                tracing::error!(request_id, error = %e, "storage error");
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ApiError::Domain(D::Unavailable(e)) => {
                // The store logs the outage once; each refused request only at debug.
                tracing::debug!(request_id, error = %e, "storage unavailable");
                with_header(detail(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"), RETRY_AFTER, "1")
            }
            ApiError::Validation(list) => {
                let items: Vec<Value> = list.iter().map(Invalid::to_json).collect();
                Rendered {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    body: json!({ "detail": items }),
                    headers: Vec::new(),
                }
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
                let list = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                with_header(detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"), ALLOW, &list)
            }
            ApiError::RateLimited(d) => with_header(
                detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
                RETRY_AFTER,
                &d.retry_after.to_string(),
            ),
            ApiError::CrossSite => detail(
                StatusCode::FORBIDDEN,
                "Cross-site request refused: send the X-CSRF-Token header from the csrf_token cookie",
            ),
            ApiError::PayloadTooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            ApiError::BodyRead => detail(StatusCode::BAD_REQUEST, "Request body could not be read"),
            ApiError::BodyTimeout => with_header(
                detail(StatusCode::REQUEST_TIMEOUT, "Request body not received in time"),
                CONNECTION,
                "close",
            ),
            ApiError::Unavailable => Rendered {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: json!({"status": "unhealthy", "version": env!("CARGO_PKG_VERSION")}),
                headers: Vec::new(),
            },
        }
    }
}
