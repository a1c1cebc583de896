//! The router: one table of routes with who may call them, one lookup, one `match`
//! to dispatch. Authentication and authorization happen here, from the table, before
//! any handler runs; handlers never check roles or scopes themselves.
//!
//! | Method | Path                                    | Credential     | Rule                  | Scope         |
//! |--------|-----------------------------------------|----------------|-----------------------|---------------|
//! | GET    | /health                                 | none           |                       |               |
//! | POST   | /api/v1/users/register                  | none           |                       |               |
//! | POST   | /api/v1/auth/token                      | none (form)    |                       |               |
//! | POST   | /api/v1/auth/login                      | none (form)    |                       |               |
//! | POST   | /api/v1/auth/refresh                    | refresh token  |                       |               |
//! | POST   | /api/v1/auth/logout                     | Bearer         | any                   |               |
//! | POST   | /api/v1/auth/change-password            | Bearer         | any                   |               |
//! | GET    | /api/v1/users/me                        | Bearer/API key | any                   | profile:read  |
//! | PUT    | /api/v1/users/me                        | Bearer         | any                   | profile:write |
//! | DELETE | /api/v1/users/me                        | Bearer         | any                   | profile:write |
//! | POST   | /api/v1/api-keys/generate               | Bearer         | any                   |               |
//! | DELETE | /api/v1/api-keys/revoke                 | Bearer         | any                   |               |
//! | GET    | /api/v1/api-keys                        | Bearer         | any                   |               |
//! | POST   | /api/v1/api-keys                        | Bearer         | any                   |               |
//! | DELETE | /api/v1/api-keys/{key_id}               | Bearer         | any                   |               |
//! | GET    | /api/v1/admin/users                     | Bearer/API key | role admin/super_admin| users:read    |
//! | GET    | /api/v1/admin/users/search              | Bearer/API key | role admin/super_admin| users:read    |
//! | PUT    | /api/v1/admin/users/{user_id}/role      | Bearer         | manage:roles          | users:write   |
//! | POST   | /api/v1/admin/users/{user_id}/deactivate| Bearer         | update:any_user       | users:write   |
//! | POST   | /api/v1/admin/users/{user_id}/activate  | Bearer         | update:any_user       | users:write   |
//! | POST   | /api/v1/admin/users/{user_id}/unlock    | Bearer         | update:any_user       | users:write   |
//! | POST   | /api/v1/admin/users/{user_id}/revoke-sessions | Bearer   | update:any_user       | users:write   |
//! | GET    | /api/v1/admin/dashboard                 | Bearer/API key | role admin/super_admin| admin         |
//! | GET    | /api/v1/admin/audit                     | Bearer/API key | view:audit_log        | admin         |
//! | POST   | /api/v1/auth/introspect                 | Bearer/API key | introspect scope, or admin/super_admin |  |
//! | any    | /api/v1/auth/verify                     | Bearer, API key or login cookie (read by the handler) | `?role=`, `?scope=` | |
//! | GET    | /.well-known/jwks.json                  | none           |                       |               |
//! | GET    | /.well-known/oauth-authorization-server | none           |                       |               |
//! | GET    | /metrics                                | Bearer/API key | role admin/super_admin|               |
//! | GET    | /openapi.json                           | none           |                       |               |
//! | GET    | /docs, /docs/docs.js, /docs/docs.css    | none (404 with --no-docs) |            |               |
//! | GET    | /api/v1/setup                           | none           |                       |               |
//! | POST   | /api/v1/setup                           | none (the setup code; login rate limit) |  |               |
//! | GET    | /api/v1/users/me/sessions               | Bearer/cookie  | any                   |               |
//! | DELETE | /api/v1/users/me/sessions               | Bearer/cookie  | any                   |               |
//! | DELETE | /api/v1/users/me/sessions/{session_id}  | Bearer/cookie  | any                   |               |
//! | GET    | /api/v1/admin/stats/logins              | Bearer/API key | role admin/super_admin| admin         |
//! | GET    | /ui, /ui/, /ui/next, /ui/{file}         | none (pages; their API calls authenticate) |   |               |
//!
//! Wherever "Bearer" appears, the `access_token` cookie of a browser session is
//! accepted too when no header is sent; unsafe methods then need the CSRF check
//! (`server::cookies`).
//!
//! An unknown path is 404; a known path with another method is 405 with `Allow`.
//! Both carry a JSON `detail`, like every other error.

