//! The browser session: the tutorial's two HttpOnly cookies plus a CSRF token the
//! pages can read, and the check that keeps other sites from using them.
//!
//! - `access_token` = `Bearer <jwt>`, path `/` (and `--cookie-domain`, if set, so
//!   apps behind forward auth on sibling hosts receive it);
//! - `refresh_token`, only on the refresh path (the tutorial's scoping), and
//!   always host-only: no sibling host ever needs the long-lived token;
//! - `csrf_token`, readable by script, host-only, derived from the access token's id.
//!
//! - `gatehouse_session`, the browser's sign-in for the OpenID Provider (see
//!   `domain::oidc::browser`): HttpOnly, host-only, `SameSite=Lax`, so that a tool
//!   sending its user here to sign in (a top-level navigation from another site)
//!   finds them signed in. It authenticates nothing but the authorization and
//!   end-session endpoints, which change nothing without a further same-origin step.
//!
//! The first three are `Secure; SameSite=Strict`. A cookie-authenticated unsafe request must
//! also prove it comes from our own pages: a same-origin `Origin` (or an allowed
//! CORS origin), `Sec-Fetch-Site: same-origin`, or the `X-CSRF-Token` header
//! matching its access token. Bearer and API-key requests need none of this: a
//! browser never attaches those by itself.

use super::error::ApiError;
use super::respond::Body;
use super::state::AppState;
use crate::domain::access::{csrf_token, csrf_token_matches};
use crate::domain::tokens::TokenPair;
use hyper::header::{HeaderValue, HOST, ORIGIN, SET_COOKIE};
use hyper::http::request::Parts;
use hyper::{Method, Response};

/// The refresh cookie's path (the tutorial's).
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth/refresh";
/// The CSRF header the pages send.
pub const CSRF_HEADER: &str = "x-csrf-token";

struct Cookie<'a> {
    name: &'a str,
    value: &'a str,
    max_age: u64,
    path: &'a str,
    http_only: bool,
    domain: Option<&'a str>,
    lax: bool,
}

/// The browser's OpenID sign-in cookie.
pub const BROWSER_COOKIE: &str = "gatehouse_session";

fn append(r: &mut Response<Body>, c: &Cookie<'_>) {
    // Values are our own tokens (base64url, dots, one space); a value with a space is
    // quoted, as Starlette does.
    let value = if c.value.contains(' ') { format!("\"{}\"", c.value) } else { c.value.to_owned() };
    let mut line = format!("{}={value}", c.name);
    if c.http_only {
        line.push_str("; HttpOnly");
    }
    line.push_str(&format!("; Max-Age={}; Path={}", c.max_age, c.path));
    if let Some(d) = c.domain {
        line.push_str(&format!("; Domain={d}"));
    }
    line.push_str(if c.lax { "; SameSite=lax" } else { "; SameSite=strict" });
    line.push_str("; Secure");
    if let Ok(h) = HeaderValue::from_str(&line) {
        r.headers_mut().append(SET_COOKIE, h);
    }
}

/// Sets the three session cookies for a freshly issued pair. Only the access
/// cookie takes `--cookie-domain` (forward auth on sibling hosts needs it); the
/// refresh and CSRF cookies stay with gatehouse's own host. The CSRF cookie lives
/// as long as the refresh cookie: the pages need it to renew an expired session.
pub fn set_session(r: &mut Response<Body>, state: &AppState, pair: &TokenPair) {
    let policy = state.auth.policy();
    let (access_ttl, refresh_ttl) = (policy.access_ttl.as_secs(), policy.refresh_ttl.as_secs());
    let access = format!("Bearer {}", pair.access_token);
    let csrf = csrf_token(&pair.access_jti);
    for (name, value, max_age, path, http_only, domain) in [
        ("access_token", access.as_str(), access_ttl, "/", true, state.cookie_domain.as_deref()),
        ("refresh_token", pair.refresh_token.as_str(), refresh_ttl, REFRESH_COOKIE_PATH, true, None),
        ("csrf_token", csrf.as_str(), refresh_ttl, "/", false, None),
    ] {
        append(r, &Cookie { name, value, max_age, path, http_only, domain, lax: false });
    }
    if let Some(value) = &pair.browser_cookie {
        let c = Cookie {
            name: BROWSER_COOKIE,
            value,
            max_age: refresh_ttl,
            path: "/",
            http_only: true,
            domain: None,
            lax: true,
        };
        append(r, &c);
    }
}

