//! The route table: every endpoint with who may call it and which rate limit it
//! counts against, as data (the readable table is in `router.rs`'s module doc),
//! and the one lookup from method and path to a row.
//!
//! An unknown path is 404; a known path with another method is 405 with `Allow`.

use super::error::ApiError;
use crate::domain::access::{Rule, ADMINS};
use crate::domain::roles::Permission;
use hyper::Method;

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
    AdminUserKeys,
    AdminUserKeyRevoke,
    AdminDashboard,
    AdminAudit,
    Jwks,
    Metadata,
    Verify,
    Introspect,
    Revoke,
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
    UiLogin,
    UiLoginForm,
    OidcDiscovery,
    OidcAuthorize,
    OidcConsent,
    OidcUserinfo,
    OidcLogout,
    Consents,
    ConsentRevoke,
    MfaStatus,
    TotpBegin,
    TotpQr,
    TotpConfirm,
    TotpRemove,
    RecoveryCodes,
    AdminResetMfa,
    AdminClients,
    AdminClientCreate,
    AdminClient,
    AdminClientUpdate,
    AdminClientDelete,
    AdminClientRotate,
    PasskeyOptions,
    PasskeyRegister,
    PasskeyList,
    PasskeyRename,
    PasskeyRemove,
    PasskeyLoginOptions,
    PasskeyLogin,
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
    /// Bearer with an access token or an enrollment token (second-factor
    /// enrollment before a required user has a session).
    Enrolling,
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
const fn route(
    method: &'static str,
    path: &'static str,
    endpoint: Endpoint,
    access: Access,
    rate: RateClass,
) -> Route {
    Route { method, path, endpoint, access, rate }
}

use Access::{Bearer, BearerOrKey, Enrolling, Public};
use Endpoint as E;
use RateClass::{Api, Login, Register, Unlimited};

const MANAGE_ROLES: Rule = Rule::Permissions(&[Permission::ManageRoles]);
const UPDATE_USERS: Rule = Rule::Permissions(&[Permission::UpdateAnyUser]);
const VIEW_AUDIT: Rule = Rule::Permissions(&[Permission::ViewAuditLog]);
const INTROSPECT: Rule = Rule::ScopeOrRoles("introspect", ADMINS);
/// OpenID clients are policy for every account: super_admins change them
/// (see `handlers::admin_clients`), admins see them.
const MANAGE_SYSTEM: Rule = Rule::Permissions(&[Permission::ManageSystem]);

