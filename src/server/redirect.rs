//! `--redirect-http`: a plain-HTTP listener that answers every request with a
//! permanent redirect to the same path on the HTTPS listener, so `http://` links and
//! typed addresses end up encrypted. It reads nothing but the request line and Host,
//! and keeps no connection open longer than the header timeout.

use super::respond::{security_headers, Body};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, LOCATION};
use hyper::{Request, Response, StatusCode};

/// The redirect target for a request: `https://HOST[:PORT]PATH?QUERY`.
pub fn location<B>(req: &Request<B>, https_port: u16) -> Option<String> {
    let host = req.headers().get(HOST)?.to_str().ok()?;
    let name = match host.rsplit_once(':') {
        // "[::1]:80" or "example.com:80"; a bare IPv6 literal has no port.
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if !valid {
        return None;
    }
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(format!("https://{name}{port}{path}"))
}

fn respond<B>(req: &Request<B>, https_port: u16) -> Response<Body> {
    let mut r = match location(req, https_port).and_then(|l| HeaderValue::from_str(&l).ok()) {
        Some(loc) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
            r.headers_mut().insert(LOCATION, loc);
            r
        }
        None => {
            let mut r = Response::new(Full::new(Bytes::from_static(
                br#"{"detail":"Missing or invalid Host header"}"#,
            )));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
    };
    security_headers(&mut r, false);
    r
}

/// The answer function for `--redirect-http`.
pub fn answer(https_port: u16) -> super::plain::Answer {
    std::sync::Arc::new(move |req| respond(req, https_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, path: &str) -> Request<()> {
        Request::builder().uri(path).header(HOST, host).body(()).unwrap()
    }

    #[test]
    fn locations() {
        assert_eq!(location(&req("auth.lan", "/x?y=1"), 443).as_deref(), Some("https://auth.lan/x?y=1"));
        assert_eq!(location(&req("auth.lan:80", "/"), 8443).as_deref(), Some("https://auth.lan:8443/"));
        assert_eq!(location(&req("[::1]:80", "/a"), 443).as_deref(), Some("https://[::1]/a"));
        assert_eq!(location(&req("evil.com/@x", "/"), 443), None);
        assert_eq!(location(&req("", "/"), 443), None);
    }
}
