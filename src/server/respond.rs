//! Building responses: JSON bodies, cookies, and the headers every response carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// The response body type used everywhere.
pub type Body = Full<Bytes>;

/// A JSON response. Serialising our own DTOs cannot fail; if it ever did, the client
/// gets a 500 rather than a half-written body.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let (status, bytes) = match serde_json::to_vec(value) {
        Ok(b) => (status, b),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, br#"{"detail":"Internal Server Error"}"#.to_vec()),
    };
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Marks a response as never cacheable (token responses, RFC 6749 §5.1).
pub fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(HeaderName::from_static("pragma"), HeaderValue::from_static("no-cache"));
    r
}

/// The tutorial's security headers, on every response including errors; HSTS only
/// when the connection is TLS. hyper adds no `Server` header, and neither do we.
pub fn security_headers(r: &mut Response<Body>, tls: bool) {
    let h = r.headers_mut();
    // The API keeps the tutorial's policy; the pages under /ui/ set a stricter one
    // (no inline styles either), which is left in place.
    h.entry(HeaderName::from_static("content-security-policy")).or_insert(HeaderValue::from_static(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'",
    ));
    let mut put = |name: &'static str, value: &'static str| {
        h.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    };
    put("x-frame-options", "DENY");
    put("x-content-type-options", "nosniff");
    put("referrer-policy", "strict-origin-when-cross-origin");
    put("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
    if tls {
        put("strict-transport-security", "max-age=31536000; includeSubDomains");
    }
}
