//! The router: one table, one lookup, one `match` to dispatch.
//!
//! | Method | Path                           | Endpoint         | Auth                     |
//! |--------|--------------------------------|------------------|--------------------------|
//! | GET    | /health                        | Health           | none                     |
//! | POST   | /api/v1/users/register         | Register         | none                     |
//! | POST   | /api/v1/auth/token             | Token            | none (form)              |
//! | POST   | /api/v1/auth/login             | Login            | none (form; sets cookies)|
//! | POST   | /api/v1/auth/refresh           | Refresh          | refresh token (body/cookie) |
//! | POST   | /api/v1/auth/logout            | Logout           | Bearer                   |
//! | POST   | /api/v1/auth/change-password   | ChangePassword   | Bearer                   |
//! | GET    | /api/v1/users/me               | MeGet            | Bearer                   |
//! | PUT    | /api/v1/users/me               | MePut            | Bearer                   |
//! | DELETE | /api/v1/users/me               | MeDelete         | Bearer                   |
//!
//! An unknown path is 404; a known path with another method is 405 with `Allow`.
//! Both carry a JSON `detail`, like every other error.

use super::error::ApiError;
use super::extract::read_body;
use super::handlers::{auth, health, users};
use super::respond::{security_headers, Body};
use super::state::AppState;
use bytes::Bytes;
use hyper::body::Body as HttpBody;
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// GET /health
    Health,
    /// POST /api/v1/users/register
    Register,
    /// POST /api/v1/auth/token
    Token,
    /// POST /api/v1/auth/login
    Login,
    /// POST /api/v1/auth/refresh
    Refresh,
    /// POST /api/v1/auth/logout
    Logout,
    /// POST /api/v1/auth/change-password
    ChangePassword,
    /// GET /api/v1/users/me
    MeGet,
    /// PUT /api/v1/users/me
    MePut,
    /// DELETE /api/v1/users/me
    MeDelete,
}

/// The route table: method, path, endpoint.
pub const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("GET", "/health", Endpoint::Health),
    ("POST", "/api/v1/users/register", Endpoint::Register),
    ("POST", "/api/v1/auth/token", Endpoint::Token),
    ("POST", "/api/v1/auth/login", Endpoint::Login),
    ("POST", "/api/v1/auth/refresh", Endpoint::Refresh),
    ("POST", "/api/v1/auth/logout", Endpoint::Logout),
    (
        "POST",
        "/api/v1/auth/change-password",
        Endpoint::ChangePassword,
    ),
    ("GET", "/api/v1/users/me", Endpoint::MeGet),
    ("PUT", "/api/v1/users/me", Endpoint::MePut),
    ("DELETE", "/api/v1/users/me", Endpoint::MeDelete),
];

/// Finds the endpoint for `method` and `path`.
pub fn route(method: &Method, path: &str) -> Result<Endpoint, ApiError> {
    let mut allowed: Vec<Method> = Vec::new();
    for (m, p, e) in ROUTES {
        if *p == path {
            if *m == method.as_str() {
                return Ok(*e);
            }
            if let Ok(m) = Method::from_bytes(m.as_bytes()) {
                allowed.push(m);
            }
        }
    }
    if allowed.is_empty() {
        Err(ApiError::NotFound)
    } else {
        Err(ApiError::MethodNotAllowed(allowed))
    }
}

/// A request as handlers see it: head, the whole (size-checked) body, and who sent it.
#[derive(Debug)]
pub struct Req {
    /// Method, URI, headers.
    pub head: Parts,
    /// The body, at most `max_body` bytes.
    pub body: Bytes,
    /// TCP peer.
    pub peer: SocketAddr,
    /// Request id for logs.
    pub id: u64,
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Handles one request end to end. Never fails: every error becomes a response.
pub async fn handle<B>(state: &AppState, peer: SocketAddr, req: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let (head, body) = req.into_parts();
    let method = head.method.clone();
    let outcome = match route(&head.method, head.uri.path()) {
        Ok(ep) => match read_body(&head, body, state.max_body).await {
            Ok(body) => {
                dispatch(
                    ep,
                    state,
                    Req {
                        head,
                        body,
                        peer,
                        id,
                    },
                )
                .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let mut resp = outcome.unwrap_or_else(|e| e.into_response(id));
    security_headers(&mut resp, state.tls);
    tracing::debug!(request_id = id, %method, status = resp.status().as_u16(), "request");
    resp
}

async fn dispatch(ep: Endpoint, state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    match ep {
        Endpoint::Health => health::get(state),
        Endpoint::Register => users::register(state, req).await,
        Endpoint::Token => auth::token(state, req).await,
        Endpoint::Login => auth::login(state, req).await,
        Endpoint::Refresh => auth::refresh(state, req).await,
        Endpoint::Logout => auth::logout(state, req).await,
        Endpoint::ChangePassword => auth::change_password(state, req).await,
        Endpoint::MeGet => users::me(state, req),
        Endpoint::MePut => users::update_me(state, req).await,
        Endpoint::MeDelete => users::delete_me(state, req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing() {
        assert_eq!(route(&Method::GET, "/health").unwrap(), Endpoint::Health);
        assert!(matches!(
            route(&Method::GET, "/nope"),
            Err(ApiError::NotFound)
        ));
        match route(&Method::PATCH, "/api/v1/users/me") {
            Err(ApiError::MethodNotAllowed(m)) => {
                assert_eq!(m, vec![Method::GET, Method::PUT, Method::DELETE])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn table_has_no_duplicates() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "{a:?} twice");
            }
        }
    }
}
