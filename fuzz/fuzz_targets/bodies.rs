//! Request-body and query decoding on arbitrary bytes: JSON objects field by field,
//! form bodies, query strings and the RFC 3339 times of the audit filters. Every
//! outcome must be a value or a validation error, never a panic.
#![no_main]

use bytes::Bytes;
use gatehouse::server::extract::{form, json_object, query, query_int, Fields};
use hyper::Request;
use libfuzzer_sys::fuzz_target;

const TYPES: [&str; 4] =
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "application/merge-patch+json"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let (q, body) = rest.split_at(rest.len().min(usize::from(sel >> 2)));
    let uri = format!("/api/v1/admin/users?{}", String::from_utf8_lossy(q).replace(['#', ' '], "_"));
    let Ok(req) = Request::builder().uri(uri.as_str()).header("content-type", TYPES[usize::from(sel & 3)]).body(())
    else {
        return;
    };
    let (head, ()) = req.into_parts();
    let body = Bytes::copy_from_slice(body);
    if let Ok(map) = json_object(&head, &body) {
        let mut f = Fields::new(map);
        let _ = f.required("username");
        let _ = f.optional("full_name");
        let _ = f.optional_strings("scopes");
        let _ = f.optional_u64("expires_in");
        let _ = f.finish();
    }
    let mut f = form(&head, &body);
    let _ = f.required("username");
    let _ = f.optional("scope");
    let _ = f.finish();
    let params = query(&head);
    let _ = query_int(&params, "skip", 0, 0, i64::MAX);
    let _ = query_int(&params, "limit", 100, 0, 100);
    for (_, v) in &params {
        let _ = gatehouse::clock::parse_rfc3339(v);
    }
});