/// The route table: method, path, endpoint, access, rate class.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route("GET",    "/health",                                         E::Health,              Public,                                               Unlimited),
    route("POST",   "/api/v1/users/register",                          E::Register,            Public,                                               Register),
    route("POST",   "/api/v1/auth/token",                              E::Token,               Public,                                               Login),
    route("POST",   "/api/v1/auth/login",                              E::Login,               Public,                                               Login),
    route("POST",   "/api/v1/auth/refresh",                            E::Refresh,             Public,                                               Api),
    route("POST",   "/api/v1/auth/logout",                             E::Logout,              Bearer(Rule::Any, None),                              Api),
    route("POST",   "/api/v1/auth/change-password",                    E::ChangePassword,      Bearer(Rule::Any, None),                              Api),
    route("GET",    "/api/v1/users/me",                                E::MeGet,               BearerOrKey(Rule::Any, Some("profile:read")),         Api),
    route("PUT",    "/api/v1/users/me",                                E::MePut,               Bearer(Rule::Any, Some("profile:write")),             Api),
    route("DELETE", "/api/v1/users/me",                                E::MeDelete,            Bearer(Rule::Any, Some("profile:write")),             Api),
    route("POST",   "/api/v1/api-keys/generate",                       E::KeyGenerate,         Bearer(Rule::Any, None),                              Api),
    route("DELETE", "/api/v1/api-keys/revoke",                         E::KeyRevoke,           Bearer(Rule::Any, None),                              Api),
    route("GET",    "/api/v1/api-keys",                                E::KeyList,             Bearer(Rule::Any, None),                              Api),
    route("POST",   "/api/v1/api-keys",                                E::KeyCreate,           Bearer(Rule::Any, None),                              Api),
    route("DELETE", "/api/v1/api-keys/{key_id}",                       E::KeyDelete,           Bearer(Rule::Any, None),                              Api),
    route("GET",    "/api/v1/admin/users",                             E::AdminUsers,          BearerOrKey(Rule::Roles(ADMINS), Some("users:read")), Api),
    route("GET",    "/api/v1/admin/users/search",                      E::AdminSearch,         BearerOrKey(Rule::Roles(ADMINS), Some("users:read")), Api),
    route("PUT",    "/api/v1/admin/users/{user_id}/role",              E::AdminRole,           Bearer(MANAGE_ROLES, Some("users:write")),            Api),
    route("POST",   "/api/v1/admin/users/{user_id}/deactivate",        E::AdminDeactivate,     Bearer(UPDATE_USERS, Some("users:write")),            Api),
    route("POST",   "/api/v1/admin/users/{user_id}/activate",          E::AdminActivate,       Bearer(UPDATE_USERS, Some("users:write")),            Api),
    route("POST",   "/api/v1/admin/users/{user_id}/unlock",            E::AdminUnlock,         Bearer(UPDATE_USERS, Some("users:write")),            Api),
    route("POST",   "/api/v1/admin/users/{user_id}/revoke-sessions",   E::AdminRevokeSessions, Bearer(UPDATE_USERS, Some("users:write")),            Api),
    route("GET",    "/api/v1/admin/users/{user_id}/api-keys",          E::AdminUserKeys,       Bearer(UPDATE_USERS, Some("users:read")),             Api),
    route("DELETE", "/api/v1/admin/users/{user_id}/api-keys/{key_id}", E::AdminUserKeyRevoke,  Bearer(UPDATE_USERS, Some("users:write")),            Api),
    route("GET",    "/api/v1/admin/dashboard",                         E::AdminDashboard,      BearerOrKey(Rule::Roles(ADMINS), Some("admin")),      Api),
    route("GET",    "/api/v1/admin/audit",                             E::AdminAudit,          BearerOrKey(VIEW_AUDIT, Some("admin")),               Api),
    route("GET",    "/.well-known/jwks.json",                          E::Jwks,                Public,                                               Unlimited),
    route("GET",    "/.well-known/oauth-authorization-server",         E::Metadata,            Public,                                               Unlimited),
    // Any method: proxies forward the original one. Credentials are read by the
    // handler (Bearer, API key or the login cookie), refusals are not audited.
    route("*",      "/api/v1/auth/verify",                             E::Verify,              Public,                                               Unlimited),
    route("POST",   "/api/v1/auth/introspect",                         E::Introspect,          BearerOrKey(INTROSPECT, None),                        Api),
    route("POST",   "/api/v1/auth/revoke",                             E::Revoke,              Public,                                               Api),
    route("GET",    "/metrics",                                        E::Metrics,             BearerOrKey(Rule::Roles(ADMINS), None),               Unlimited),
    route("GET",    "/openapi.json",                                   E::OpenApi,             Public,                                               Unlimited),
    route("GET",    "/docs",                                           E::Docs,                Public,                                               Unlimited),
    route("GET",    "/docs/docs.js",                                   E::Docs,                Public,                                               Unlimited),
    route("GET",    "/docs/docs.css",                                  E::Docs,                Public,                                               Unlimited),
    route("GET",    "/api/v1/setup",                                   E::SetupStatus,         Public,                                               Api),
    route("POST",   "/api/v1/setup",                                   E::Setup,               Public,                                               Login),
    route("GET",    "/api/v1/users/me/sessions",                       E::Sessions,            Bearer(Rule::Any, None),                              Api),
    route("DELETE", "/api/v1/users/me/sessions",                       E::SessionsRevokeAll,   Bearer(Rule::Any, None),                              Api),
    route("DELETE", "/api/v1/users/me/sessions/{session_id}",          E::SessionRevoke,       Bearer(Rule::Any, None),                              Api),
    route("GET",    "/api/v1/admin/stats/logins",                      E::AdminLoginStats,     BearerOrKey(Rule::Roles(ADMINS), Some("admin")),      Api),
    route("GET",    "/ui",                                             E::UiHome,              Public,                                               Unlimited),
    route("GET",    "/ui/",                                            E::UiHome,              Public,                                               Unlimited),
    route("GET",    "/ui/next",                                        E::UiNext,              Public,                                               Unlimited),
    route("GET",    "/ui/{file}",                                      E::UiFile,              Public,                                               Unlimited),
    route("GET",    "/ui/login",                                       E::UiLogin,             Public,                                               Unlimited),
    route("POST",   "/ui/login",                                       E::UiLoginForm,         Public,                                               Login),
    route("GET",    "/.well-known/openid-configuration",               E::OidcDiscovery,       Public,                                               Unlimited),
    route("GET",    "/oidc/authorize",                                 E::OidcAuthorize,       Public,                                               Api),
    route("POST",   "/oidc/authorize",                                 E::OidcAuthorize,       Public,                                               Api),
    route("POST",   "/oidc/consent",                                   E::OidcConsent,         Public,                                               Api),
    route("GET",    "/oidc/userinfo",                                  E::OidcUserinfo,        Bearer(Rule::Any, Some("openid")),                    Api),
    route("POST",   "/oidc/userinfo",                                  E::OidcUserinfo,        Bearer(Rule::Any, Some("openid")),                    Api),
    route("GET",    "/oidc/logout",                                    E::OidcLogout,          Public,                                               Api),
    route("POST",   "/oidc/logout",                                    E::OidcLogout,          Public,                                               Api),
    route("GET",    "/api/v1/users/me/consents",                       E::Consents,            Bearer(Rule::Any, None),                              Api),
    route("DELETE", "/api/v1/users/me/consents/{client_id}",           E::ConsentRevoke,       Bearer(Rule::Any, None),                              Api),
    route("GET",    "/api/v1/users/me/mfa",                            E::MfaStatus,           Enrolling,                                            Api),
    route("POST",   "/api/v1/users/me/mfa/totp",                       E::TotpBegin,           Enrolling,                                            Api),
    route("GET",    "/api/v1/users/me/mfa/totp/qr",                    E::TotpQr,              Enrolling,                                            Api),
    route("POST",   "/api/v1/users/me/mfa/totp/confirm",               E::TotpConfirm,         Enrolling,                                            Api),
    route("DELETE", "/api/v1/users/me/mfa/totp",                       E::TotpRemove,          Bearer(Rule::Any, None),                              Api),
    route("POST",   "/api/v1/users/me/mfa/recovery-codes",             E::RecoveryCodes,       Bearer(Rule::Any, None),                              Api),
    route("POST",   "/api/v1/admin/users/{user_id}/reset-mfa",         E::AdminResetMfa,       Bearer(UPDATE_USERS, Some("users:write")),            Api),
    route("GET",    "/api/v1/admin/clients",                           E::AdminClients,        BearerOrKey(Rule::Roles(ADMINS), Some("admin")),      Api),
    route("POST",   "/api/v1/admin/clients",                           E::AdminClientCreate,   Bearer(MANAGE_SYSTEM, Some("admin")),                 Api),
    route("GET",    "/api/v1/admin/clients/{client_id}",               E::AdminClient,         BearerOrKey(Rule::Roles(ADMINS), Some("admin")),      Api),
    route("PUT",    "/api/v1/admin/clients/{client_id}",               E::AdminClientUpdate,   Bearer(MANAGE_SYSTEM, Some("admin")),                 Api),
    route("DELETE", "/api/v1/admin/clients/{client_id}",               E::AdminClientDelete,   Bearer(MANAGE_SYSTEM, Some("admin")),                 Api),
    route("POST",   "/api/v1/admin/clients/{client_id}/rotate-secret", E::AdminClientRotate,   Bearer(MANAGE_SYSTEM, Some("admin")),                 Api),
    route("POST",   "/api/v1/users/me/mfa/passkeys/options",           E::PasskeyOptions,      Enrolling,                                            Api),
    route("POST",   "/api/v1/users/me/mfa/passkeys",                   E::PasskeyRegister,     Enrolling,                                            Api),
    route("GET",    "/api/v1/users/me/mfa/passkeys",                   E::PasskeyList,         Bearer(Rule::Any, None),                              Api),
    route("PATCH",  "/api/v1/users/me/mfa/passkeys/{passkey_id}",      E::PasskeyRename,       Bearer(Rule::Any, None),                              Api),
    route("DELETE", "/api/v1/users/me/mfa/passkeys/{passkey_id}",      E::PasskeyRemove,       Bearer(Rule::Any, None),                              Api),
    route("POST",   "/api/v1/auth/passkey/options",                    E::PasskeyLoginOptions, Public,                                               Api),
    route("POST",   "/api/v1/auth/passkey",                            E::PasskeyLogin,        Public,                                               Login),
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
pub(super) fn find_indexed(method: &Method, path: &str) -> Result<(usize, &'static Route, Params), ApiError> {
    match find_exact(method, path) {
        Err(ApiError::MethodNotAllowed(_)) if method == Method::HEAD => find_exact(&Method::GET, path),
        other => other,
    }
}

