//! The router: one request end to end ([`handle`]) and the one `match` that
//! dispatches an endpoint to its handler. The table of routes (who may call each,
//! which rate limit it counts against) is data in [`super::routes`]; the gate
//! authenticates and authorizes from it before any handler runs, so handlers never
//! check roles or scopes themselves. The same table, readable:
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
//! | GET    | /api/v1/admin/users/{user_id}/api-keys  | Bearer         | update:any_user       | users:read    |
//! | DELETE | /api/v1/admin/users/{user_id}/api-keys/{key_id} | Bearer | update:any_user       | users:write   |
//! | GET    | /api/v1/admin/dashboard                 | Bearer/API key | role admin/super_admin| admin         |
//! | GET    | /api/v1/admin/audit                     | Bearer/API key | view:audit_log        | admin         |
//! | POST   | /api/v1/auth/introspect                 | Bearer/API key | introspect scope, or admin/super_admin |  |
//! | POST   | /api/v1/auth/revoke                     | none (the token itself, RFC 7009) |  |               |
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
//! | GET    | /api/v1/users/me/mfa                    | Bearer/cookie, or enrollment token | any   |               |
//! | POST   | /api/v1/users/me/mfa/totp               | Bearer/cookie, or enrollment token | any   |               |
//! | GET    | /api/v1/users/me/mfa/totp/qr            | Bearer/cookie, or enrollment token | any   |               |
//! | POST   | /api/v1/users/me/mfa/totp/confirm       | Bearer/cookie, or enrollment token | any   |               |
//! | DELETE | /api/v1/users/me/mfa/totp               | Bearer/cookie  | any                   |               |
//! | POST   | /api/v1/users/me/mfa/recovery-codes     | Bearer/cookie  | any                   |               |
//! | POST   | /api/v1/admin/users/{user_id}/reset-mfa | Bearer         | update:any_user       | users:write   |
//! | GET    | /api/v1/admin/clients                   | Bearer/API key | role admin/super_admin| admin         |
//! | POST   | /api/v1/admin/clients                   | Bearer         | manage:system         | admin         |
//! | GET    | /api/v1/admin/clients/{client_id}       | Bearer/API key | role admin/super_admin| admin         |
//! | PUT    | /api/v1/admin/clients/{client_id}       | Bearer         | manage:system         | admin         |
//! | DELETE | /api/v1/admin/clients/{client_id}       | Bearer         | manage:system         | admin         |
//! | POST   | /api/v1/admin/clients/{client_id}/rotate-secret | Bearer | manage:system         | admin         |
//! | POST   | /api/v1/users/me/mfa/passkeys/options   | Bearer/cookie, or enrollment token | any   |               |
//! | POST   | /api/v1/users/me/mfa/passkeys           | Bearer/cookie, or enrollment token | any   |               |
//! | GET    | /api/v1/users/me/mfa/passkeys           | Bearer/cookie  | any                   |               |
//! | PATCH  | /api/v1/users/me/mfa/passkeys/{passkey_id} | Bearer/cookie | any                  |               |
//! | DELETE | /api/v1/users/me/mfa/passkeys/{passkey_id} | Bearer/cookie | any (a sign-in with a second factor) | |
//! | POST   | /api/v1/auth/passkey/options            | none           |                       |               |
//! | POST   | /api/v1/auth/passkey                    | none (a passkey's assertion; login rate limit) |  |     |
//!
//! OpenID clients are seen by admins and changed only with `manage:system` (that
//! is, by super_admins; the operator's CLI too): a client's allowed roles, trusted
//! flag and redirect URIs are sign-in policy for every account, above what the
//! tutorial lets an admin change (`handlers::admin_clients` says why).
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
use super::handlers::{
    admin, admin_clients, api_keys, assets, auth, discovery, health, mfa, oidc, passkeys, sessions, setup,
    ui, users, verify,
};
use super::request::Req;
use super::respond::{security_headers, Body};
use super::routes::{find_indexed, Endpoint, Endpoint as E};
use super::state::AppState;
use bytes::Bytes;
use hyper::body::Body as HttpBody;
use hyper::{Request, Response};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// Handles one request end to end. Never fails: every error becomes a response.
pub async fn handle<B>(state: &AppState, peer: SocketAddr, req: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let id = state.request_ids.fetch_add(1, Ordering::Relaxed);
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
        let body = tokio::time::timeout(state.body_timeout, read_body(&head, body, state.max_body))
            .await
            .map_err(|_| ApiError::BodyTimeout)??;
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
        E::AdminUserKeys => api_keys::admin_list(state, req),
        E::AdminUserKeyRevoke => api_keys::admin_delete(state, req).await,
        E::AdminDashboard => admin::dashboard(state),
        E::AdminAudit => admin::audit(state, req),
        E::Jwks => discovery::jwks(state),
        E::Metadata => discovery::metadata(state),
        E::Verify => verify::verify(state, req),
        E::Introspect => auth::introspect(state, req).await,
        E::Revoke => auth::revoke(state, req).await,
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
        E::UiLogin => ui::login(state, &req),
        E::UiLoginForm => ui::login_form(state, req).await,
        E::OidcDiscovery => oidc::discovery(state),
        E::OidcAuthorize => oidc::authorize(state, req).await,
        E::OidcConsent => oidc::consent(state, req).await,
        E::OidcUserinfo => oidc::userinfo(req),
        E::OidcLogout => oidc::logout(state, req).await,
        E::Consents => sessions::consents(state, req),
        E::ConsentRevoke => sessions::revoke_consent(state, req).await,
        E::MfaStatus => mfa::status(state, req).await,
        E::TotpBegin => mfa::totp_begin(state, req).await,
        E::TotpQr => mfa::totp_qr(state, req).await,
        E::TotpConfirm => mfa::totp_confirm(state, req).await,
        E::TotpRemove => mfa::totp_remove(state, req).await,
        E::RecoveryCodes => mfa::regenerate(state, req).await,
        E::AdminResetMfa => mfa::admin_reset(state, req).await,
        E::AdminClients => admin_clients::list(state),
        E::AdminClientCreate => admin_clients::create(state, req).await,
        E::AdminClient => admin_clients::get(state, &req),
        E::AdminClientUpdate => admin_clients::update(state, req).await,
        E::AdminClientDelete => admin_clients::delete(state, req).await,
        E::AdminClientRotate => admin_clients::rotate_secret(state, req).await,
        E::PasskeyOptions => passkeys::creation_options(state, req).await,
        E::PasskeyRegister => passkeys::register(state, req).await,
        E::PasskeyList => passkeys::list(state, req).await,
        E::PasskeyRename => passkeys::rename(state, req).await,
        E::PasskeyRemove => passkeys::remove(state, req).await,
        E::PasskeyLoginOptions => passkeys::request_options(state).await,
        E::PasskeyLogin => passkeys::sign_in(state, req).await,
    }
}
