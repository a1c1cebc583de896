//! Requests as tests write them ([`Call`] and its builders) and responses as tests
//! read them ([`Resp`]), the same for both tiers.

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::Method;
use serde_json::Value;

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: hyper::Version,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }
    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or_default().to_owned()
    }
}

/// A request under construction.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn get(path: &str) -> Call {
    Call { method: Method::GET, path: path.into(), headers: vec![], body: vec![] }
}
pub fn delete(path: &str) -> Call {
    Call { method: Method::DELETE, ..get(path) }
}
pub fn post_json(path: &str, body: Value) -> Call {
    Call { method: Method::POST, ..get(path) }.json(body)
}
pub fn put_json(path: &str, body: Value) -> Call {
    Call { method: Method::PUT, ..get(path) }.json(body)
}
pub fn post_form(path: &str, pairs: &[(&str, &str)]) -> Call {
    let body = serde_urlencoded::to_string(pairs).unwrap();
    Call { method: Method::POST, ..get(path) }
        .header("content-type", "application/x-www-form-urlencoded")
        .raw(body.into_bytes())
}

impl Call {
    pub fn method(mut self, m: &str) -> Self {
        self.method = Method::from_bytes(m.as_bytes()).unwrap();
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn json(self, v: Value) -> Self {
        self.header("content-type", "application/json").raw(serde_json::to_vec(&v).unwrap())
    }
    pub fn raw(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}
