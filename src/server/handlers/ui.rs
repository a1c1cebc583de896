//! gatehouse's own pages under /ui/: static files embedded from assets/ui/ (no CDN,
//! no build step), served with a stricter CSP than the API's (nothing inline at
//! all), plus two redirects: /ui → the account page, and /ui/next?rd=… → where a
//! sign-in should land (an allowed `rd`, else the account page).

use crate::server::error::ApiError;
use crate::server::extract::{query, query_param};
use crate::server::request::Req;
use crate::server::respond::Body;
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
    ("setup", HTML, include_str!("../../../assets/ui/setup.html")),
    ("account", HTML, include_str!("../../../assets/ui/account.html")),
    ("admin", HTML, include_str!("../../../assets/ui/admin.html")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../../assets/ui/app.css")),
    ("common.js", JS, include_str!("../../../assets/ui/common.js")),
    ("login.js", JS, include_str!("../../../assets/ui/login.js")),
    ("mfa.js", JS, include_str!("../../../assets/ui/mfa.js")),
    ("passkeys.js", JS, include_str!("../../../assets/ui/passkeys.js")),
    ("setup.js", JS, include_str!("../../../assets/ui/setup.js")),
    ("account.js", JS, include_str!("../../../assets/ui/account.js")),
    ("admin.js", JS, include_str!("../../../assets/ui/admin.js")),
    ("chart.js", JS, include_str!("../../../assets/ui/chart.js")),
    ("clients.js", JS, include_str!("../../../assets/ui/clients.js")),
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

/// The sign-in page (`login.html`), with what the server knows filled in: where
/// to go afterwards (`rd`), a username to offer (`login_hint`), a message, and
/// whether to ask for a second-factor code. Filled in here so the form works
/// without JavaScript too.
fn login_page(
    state: &AppState,
    status: StatusCode,
    rd: &str,
    hint: &str,
    message: Option<&str>,
    otp: bool,
) -> Response<Body> {
    use super::oidc_pages::escape;
    let html = include_str!("../../../assets/ui/login.html")
        .replace("{{rd}}", &escape(rd))
        .replace("{{login_hint}}", &escape(hint))
        .replace("{{otp_hidden}}", if otp { "" } else { " hidden" })
        .replace("{{message_class}}", if message.is_some() { " msg-error" } else { "" })
        .replace("{{message}}", &escape(message.unwrap_or("")));
    let mut r = Response::new(Full::new(Bytes::from(html)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(HTML));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let targets = form_targets(state, rd);
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    h.insert(HeaderName::from_static("content-security-policy"), super::oidc_pages::csp(&targets));
    r
}

/// Where the sign-in form's post may end up besides gatehouse: `rd` itself when it
/// is an allowed absolute address (forward auth), or, for an OpenID sign-in
/// (`rd` = `/oidc/authorize?...`), the client's redirect URI when that client
/// registered it. Chromium checks `form-action` against each redirect after the
/// post, so without these the no-JavaScript form stops at the last hop.
fn form_targets(state: &AppState, rd: &str) -> Vec<String> {
    let Some(allowed) = state.return_to.check(rd) else { return Vec::new() };
    if let Some(q) = allowed.strip_prefix("/oidc/authorize?") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let (Some(id), Some(uri)) = (get("client_id"), get("redirect_uri")) else { return Vec::new() };
        let registered = state.auth.client(id).is_ok_and(|c| c.redirect_uris.iter().any(|u| u == uri));
        return if registered { vec![uri.to_owned()] } else { Vec::new() };
    }
    vec![allowed.to_owned()]
}

/// GET /ui/login.
pub fn login(state: &AppState, req: &Req) -> Result<Response<Body>, ApiError> {
    let q = query(&req.head);
    let get = |n: &str| query_param(&q, n).unwrap_or_default();
    Ok(login_page(state, StatusCode::OK, &get("rd"), &get("login_hint"), None, false))
}

/// POST /ui/login: the sign-in form posted without JavaScript. Success sets the
/// session cookies and goes on as `/ui/next` would; a failure shows the page
/// again with the reason (the same 401 text as the API's, whatever the cause).
/// An account with a second factor gets the page again with the code field: the
/// password is typed again with the code (it is never echoed into the page).
pub async fn login_form(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    use crate::domain::Error as D;
    super::super::cookies::from_own_pages(state, &req.head)?;
    let pairs = super::client_token::form_pairs(&req);
    let get = |n: &str| pairs.iter().rev().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
    let (username, password, rd, otp) = (get("username"), get("password"), get("rd"), get("otp"));
    let asked_otp = !otp.trim().is_empty();
    if username.is_empty() || password.is_empty() {
        return Ok(login_page(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &rd,
            &username,
            Some("Enter your username and password."),
            asked_otp,
        ));
    }
    let ctx = req.ctx();
    let (u, p) = (username.clone(), password);
    let signed_in = state.hashing(move |auth| {
        let otp = Some(otp.as_str()).filter(|o| !o.trim().is_empty());
        let req = crate::domain::login::SignIn {
            username: &u,
            password: &p,
            otp,
            passkey: None,
            scopes: &[],
            browser: true,
        };
        auth.sign_in(&ctx, req)
    });
    let page = |status, text: &str, otp| Ok(login_page(state, status, &rd, &username, Some(text), otp));
    match signed_in.await {
        Ok(pair) => {
            let mut r = found(state.return_to.check(&rd).unwrap_or("/ui/account"));
            *r.status_mut() = StatusCode::SEE_OTHER;
            super::super::cookies::set_session(&mut r, state, &pair);
            Ok(r)
        }
        Err(ApiError::Domain(D::Unauthenticated(_) | D::Locked(_))) => {
            let text = if asked_otp { "Incorrect username, password or code." } else { "Incorrect username or password." };
            page(StatusCode::UNAUTHORIZED, text, asked_otp)
        }
        Err(ApiError::Domain(D::MfaRequired)) => page(
            StatusCode::UNAUTHORIZED,
            "Enter your password again with the code from your authenticator app (or a recovery code).",
            true,
        ),
        Err(ApiError::Domain(D::EnrollmentRequired(_))) => page(
            StatusCode::FORBIDDEN,
            "Your account must set up a second factor before it can sign in. Enable JavaScript to set one up here.",
            false,
        ),
        // Only lengths are checked before the password (an overlong password or code).
        Err(ApiError::Validation(_) | ApiError::Domain(D::Invalid(_))) => {
            page(StatusCode::UNPROCESSABLE_ENTITY, "The password or code is too long.", asked_otp)
        }
        Err(e) => Err(e),
    }
}

/// The login page's address for a browser that should come back to `original`.
pub fn login_url(state: &AppState, original: &str) -> String {
    let rd = serde_urlencoded::to_string([("rd", original)]).unwrap_or_default();
    format!("{}/ui/login?{rd}", state.issuer)
}