use super::client::client_ip;
use super::error::ApiError;
use super::extract::read_body;
use super::gate;
use super::handlers::{admin, api_keys, assets, auth, discovery, health, sessions, setup, ui, users, verify};
use super::respond::{security_headers, Body};
use super::state::AppState;
use crate::domain::access::{Principal, Rule, ADMINS};
use crate::domain::roles::Permission;
use bytes::Bytes;
use hyper::body::Body as HttpBody;
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Endpoint {
    Health,
    Register,
    Token,
    Login,
    Refresh,
    Logout,
    ChangePassword,
    MeGet,
    MePut,
    MeDelete,
    KeyGenerate,
    KeyRevoke,
    KeyList,
    KeyCreate,
    KeyDelete,
    AdminUsers,
    AdminSearch,
    AdminRole,
    AdminDeactivate,
    AdminActivate,
    AdminUnlock,
    AdminRevokeSessions,
    AdminDashboard,
    AdminAudit,
    Jwks,
    Metadata,
    Verify,
    Introspect,
    Metrics,
    OpenApi,
    Docs,
    SetupStatus,
    Setup,
    Sessions,
    SessionRevoke,
    SessionsRevokeAll,
    AdminLoginStats,
    UiHome,
    UiNext,
    UiFile,
}

/// Which credential a route takes, and what it demands of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (the handler may read one itself, like refresh).
    Public,
    /// `Authorization: Bearer` only.
    Bearer(Rule, Option<&'static str>),
    /// Bearer, or `X-API-Key` when no Bearer is sent.
    BearerOrKey(Rule, Option<&'static str>),
}

/// Which rate limit a route counts against (`--login-rate-limit` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// Not limited per client (health, and later JWKS and forward-auth checks).
    Unlimited,
    /// Password logins.
    Login,
    /// Registrations.
    Register,
    /// Everything else under /api.
    Api,
}

/// One row of the route table.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path; `{name}` matches one segment.
    pub path: &'static str,
    /// What handles it.
    pub endpoint: Endpoint,
    /// Who may call it.
    pub access: Access,
    /// Which rate limit it counts against.
    pub rate: RateClass,
}

const fn route(method: &'static str, path: &'static str, endpoint: Endpoint, access: Access) -> Route {
    let rate = match endpoint {
        Endpoint::Health
        | Endpoint::Jwks
        | Endpoint::Metadata
        | Endpoint::Verify
        | Endpoint::Metrics
        | Endpoint::OpenApi
        | Endpoint::Docs
        | Endpoint::UiHome
        | Endpoint::UiNext
        | Endpoint::UiFile => RateClass::Unlimited,
        Endpoint::Token | Endpoint::Login | Endpoint::Setup => RateClass::Login,
        Endpoint::Register => RateClass::Register,
        _ => RateClass::Api,
    };
    Route { method, path, endpoint, access, rate }
}

use Access::{Bearer, BearerOrKey, Public};
use Endpoint as E;

const MANAGE_ROLES: Rule = Rule::Permissions(&[Permission::ManageRoles]);
const UPDATE_USERS: Rule = Rule::Permissions(&[Permission::UpdateAnyUser]);
const VIEW_AUDIT: Rule = Rule::Permissions(&[Permission::ViewAuditLog]);
const INTROSPECT: Rule = Rule::ScopeOrRoles("introspect", ADMINS);

