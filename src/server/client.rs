//! Who the client is, for rate limits and the audit log: the TCP peer, or, when the
//! peer is a `--trusted-proxy`, the right-most address in `X-Forwarded-For` that is
//! not itself a trusted proxy. Forwarded headers from anyone else are ignored, so a
//! client cannot choose its own rate-limit bucket.

use crate::config::Cidr;
use hyper::http::request::Parts;
use std::net::{IpAddr, Ipv6Addr};

/// The client's address.
pub fn client_ip(head: &Parts, peer: IpAddr, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in head.headers.get_all("x-forwarded-for") {
        let Ok(v) = value.to_str() else { return peer };
        for part in v.split(',') {
            match parse_hop(part.trim()) {
                Some(ip) => hops.push(ip),
                None => return peer,
            }
        }
    }
    // Right to left: the first hop our trusted proxies did not add is the client.
    hops.iter().rev().copied().find(|ip| !is_trusted(*ip)).or(hops.first().copied()).unwrap_or(peer)
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
        assert_eq!(client_ip(&head(&[]), ip("10.0.0.2"), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(&head(&["[2001:db8::1]:443"]), ip("10.0.0.2"), &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn ipv6_buckets_by_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
