//! Redirect URIs: what may be registered, and when a presented one matches.
//!
//! Registered: an absolute `https://` URI, or `http://` to a loopback host only
//! (`localhost`, an IPv4 literal in 127.0.0.0/8, `[::1]`; never a name that merely
//! starts with `127.`). The host is a name of letters, digits, dots and hyphens,
//! or an IPv6 address in brackets. No userinfo (`user@`), no fragment, ASCII only
//! (a URI percent-encodes anything else, and exact matching must not depend on how
//! a client normalises Unicode). Matching is exact string equality, except
//! for public (native) clients registered with a loopback IP literal, whose port
//! may differ (RFC 8252 §7.3). Nothing else is normalised: a trailing slash, a
//! different case or an extra query parameter is another URI.

/// The parts of a URI that the rules look at.
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

/// Splits `uri` as `scheme://host[:port]rest`, or `None` for anything else.
fn split(uri: &str) -> Option<Parts<'_>> {
    let (scheme, after) = uri.split_once("://")?;
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']')?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':')?),
        };
        (&authority[..h.len() + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(Parts { scheme, host, port, rest })
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// Why a redirect URI cannot be registered, or `None` when it can.
pub fn problem(uri: &str) -> Option<&'static str> {
    if uri.len() > 2048 {
        return Some("is longer than 2048 characters");
    }
    if uri.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Some("contains whitespace or control characters");
    }
    if !uri.is_ascii() {
        return Some("contains characters outside ASCII; percent-encode them");
    }
    if uri.contains('#') {
        return Some("has a fragment (#...), which a redirect URI may not have");
    }
    let Some(p) = split(uri) else { return Some("is not an absolute http(s) URI") };
    if p.host.contains('@') {
        return Some("has userinfo (user@host), which a redirect URI may not have");
    }
    if let Some(v6) = p.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Some("has a host in brackets that is not an IPv6 address");
        }
    } else if !p.host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return Some("has a host name with characters a host name cannot have");
    }
    match p.scheme {
        "https" => None,
        "http" if is_loopback(p.host) => None,
        "http" => Some("uses http:// to a host that is not loopback; use https://"),
        _ => Some("must use https:// (or http:// to a loopback host)"),
    }
}

/// Whether `presented` is one of `registered`.
pub fn matches(registered: &[String], presented: &str, public_client: bool) -> bool {
    registered.iter().any(|r| r == presented || (public_client && loopback_port_free(r, presented)))
}

/// RFC 8252 §7.3: a native client's loopback redirect may use any port.
fn loopback_port_free(registered: &str, presented: &str) -> bool {
    let (Some(r), Some(p)) = (split(registered), split(presented)) else { return false };
    r.scheme == "http"
        && p.scheme == "http"
        && matches!(r.host, "127.0.0.1" | "[::1]")
        && r.host == p.host
        && r.rest == p.rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://grafana.example.com/login/generic_oauth",
            "https://tools.lan:8443/cb?x=1",
            "http://localhost:3000/callback",
            "http://127.0.0.1:8080/cb",
            "http://127.1.2.3/cb",
            "http://[::1]:9000/cb",
            "https://[2001:db8::1]:8443/cb",
            "https://tools.lan/caf%C3%A9",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for bad in [
            "http://grafana.example.com/cb",
            "https://grafana.example.com/cb#frag",
            "https://user@grafana.example.com/cb",
            "https://evil.com@grafana.example.com/cb",
            "javascript:alert(1)",
            "com.example.app:/callback",
            "https:///nohost",
            "https://host:port/cb",
            "https://exa mple.com/cb",
            "https://tools.lan/café",
            "http://127.evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://127.0.0.01/cb",
            "https://[]/cb",
            "https://[::g]/cb",
            "https://[1.2.3.4]/cb",
            "https://a:b:80/cb",
            "https://a]b/cb",
            "https://a_b.example/cb",
            "/relative",
            "",
        ] {
            assert!(problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let reg = vec!["https://app.example.com/cb".to_owned()];
        assert!(matches(&reg, "https://app.example.com/cb", false));
        for variant in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/CB",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:443/cb",
            "https://evil@app.example.com/cb",
            "https://app.example.com.evil.com/cb",
            "http://app.example.com/cb",
        ] {
            assert!(!matches(&reg, variant, false), "{variant}");
            assert!(!matches(&reg, variant, true), "{variant}");
        }
    }

    #[test]
    fn loopback_port_freedom_for_native_clients_only() {
        let reg = vec!["http://127.0.0.1:1234/cb".to_owned()];
        assert!(matches(&reg, "http://127.0.0.1:5555/cb", true));
        assert!(!matches(&reg, "http://127.0.0.1:5555/cb", false), "confidential clients: exact");
        assert!(!matches(&reg, "http://127.0.0.1:5555/other", true));
        assert!(!matches(&reg, "http://localhost:5555/cb", true));
        let v6 = vec!["http://[::1]/cb".to_owned()];
        assert!(matches(&v6, "http://[::1]:40000/cb", true));
    }
}