/// The route table (see the module doc for the same table, readable).
pub static ROUTES: &[Route] = &[
    route("GET", "/health", E::Health, Public),
    route("POST", "/api/v1/users/register", E::Register, Public),
    route("POST", "/api/v1/auth/token", E::Token, Public),
    route("POST", "/api/v1/auth/login", E::Login, Public),
    route("POST", "/api/v1/auth/refresh", E::Refresh, Public),
    route("POST", "/api/v1/auth/logout", E::Logout, Bearer(Rule::Any, None)),
    route("POST", "/api/v1/auth/change-password", E::ChangePassword, Bearer(Rule::Any, None)),
    route("GET", "/api/v1/users/me", E::MeGet, BearerOrKey(Rule::Any, Some("profile:read"))),
    route("PUT", "/api/v1/users/me", E::MePut, Bearer(Rule::Any, Some("profile:write"))),
    route("DELETE", "/api/v1/users/me", E::MeDelete, Bearer(Rule::Any, Some("profile:write"))),
    route("POST", "/api/v1/api-keys/generate", E::KeyGenerate, Bearer(Rule::Any, None)),
    route("DELETE", "/api/v1/api-keys/revoke", E::KeyRevoke, Bearer(Rule::Any, None)),
    route("GET", "/api/v1/api-keys", E::KeyList, Bearer(Rule::Any, None)),
    route("POST", "/api/v1/api-keys", E::KeyCreate, Bearer(Rule::Any, None)),
    route("DELETE", "/api/v1/api-keys/{key_id}", E::KeyDelete, Bearer(Rule::Any, None)),
    route("GET", "/api/v1/admin/users", E::AdminUsers, BearerOrKey(Rule::Roles(ADMINS), Some("users:read"))),
    route(
        "GET",
        "/api/v1/admin/users/search",
        E::AdminSearch,
        BearerOrKey(Rule::Roles(ADMINS), Some("users:read")),
    ),
    route(
        "PUT",
        "/api/v1/admin/users/{user_id}/role",
        E::AdminRole,
        Bearer(MANAGE_ROLES, Some("users:write")),
    ),
    route(
        "POST",
        "/api/v1/admin/users/{user_id}/deactivate",
        E::AdminDeactivate,
        Bearer(UPDATE_USERS, Some("users:write")),
    ),
    route(
        "POST",
        "/api/v1/admin/users/{user_id}/activate",
        E::AdminActivate,
        Bearer(UPDATE_USERS, Some("users:write")),
    ),
    route(
        "POST",
        "/api/v1/admin/users/{user_id}/unlock",
        E::AdminUnlock,
        Bearer(UPDATE_USERS, Some("users:write")),
    ),
    route(
        "POST",
        "/api/v1/admin/users/{user_id}/revoke-sessions",
        E::AdminRevokeSessions,
        Bearer(UPDATE_USERS, Some("users:write")),
    ),
    route(
        "GET",
        "/api/v1/admin/dashboard",
        E::AdminDashboard,
        BearerOrKey(Rule::Roles(ADMINS), Some("admin")),
    ),
    route("GET", "/api/v1/admin/audit", E::AdminAudit, BearerOrKey(VIEW_AUDIT, Some("admin"))),
    route("GET", "/.well-known/jwks.json", E::Jwks, Public),
    route("GET", "/.well-known/oauth-authorization-server", E::Metadata, Public),
    // Any method: proxies forward the original one. Credentials are read by the
    // handler (Bearer, API key or the login cookie), refusals are not audited.
    route("*", "/api/v1/auth/verify", E::Verify, Public),
    route("POST", "/api/v1/auth/introspect", E::Introspect, BearerOrKey(INTROSPECT, None)),
    route("GET", "/metrics", E::Metrics, BearerOrKey(Rule::Roles(ADMINS), None)),
    route("GET", "/openapi.json", E::OpenApi, Public),
    route("GET", "/docs", E::Docs, Public),
    route("GET", "/docs/docs.js", E::Docs, Public),
    route("GET", "/docs/docs.css", E::Docs, Public),
    route("GET", "/api/v1/setup", E::SetupStatus, Public),
    route("POST", "/api/v1/setup", E::Setup, Public),
    route("GET", "/api/v1/users/me/sessions", E::Sessions, Bearer(Rule::Any, None)),
    route("DELETE", "/api/v1/users/me/sessions", E::SessionsRevokeAll, Bearer(Rule::Any, None)),
    route("DELETE", "/api/v1/users/me/sessions/{session_id}", E::SessionRevoke, Bearer(Rule::Any, None)),
    route(
        "GET",
        "/api/v1/admin/stats/logins",
        E::AdminLoginStats,
        BearerOrKey(Rule::Roles(ADMINS), Some("admin")),
    ),
    route("GET", "/ui", E::UiHome, Public),
    route("GET", "/ui/", E::UiHome, Public),
    route("GET", "/ui/next", E::UiNext, Public),
    route("GET", "/ui/{file}", E::UiFile, Public),
];

