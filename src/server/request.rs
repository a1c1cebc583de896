//! A request as handlers see it: the head, the body (already read and size-checked),
//! where it came from, its id, the route's path parameters and the caller the
//! gate admitted. Handlers depend on this, not on the router that builds it.

use super::error::ApiError;
use super::gate;
use super::routes::Params;
use crate::domain::access::Principal;
use bytes::Bytes;
use hyper::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

/// A request as handlers see it.
#[derive(Debug)]
pub struct Req {
    /// Method, URI, headers.
    pub head: Parts,
    /// The body, at most `max_body` bytes.
    pub body: Bytes,
    /// TCP peer.
    pub peer: SocketAddr,
    /// The client's address (the peer, or X-Forwarded-For behind a trusted proxy).
    pub client: IpAddr,
    /// Request id for logs.
    pub id: u64,
    /// Path parameters.
    pub params: Params,
    /// The authenticated caller, on routes that need one.
    pub principal: Option<Principal>,
    /// Whether the caller authenticated with the login cookie.
    pub via_cookie: bool,
}

impl Req {
    /// The caller (routes whose access is not `Public` always have one).
    pub fn caller(&self) -> Result<&Principal, ApiError> {
        self.principal.as_ref().ok_or(ApiError::NotAuthenticated)
    }

    /// Where the request came from, for the audit log.
    pub fn ctx(&self) -> crate::domain::Ctx {
        gate::ctx(&self.head, self.client)
    }

    /// A path parameter captured by the route.
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}
