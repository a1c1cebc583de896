//! Where a browser may be sent after signing in: the `rd` of /ui/login and the
//! original URL forward auth passes on. A local path on gatehouse itself is always
//! fine; an absolute URL only on a host the operator listed with
//! `--redirect-allow`, and over https unless that host is loopback. Anything else (other hosts, userinfo tricks, backslashes,
//! protocol-relative `//host`, control characters) is refused, so the login page
//! cannot be used as an open redirect.

/// The `--redirect-allow` list.
#[derive(Debug, Clone, Default)]
pub struct ReturnTo {
    /// Lower-case `host`, `host:port` or `*.domain` entries.
    allow: Vec<String>,
}

impl ReturnTo {
    /// From validated, lower-cased `--redirect-allow` entries.
    pub fn new(allow: Vec<String>) -> Self {
        Self { allow }
    }

    /// `rd` itself when it is a safe target, else `None`.
    pub fn check<'a>(&self, rd: &'a str) -> Option<&'a str> {
        if rd.is_empty()
            || rd.len() > 2048
            || rd.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return None;
        }
        if let Some(rest) = rd.strip_prefix('/') {
            // "//host" is protocol-relative: another site.
            return (!rest.starts_with('/')).then_some(rd);
        }
        let lower = rd.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
        let (after_scheme, tls) = if lower.starts_with("https://") {
            (&rd[8..], true)
        } else if lower.starts_with("http://") {
            (&rd[7..], false)
        } else {
            return None;
        };
        let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("").to_ascii_lowercase();
        if authority.is_empty() || authority.contains(['@', '%']) {
            return None;
        }
        // Plain http would carry the user off TLS right after signing in (and a
        // `--cookie-domain` access cookie with them): only to this machine.
        if !tls && !is_loopback(split_port(&authority).0) {
            return None;
        }
        self.host_allowed(&authority).then_some(rd)
    }

    /// Whether `authority` (`host` or `host:port`, lower case) is on the list. An
    /// entry with a port matches only that port; one without matches any.
    fn host_allowed(&self, authority: &str) -> bool {
        let (host, port) = split_port(authority);
        self.allow.iter().any(|entry| match split_port(entry) {
            (want, Some(want_port)) => want == host && port == Some(want_port),
            (want, None) => match want.strip_prefix("*.") {
                Some(domain) => {
                    host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
                }
                None => want == host,
            },
        })
    }
}

/// `localhost` or a loopback address (127.0.0.0/8, ::1).
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` (IPv6 hosts in brackets) → host without brackets, port.
fn split_port(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            (h.trim_start_matches('[').trim_end_matches(']'), Some(p))
        }
        _ => (s.trim_start_matches('[').trim_end_matches(']'), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> ReturnTo {
        ReturnTo::new(vec![
            "app.example.com".into(),
            "tools.example.com:8080".into(),
            "*.corp.example".into(),
        ])
    }

    #[test]
    fn local_paths_are_allowed() {
        assert_eq!(rt().check("/ui/account"), Some("/ui/account"));
        assert_eq!(rt().check("/ui/admin?tab=users#x"), Some("/ui/admin?tab=users#x"));
    }

    #[test]
    fn listed_hosts_are_allowed() {
        let r = rt();
        assert!(r.check("https://app.example.com/dash?a=1&b=2").is_some());
        assert!(r.check("HTTPS://APP.example.com").is_some());
        assert!(r.check("https://app.example.com:9443/x").is_some(), "a bare host allows any port");
        assert!(r.check("https://tools.example.com:8080/").is_some());
        assert!(r.check("https://wiki.corp.example/page").is_some());
        assert!(r.check("https://a.b.corp.example/").is_some());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let r = ReturnTo::new(vec![
            "app.example.com".into(),
            "*.corp.example".into(),
            "localhost".into(),
            "127.0.0.1:3000".into(),
            "[::1]".into(),
            "127.0.0.2".into(),
        ]);
        for bad in ["http://app.example.com/", "HTTP://app.example.com/x", "http://wiki.corp.example/"] {
            assert_eq!(r.check(bad), None, "{bad}: a downgrade of the session cookie's protection");
        }
        for good in [
            "http://localhost/",
            "http://LOCALHOST:8080/x",
            "http://127.0.0.1:3000/",
            "http://[::1]:9000/",
            "http://127.0.0.2/",
            "https://app.example.com/",
        ] {
            assert_eq!(r.check(good), Some(good), "{good}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let r = rt();
        for bad in [
            "",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "https://app.example.com.evil.example/",
            "https://evilapp.example.com/",
            "https://app.example.com@evil.example/",
            "https://evil.example\\@app.example.com/",
            "https://tools.example.com/",
            "https://tools.example.com:8081/",
            "https://corp.example/",
            "https://xcorp.example/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://app.example.com/",
            "https://app%2eexample.com/",
            "https:///app.example.com",
            "/ui/account\n",
            "https://app.example.com/\tx",
        ] {
            assert_eq!(r.check(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nothing_absolute_without_a_list() {
        assert_eq!(ReturnTo::default().check("https://app.example.com/"), None);
        assert_eq!(ReturnTo::default().check("/ui/account"), Some("/ui/account"));
    }
}