/// Path parameters captured by `{name}` segments.
pub type Params = Vec<(&'static str, String)>;

fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                params.push((&w[1..w.len() - 1], g.to_owned()));
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Finds the route for `method` and `path`: literal paths before patterns. HEAD is
/// answered by the GET route (hyper sends the headers without the body).
pub fn find(method: &Method, path: &str) -> Result<(&'static Route, Params), ApiError> {
    find_indexed(method, path).map(|(_, r, p)| (r, p))
}

/// [`find`], also returning the route's position in [`ROUTES`] (the metrics slot).
fn find_indexed(method: &Method, path: &str) -> Result<(usize, &'static Route, Params), ApiError> {
    match find_exact(method, path) {
        Err(ApiError::MethodNotAllowed(_)) if method == Method::HEAD => find_exact(&Method::GET, path),
        other => other,
    }
}

fn find_exact(method: &Method, path: &str) -> Result<(usize, &'static Route, Params), ApiError> {
    let mut allowed: Vec<Method> = Vec::new();
    let mut hit: Option<(usize, &'static Route, Params)> = None;
    for literal_pass in [true, false] {
        for (i, r) in ROUTES.iter().enumerate().filter(|(_, r)| r.path.contains('{') != literal_pass) {
            if let Some(params) = matches(r.path, path) {
                if (r.method == "*" || r.method == method.as_str()) && hit.is_none() {
                    hit = Some((i, r, params));
                } else if let Ok(m) = Method::from_bytes(r.method.as_bytes()) {
                    if !allowed.contains(&m) {
                        allowed.push(m);
                    }
                }
            }
        }
        if hit.is_some() {
            break;
        }
    }
    match hit {
        Some(h) => Ok(h),
        None if allowed.is_empty() => Err(ApiError::NotFound),
        None => Err(ApiError::MethodNotAllowed(allowed)),
    }
}

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

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Handles one request end to end. Never fails: every error becomes a response.
pub async fn handle<B>(state: &AppState, peer: SocketAddr, req: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let (head, body) = req.into_parts();
    let method = head.method.clone();
    let client = client_ip(&head, peer.ip(), &state.trusted_proxies);
    let origin = head.headers.get(hyper::header::ORIGIN).cloned();
    if let Some(mut resp) = state.cors.preflight(&head) {
        security_headers(&mut resp, state.tls);
        return resp;
    }
    let mut rate = None;
    let mut route_index = None;
    let mut personal = false;
    let outcome = async {
        let (index, route, params) = find_indexed(&head.method, head.uri.path())?;
        route_index = Some(index);
        let admitted = gate::admit(state, &head, route, client, &mut rate)?;
        let body = read_body(&head, body, state.max_body).await?;
        let gate::Admitted { principal, via_cookie } = admitted;
        personal = principal.is_some();
        let req = Req { head, body, peer, client, id, params, principal, via_cookie };
        dispatch(route.endpoint, state, req).await
    }
    .await;
    let mut resp = outcome.unwrap_or_else(|e| e.into_response(id));
    // An answer about the caller is theirs alone: no shared cache may keep it (a
    // cache does not treat a cookie as it treats Authorization).
    if personal && !resp.headers().contains_key(hyper::header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    }
    if let Some(d) = rate {
        gate::rate_headers(&mut resp, &d);
    }
    state.cors.decorate(origin.as_ref(), &mut resp);
    security_headers(&mut resp, state.tls);
    state.metrics.request(route_index, resp.status().as_u16(), started.elapsed());
    tracing::debug!(request_id = id, %method, status = resp.status().as_u16(), "request");
    resp
}

async fn dispatch(ep: Endpoint, state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    match ep {
        E::Health => health::get(state),
        E::Register => users::register(state, req).await,
        E::Token => auth::token(state, req).await,
        E::Login => auth::login(state, req).await,
        E::Refresh => auth::refresh(state, req).await,
        E::Logout => auth::logout(state, req).await,
        E::ChangePassword => auth::change_password(state, req).await,
        E::MeGet => users::me(req),
        E::MePut => users::update_me(state, req).await,
        E::MeDelete => users::delete_me(state, req).await,
        E::KeyGenerate => api_keys::generate(state, req).await,
        E::KeyRevoke => api_keys::revoke(state, req).await,
        E::KeyList => api_keys::list(state, req),
        E::KeyCreate => api_keys::create(state, req).await,
        E::KeyDelete => api_keys::delete(state, req).await,
        E::AdminUsers => admin::list(state, req),
        E::AdminSearch => admin::search(state, req),
        E::AdminRole => admin::change_role(state, req).await,
        E::AdminDeactivate => admin::set_active(state, req, false).await,
        E::AdminActivate => admin::set_active(state, req, true).await,
        E::AdminUnlock => admin::unlock(state, req).await,
        E::AdminRevokeSessions => admin::revoke_sessions(state, req).await,
        E::AdminDashboard => admin::dashboard(state),
        E::AdminAudit => admin::audit(state, req),
        E::Jwks => discovery::jwks(state),
        E::Metadata => discovery::metadata(state),
        E::Verify => verify::verify(state, req),
        E::Introspect => auth::introspect(state, req).await,
        E::Metrics => Ok(super::metrics_http::response(state)),
        E::OpenApi => assets::openapi(),
        E::Docs => assets::docs(state, &req),
        E::SetupStatus => setup::status(state),
        E::Setup => setup::create(state, req).await,
        E::Sessions => sessions::list(state, req),
        E::SessionRevoke => sessions::revoke(state, req).await,
        E::SessionsRevokeAll => sessions::revoke_all(state, req).await,
        E::AdminLoginStats => admin::login_stats(state, req),
        E::UiHome => ui::home(),
        E::UiNext => ui::next(state, &req),
        E::UiFile => ui::file(&req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(m: Method, p: &str) -> Endpoint {
        find(&m, p).map(|(r, _)| r.endpoint).unwrap()
    }

    #[test]
    fn routing() {
        assert_eq!(ep(Method::GET, "/health"), E::Health);
        assert!(matches!(find(&Method::GET, "/nope"), Err(ApiError::NotFound)));
        match find(&Method::PATCH, "/api/v1/users/me") {
            Err(ApiError::MethodNotAllowed(m)) => {
                assert_eq!(m, vec![Method::GET, Method::PUT, Method::DELETE])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_parameters_and_literals_first() {
        let (r, p) = find(&Method::PUT, "/api/v1/admin/users/42/role").unwrap();
        assert_eq!((r.endpoint, p), (E::AdminRole, vec![("user_id", "42".to_string())]));
        assert_eq!(ep(Method::GET, "/api/v1/admin/users/search"), E::AdminSearch);
        assert_eq!(ep(Method::DELETE, "/api/v1/api-keys/revoke"), E::KeyRevoke);
        assert_eq!(ep(Method::DELETE, "/api/v1/api-keys/abc123"), E::KeyDelete);
        assert!(matches!(find(&Method::PUT, "/api/v1/admin/users//role"), Err(ApiError::NotFound)));
        assert!(matches!(find(&Method::PUT, "/api/v1/admin/users/1/role/x"), Err(ApiError::NotFound)));
    }

    #[test]
    fn table_has_no_duplicates() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{a:?} twice");
            }
        }
    }
}
