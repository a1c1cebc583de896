//! gatehouse's own pages under /ui/: static files embedded from assets/ui/ (no CDN,
//! no build step), served with a stricter CSP than the API's (nothing inline at
//! all), plus two redirects: /ui → the account page, and /ui/next?rd=… → where a
//! sign-in should land (an allowed `rd`, else the account page).

use crate::server::error::ApiError;
use crate::server::extract::{query, query_param};
use crate::server::respond::Body;
use crate::server::router::Req;
use crate::server::state::AppState;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Response, StatusCode};

/// The pages' Content-Security-Policy: only our own scripts, styles, images and
/// API; no inline code or style, no framing, no form posts elsewhere.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Embedded files: name under /ui/, content type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    ("login", HTML, include_str!("../../../assets/ui/login.html")),
    ("setup", HTML, include_str!("../../../assets/ui/setup.html")),
    ("account", HTML, include_str!("../../../assets/ui/account.html")),
    ("admin", HTML, include_str!("../../../assets/ui/admin.html")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../../assets/ui/app.css")),
    ("common.js", JS, include_str!("../../../assets/ui/common.js")),
    ("login.js", JS, include_str!("../../../assets/ui/login.js")),
    ("setup.js", JS, include_str!("../../../assets/ui/setup.js")),
    ("account.js", JS, include_str!("../../../assets/ui/account.js")),
    ("admin.js", JS, include_str!("../../../assets/ui/admin.js")),
    ("chart.js", JS, include_str!("../../../assets/ui/chart.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../../../assets/ui/favicon.svg")),
];

/// The names of every embedded page file (for tests and the docs).
pub fn file_names() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(n, _, _)| *n)
}

/// GET /ui/{file}.
pub fn file(req: &Req) -> Result<Response<Body>, ApiError> {
    let name = req.param("file");
    let (_, content_type, body) = FILES.iter().find(|(n, _, _)| *n == name).ok_or(ApiError::NotFound)?;
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Pages are small and change with the binary: revalidate rather than risk a
    // stale script talking to a newer server.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(PAGE_CSP));
    Ok(r)
}

fn found(location: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// GET /ui and /ui/: the account page.
pub fn home() -> Result<Response<Body>, ApiError> {
    Ok(found("/ui/account"))
}

/// GET /ui/next?rd=…: after a sign-in, to `rd` if it is a local path or on an
/// allowed host (`--redirect-allow`), else to the account page. Keeping the check
/// here means the pages never decide where a browser may be sent.
pub fn next(state: &AppState, req: &Req) -> Result<Response<Body>, ApiError> {
    let rd = query_param(&query(&req.head), "rd").unwrap_or_default();
    Ok(found(state.return_to.check(&rd).unwrap_or("/ui/account")))
}

/// The login page's address for a browser that should come back to `original`.
pub fn login_url(state: &AppState, original: &str) -> String {
    let rd = serde_urlencoded::to_string([("rd", original)]).unwrap_or_default();
    format!("{}/ui/login?{rd}", state.issuer)
}