/// Expires all three cookies (sign-out), with the attributes they were set with.
pub fn clear_session(r: &mut Response<Body>, state: &AppState) {
    for (name, path, http_only, domain) in [
        ("access_token", "/", true, state.cookie_domain.as_deref()),
        ("refresh_token", REFRESH_COOKIE_PATH, true, None),
        ("csrf_token", "/", false, None),
    ] {
        append(r, &Cookie { name, value: "", max_age: 0, path, http_only, domain, lax: false });
    }
    append(
        r,
        &Cookie {
            name: BROWSER_COOKIE,
            value: "",
            max_age: 0,
            path: "/",
            http_only: true,
            domain: None,
            lax: true,
        },
    );
}

/// The browser's OpenID sign-in cookie, if it sent one.
pub fn browser_cookie(head: &Parts) -> Option<String> {
    super::extract::cookie(head, BROWSER_COOKIE).filter(|c| !c.is_empty())
}

/// The access token in the `access_token` cookie (`Bearer <jwt>` or bare).
pub fn access_token(head: &Parts) -> Option<String> {
    let c = super::extract::cookie(head, "access_token")?;
    let token = c.strip_prefix("Bearer ").unwrap_or(&c).trim().to_owned();
    (!token.is_empty()).then_some(token)
}

/// Whether a request authenticated by cookie may proceed: safe methods always;
/// unsafe ones only from our own origin or with the CSRF token of `access_jti`.
pub fn same_site_or_token(state: &AppState, head: &Parts, access_jti: &str) -> Result<(), ApiError> {
    if matches!(head.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(sent) = head.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if csrf_token_matches(access_jti, sent) { Ok(()) } else { Err(ApiError::CrossSite) };
    }
    let verdict = match (origin_is_ours(state, head), fetch_site(head)) {
        (Some(ours), _) => ours,
        (None, site) => site == Some("same-origin"),
    };
    verdict.then_some(()).ok_or(ApiError::CrossSite)
}

/// For requests that set or renew the session cookies (sign-in, setup, a cookie
/// refresh): refuses them when the browser says another page sent them
/// (`Sec-Fetch-Site` other than `same-origin`, or `none`: typed by the user),
/// unless their `Origin` is an allowed CORS origin. Otherwise another site, or a
/// sibling host, could sign a visitor into an account of its choosing ("login
/// CSRF") or spend their refresh cookie. Every current browser sends
/// `Sec-Fetch-Site`; clients that are not browsers do not, and are unaffected
/// whatever `Origin` they send.
pub fn from_own_pages(state: &AppState, head: &Parts) -> Result<(), ApiError> {
    match fetch_site(head) {
        None | Some("same-origin" | "none") => Ok(()),
        Some(_) if origin_is_ours(state, head) == Some(true) => Ok(()),
        Some(_) => Err(ApiError::CrossSite),
    }
}

/// `None` without an `Origin` header; else whether it is this server or an
/// allowed CORS origin.
fn origin_is_ours(state: &AppState, head: &Parts) -> Option<bool> {
    let origin = head.headers.get(ORIGIN).and_then(|v| v.to_str().ok())?;
    Some(own_origin(state, head, origin) || state.cors.allows(origin))
}

/// The browser's `Sec-Fetch-Site`, if it sent one.
fn fetch_site(head: &Parts) -> Option<&str> {
    head.headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
}

/// `origin` is this server: the scheme and host the request was sent to, or the issuer.
fn own_origin(state: &AppState, head: &Parts, origin: &str) -> bool {
    let host = head
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| head.headers.get(HOST).and_then(|v| v.to_str().ok()).map(str::to_owned));
    // Behind --insecure-http the browser may still see https (a TLS proxy in front).
    let schemes: &[&str] = if state.tls { &["https"] } else { &["https", "http"] };
    let issuer_origin = origin_of(&state.issuer);
    host.is_some_and(|h| schemes.iter().any(|s| origin.eq_ignore_ascii_case(&format!("{s}://{h}"))))
        || issuer_origin.is_some_and(|o| origin.eq_ignore_ascii_case(o))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find('/').map_or(url.len(), |i| scheme.len() + 3 + i);
    url.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_a_url() {
        assert_eq!(origin_of("https://auth.example.com"), Some("https://auth.example.com"));
        assert_eq!(origin_of("https://auth.example.com:8443/x/y"), Some("https://auth.example.com:8443"));
        assert_eq!(origin_of("not a url"), None);
    }
}
