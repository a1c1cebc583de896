//! Who the client is, for rate limits and the audit log: the TCP peer, or, when the
//! peer is a `--trusted-proxy`, the right-most address in `X-Forwarded-For` that is
//! not itself a trusted proxy. Forwarded headers from anyone else are ignored, so a
//! client cannot choose its own rate-limit bucket.
//!
//! The header is read from the right, the end our proxies wrote: everything left of
//! the first untrusted address is the client's own text. An element that does not
//! parse ends the walk with what was found so far, so junk a client puts in front
//! (`garbage, 203.0.113.9`, as nginx's `$proxy_add_x_forwarded_for` passes it on)
//! cannot move it into the proxy's bucket.

use crate::config::Cidr;
use hyper::http::request::Parts;
use std::net::{IpAddr, Ipv6Addr};

/// The client's address.
pub fn client_ip(head: &Parts, peer: IpAddr, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Right to left across every header line: the first hop our trusted proxies did
    // not add is the client; if all are trusted, the furthest one parsed.
    let mut client = peer;
    for value in head.headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(v) = value.to_str() else { return client };
        for part in v.rsplit(',') {
            let Some(ip) = parse_hop(part.trim()) else { return client };
            client = ip;
            if !is_trusted(ip) {
                return ip;
            }
        }
    }
    client
}

/// An `X-Forwarded-For` element: an address, optionally `[v6]:port` or `v4:port`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    s.rsplit_once(':').and_then(|(a, _)| a.parse().ok())
}

/// The rate-limit key for an address: IPv4 as is, IPv6 by its /64 (one subscriber
/// usually holds a whole /64, so per-address keys would let one client have 2^64).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn head(xff: &[&str]) -> Parts {
        let mut b = Request::builder().uri("/");
        for v in xff {
            b = b.header("x-forwarded-for", *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let h = head(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(
            client_ip(&h, ip("198.51.100.1"), &trusted),
            ip("198.51.100.1"),
            "untrusted peer: header ignored"
        );
        assert_eq!(client_ip(&h, ip("10.0.0.2"), &trusted), ip("203.0.113.7"), "right-most untrusted hop");
        let chain = head(&["6.6.6.6, 203.0.113.7, 10.0.0.9"]);
        assert_eq!(client_ip(&chain, ip("10.0.0.2"), &trusted), ip("203.0.113.7"), "trusted hops skipped");
        let split = head(&["6.6.6.6", "203.0.113.7"]);
        assert_eq!(client_ip(&split, ip("10.0.0.2"), &trusted), ip("203.0.113.7"), "several headers join");
        assert_eq!(client_ip(&head(&["garbage"]), ip("10.0.0.2"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(&head(&["10.0.0.1, 10.0.0.3"]), ip("10.0.0.2"), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(&head(&[]), ip("10.0.0.2"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(&head(&["[2001:db8::1]:443"]), ip("10.0.0.2"), &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn junk_left_of_the_client_is_ignored_and_junk_right_of_it_stops_the_walk() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let proxy = ip("10.0.0.2");
        for h in [
            head(&["garbage, 203.0.113.9"]),
            head(&["unknown,203.0.113.9, 10.0.0.7"]),
            head(&["garbage", "203.0.113.9"]),
            head(&[", 203.0.113.9"]),
        ] {
            assert_eq!(client_ip(&h, proxy, &trusted), ip("203.0.113.9"), "{h:?}");
        }
        // Junk our side of the client: use the last hop we could read.
        assert_eq!(client_ip(&head(&["203.0.113.9, junk, 10.0.0.7"]), proxy, &trusted), ip("10.0.0.7"));
        assert_eq!(client_ip(&head(&["203.0.113.9, junk"]), proxy, &trusted), proxy);
        let mut b = Request::builder().uri("/");
        b = b.header("x-forwarded-for", hyper::header::HeaderValue::from_bytes(b"\xff").unwrap());
        b = b.header("x-forwarded-for", "203.0.113.9");
        let (h, _) = b.body(()).unwrap().into_parts();
        assert_eq!(client_ip(&h, proxy, &trusted), ip("203.0.113.9"), "a non-UTF-8 line to the left");
    }

    #[test]
    fn ipv6_buckets_by_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
