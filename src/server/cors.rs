//! CORS for the browser origins the operator listed with `--cors-origin`, as the
//! tutorial configures Starlette's middleware: credentials allowed, its methods and
//! headers, the rate-limit headers exposed, preflights cached for 10 minutes. Any
//! other origin gets no CORS headers at all (and a failed preflight), so browsers
//! keep their same-origin protection. `*` never gets here: it is refused at start-up.

use super::respond::Body;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, ORIGIN, VARY};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};

const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, PATCH";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-API-Key, X-Request-ID";
const EXPOSE_HEADERS: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset";

/// The allowed origins.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Allows exactly these origins (`https://app.example.com`).
    pub fn new(origins: &[String]) -> Self {
        Self { origins: origins.iter().map(|o| o.to_ascii_lowercase()).collect() }
    }

    /// Whether `origin` is one of the configured origins.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.contains(&origin.to_ascii_lowercase())
    }

    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let o = origin.to_str().ok()?.to_ascii_lowercase();
        self.origins.contains(&o).then_some(origin)
    }

    /// Answers a CORS preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), or returns `None` for any other request.
    pub fn preflight(&self, head: &Parts) -> Option<Response<Body>> {
        if head.method != Method::OPTIONS
            || self.origins.is_empty()
            || !head.headers.contains_key(ORIGIN)
            || !head.headers.contains_key("access-control-request-method")
        {
            return None;
        }
        let Some(origin) = self.allowed(head.headers.get(ORIGIN)).cloned() else {
            let mut r = Response::new(Full::new(Bytes::from_static(b"Disallowed CORS origin")));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.headers_mut()
                .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            return Some(r);
        };
        let mut r = Response::new(Full::new(Bytes::from_static(b"OK")));
        r.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        let h = r.headers_mut();
        h.insert("access-control-allow-origin", origin);
        h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        h.insert("access-control-allow-methods", HeaderValue::from_static(ALLOW_METHODS));
        h.insert("access-control-allow-headers", HeaderValue::from_static(ALLOW_HEADERS));
        h.insert("access-control-max-age", HeaderValue::from_static("600"));
        h.insert(VARY, HeaderValue::from_static("Origin"));
        Some(r)
    }

    /// Adds the CORS headers to a response when `origin` (the request's `Origin`) is
    /// allowed.
    pub fn decorate(&self, origin: Option<&HeaderValue>, resp: &mut Response<Body>) {
        if self.origins.is_empty() {
            return;
        }
        let h = resp.headers_mut();
        h.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed(origin) {
            h.insert("access-control-allow-origin", origin.clone());
            h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
            h.insert(
                HeaderName::from_static("access-control-expose-headers"),
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    }
}
