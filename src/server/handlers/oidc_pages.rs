//! The OpenID Provider's few server-rendered pages: an authorization error that
//! must not be sent anywhere, the consent question, the sign-out confirmation and
//! "signed out". Plain HTML forms (their final step needs no JavaScript), the
//! pages' stylesheet, the pages' CSP (nothing inline, no framing; a form that
//! ends at a client may be redirected to that client's origin), every value
//! escaped.

use super::ui::PAGE_CSP;
use crate::server::respond::Body;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// `s` safe inside HTML text and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The origin (`scheme://host[:port]`) of an http(s) URI, if it is one that can
/// stand in a CSP source list as it is.
fn origin(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || !authority.chars().all(plain) {
        return None;
    }
    uri.get(..scheme.len() + 3 + authority.len())
}

/// The pages' CSP; when the page's form, once posted, may be answered with a
/// redirect to one of `form_to` (a client's registered URI, an allowed `rd`),
/// those origins join `form-action`: Chromium checks `form-action` against every
/// redirect that follows a form post, so 'self' alone blocks the last hop.
pub fn csp(form_to: &[&str]) -> HeaderValue {
    let mut origins: Vec<&str> = form_to.iter().filter_map(|u| origin(u)).collect();
    origins.sort_unstable();
    origins.dedup();
    if origins.is_empty() {
        return HeaderValue::from_static(PAGE_CSP);
    }
    let list = format!("form-action 'self' {}", origins.join(" "));
    HeaderValue::from_str(&PAGE_CSP.replace("form-action 'self'", &list))
        .unwrap_or(HeaderValue::from_static(PAGE_CSP))
}

/// A page: `title` and already-escaped `body` in the pages' frame; its form may
/// end at `form_to` (see [`csp`]).
pub fn page(status: StatusCode, title: &str, body: &str, form_to: Option<&str>) -> Response<Body> {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · gatehouse</title>\n<link rel=\"icon\" href=\"/ui/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/ui/app.css\">\n</head>\n<body class=\"narrow\">\n\
         <header class=\"top\"><span class=\"brand\">gatehouse</span></header>\n<main id=\"main\">\n\
         <h1>{}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        escape(title),
        escape(title)
    );
    let mut r = Response::new(Full::new(Bytes::from(html)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(HeaderName::from_static("content-security-policy"), csp(form_to.as_slice()));
    r
}

/// Hidden inputs carrying `params` through a form.
pub fn hidden(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", escape(k), escape(v)))
        .collect()
}

/// An authorization request that cannot be answered to its client.
pub fn refused(message: &str) -> Response<Body> {
    let body = format!(
        "<div class=\"card\"><p class=\"msg msg-error\" role=\"alert\">{}</p>\n\
         <p class=\"hint\">Nothing was sent back to the application. Tell its administrator, \
         or go to <a href=\"/ui/account\">your gatehouse account</a>.</p></div>",
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, "Sign-in request refused", &body, None)
}

/// The consent question: may `client` have `scopes` (name, description)? Its
/// answer goes back to the client at `redirect_uri`.
pub fn consent(
    client: &str,
    user: &str,
    scopes: &[(String, String)],
    params: &[(String, String)],
    redirect_uri: &str,
) -> Response<Body> {
    let items: String = scopes
        .iter()
        .map(|(s, d)| format!("<li><strong>{}</strong> <code>{}</code></li>\n", escape(d), escape(s)))
        .collect();
    let body = format!(
        "<form class=\"card\" method=\"post\" action=\"/oidc/consent\">\n\
         <p><strong>{}</strong> asks to sign you in as <strong>{}</strong> and to:</p>\n<ul>\n{items}</ul>\n\
         {}<p class=\"hint\">You can withdraw this on your account page.</p>\n\
         <div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div>\n</form>",
        escape(client),
        escape(user),
        hidden(params)
    );
    page(StatusCode::OK, "Allow access?", &body, Some(redirect_uri))
}

/// Asks before signing out (an end-session request without a valid hint); the
/// answer goes on to `back_to`, the client's post-logout URI, if there is one.
pub fn confirm_logout(
    client: Option<&str>,
    params: &[(String, String)],
    back_to: Option<&str>,
) -> Response<Body> {
    let who =
        client.map_or_else(String::new, |c| format!(" <strong>{}</strong> asks you to sign out.", escape(c)));
    let body = format!(
        "<form class=\"card\" method=\"post\" action=\"/oidc/logout\">\n<p>Sign out of gatehouse?{who}</p>\n\
         {}<input type=\"hidden\" name=\"confirm\" value=\"yes\">\n\
         <div class=\"actions\"><button type=\"submit\" class=\"primary\">Sign out</button>\n\
         <a href=\"/ui/account\">Stay signed in</a></div>\n</form>",
        hidden(params)
    );
    page(StatusCode::OK, "Sign out", &body, back_to)
}

/// After signing out, with nowhere registered to go back to.
pub fn signed_out() -> Response<Body> {
    let body = "<div class=\"card\"><p class=\"msg msg-success\" role=\"status\">You are signed out of gatehouse.</p>\n\
                <p><a href=\"/ui/login\">Sign in again</a></p></div>";
    page(StatusCode::OK, "Signed out", body, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let h = hidden(&[("state".into(), "\"><script>".into())]);
        assert!(!h.contains("<script>"), "{h}");
    }

    #[test]
    fn form_action_names_only_a_plain_origin() {
        assert_eq!(origin("https://app.example.com/cb?x=1"), Some("https://app.example.com"));
        assert_eq!(origin("http://127.0.0.1:8080/protected/redirect_uri"), Some("http://127.0.0.1:8080"));
        assert_eq!(origin("http://[::1]:9/cb"), Some("http://[::1]:9"));
        for bad in [
            "com.example.app:/cb",
            "https://",
            "https://a.example;script-src *",
            "https://a b/",
            "javascript://x",
        ] {
            assert_eq!(origin(bad), None, "{bad}");
        }
        let with = csp(&["https://app.example.com/cb"]);
        assert!(with
            .to_str()
            .unwrap()
            .contains("form-action 'self' https://app.example.com; frame-ancestors 'none'"));
        assert_eq!(csp(&[]).to_str().unwrap(), PAGE_CSP);
    }
}
