//! Credential and client-address header parsing on arbitrary header values:
//! Authorization (Bearer), X-API-Key, Cookie and X-Forwarded-For.
#![no_main]

use gatehouse::config::Cidr;
use gatehouse::server::client::client_ip;
use gatehouse::server::extract::{api_key, bearer, cookie};
use hyper::Request;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let mut req = Request::builder().uri("/api/v1/users/me");
    for name in ["authorization", "x-api-key", "cookie", "x-forwarded-for"] {
        if let Some(v) = fields.next() {
            if let Ok(v) = hyper::header::HeaderValue::from_bytes(v) {
                req = req.header(name, v);
            }
        }
    }
    let Ok(req) = req.body(()) else { return };
    let (head, ()) = req.into_parts();
    if let Some(token) = bearer(&head) {
        assert!(!token.is_empty());
    }
    let _ = api_key(&head);
    let _ = cookie(&head, "refresh_token");
    let _ = cookie(&head, "access_token");
    let trusted = [Cidr::parse("127.0.0.0/8").expect("cidr")];
    let peer: IpAddr = "127.0.0.1".parse().expect("ip");
    let _ = client_ip(&head, peer, &trusted);
});