/// A path that a literal route spells out belongs to the literal routes alone, as
/// OpenAPI matches concrete paths before templated ones: `DELETE
/// /api/v1/api-keys/generate` is a 405 (`Allow: POST`), not key `generate`.
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
        if hit.is_some() || !allowed.is_empty() {
            break;
        }
    }
    match hit {
        Some(h) => Ok(h),
        None if allowed.is_empty() => Err(ApiError::NotFound),
        None => Err(ApiError::MethodNotAllowed(allowed)),
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
        // A literal path is never also read as a pattern's parameter: neither the
        // method nor the `Allow` of a 405 comes from /api/v1/api-keys/{key_id}.
        for m in [Method::DELETE, Method::GET, Method::OPTIONS] {
            match find(&m, "/api/v1/api-keys/generate") {
                Err(ApiError::MethodNotAllowed(allowed)) => assert_eq!(allowed, vec![Method::POST], "{m}"),
                other => panic!("{m}: {other:?}"),
            }
        }
        match find(&Method::POST, "/api/v1/api-keys/revoke") {
            Err(ApiError::MethodNotAllowed(allowed)) => assert_eq!(allowed, vec![Method::DELETE]),
            other => panic!("{other:?}"),
        }
        match find(&Method::POST, "/ui/next") {
            Err(ApiError::MethodNotAllowed(allowed)) => assert_eq!(allowed, vec![Method::GET]),
            other => panic!("{other:?}"),
        }
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
