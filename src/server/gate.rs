//! Admission of a request to its route: rate limits, authentication, authorization,
//! and an audit entry for every refusal. Runs before the body is read or any handler
//! runs; everything it needs is in the route table row.
//!
//! What a refusal writes is bounded whatever the client sends: the entry names the
//! route's pattern, never the path as sent (which can be 64 KB); a client's 429s are
//! audited once per rate-limit window, not once each; and refused credentials count
//! against the client's API limit even on otherwise unlimited routes.

use super::client::bucket;
use super::cookies;
use super::error::ApiError;
use super::extract::{api_key, bearer};
use super::metrics::Limited;
use super::ratelimit::{Decision, Limiter};
use super::respond::Body;
use super::routes::{Access, RateClass, Route};
use super::state::AppState;
use crate::domain::access::{Credential, Principal, Rule};
use crate::domain::{self, AuditEvent, Ctx};
use hyper::header::{HeaderName, HeaderValue, USER_AGENT};
use hyper::http::request::Parts;
use hyper::Response;
use std::net::IpAddr;

/// Where a request came from, for the audit log.
pub fn ctx(head: &Parts, client: IpAddr) -> Ctx {
    let user_agent = head.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ctx { ip: Some(client.to_string()), user_agent }
}

/// Who a request was admitted as.
#[derive(Debug, Default)]
pub struct Admitted {
    /// The caller, on routes that need one.
    pub principal: Option<Principal>,
    /// Whether the credential was the `access_token` cookie (a browser session).
    pub via_cookie: bool,
}

/// Rate-limits, authenticates and authorizes a request for `route`. Anonymous
/// requests and Bearer callers count against their address; a request that
/// authenticates with an API key counts against the key, and one whose key fails
/// counts against its address (so made-up keys cannot dodge the limit).
pub fn admit(
    state: &AppState,
    head: &Parts,
    route: &Route,
    client: IpAddr,
    rate: &mut Option<Decision>,
) -> Result<Admitted, ApiError> {
    let now = state.auth.clock().now_micros();
    let class = match route.rate {
        RateClass::Login => Limited::Login,
        RateClass::Register => Limited::Register,
        RateClass::Api | RateClass::Unlimited => Limited::Api,
    };
    let by_ip = |limiter: &Option<Limiter<IpAddr>>, rate: &mut Option<Decision>| -> Result<(), ApiError> {
        let Some(l) = limiter else { return Ok(()) };
        let d = l.check(&bucket(client), now);
        *rate = Some(d);
        if d.allowed {
            Ok(())
        } else {
            state.metrics.rate_limited(class);
            if d.first_refusal {
                let why = format!("limit {}", d.limit);
                refused(state, head, route, client, AuditEvent::RateLimitExceeded, None, &why);
            }
            Err(ApiError::RateLimited(d))
        }
    };
    let limits = &state.limits;
    match route.rate {
        RateClass::Unlimited => {}
        RateClass::Login => by_ip(&limits.login, rate)?,
        RateClass::Register => by_ip(&limits.register, rate)?,
        // Only a route that authenticates API keys may count against the key (after
        // authenticating it); everything else counts against the address here.
        RateClass::Api if keyed(route.access) && bearer(head).is_none() && api_key(head).is_some() => {}
        RateClass::Api => by_ip(&limits.api, rate)?,
    }
    let (principal, via_cookie) = match authenticate(state, head, route.access) {
        Ok(p) => p,
        Err((e, who)) => {
            // A refusal counts against the address (a made-up key, or a bad token
            // on an unlimited route such as /metrics) before it may be audited.
            if matches!(route.rate, RateClass::Api | RateClass::Unlimited) && rate.is_none() {
                by_ip(&limits.api, rate)?;
            }
            refused(state, head, route, client, AuditEvent::UnauthorizedAccess, who.as_deref(), &reason(&e));
            return Err(e);
        }
    };
    if let (RateClass::Api, None, Some(p), Some(l)) = (route.rate, &rate, &principal, &limits.api_keys) {
        if let Credential::ApiKey { id } = &p.credential {
            let d = l.check(id, now);
            *rate = Some(d);
            if !d.allowed {
                state.metrics.rate_limited(Limited::Api);
                if d.first_refusal {
                    let why = format!("limit {} for API key {id}", d.limit);
                    refused(state, head, route, client, AuditEvent::RateLimitExceeded, Some(p), &why);
                }
                return Err(ApiError::RateLimited(d));
            }
        }
    }
    Ok(Admitted { principal, via_cookie })
}

fn keyed(access: Access) -> bool {
    matches!(access, Access::BearerOrKey(..))
}

/// `X-RateLimit-*` on every response of a rate-limited route.
pub fn rate_headers(resp: &mut Response<Body>, d: &Decision) {
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", d.limit.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
        ("x-ratelimit-reset", d.reset.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}

/// Why a request was refused, and who it was when a user was identified (a 403).
type Refusal = (ApiError, Option<Box<Principal>>);

/// Establishes and authorizes the caller for `access`. Token and key checks only
/// read the store, so they run inline. A Bearer header wins over an API key, and
/// both over the login cookie; a cookie-authenticated unsafe request must pass the
/// CSRF check. On failure, also returns the user when one was identified (a 403).
fn authenticate(
    state: &AppState,
    head: &Parts,
    access: Access,
) -> Result<(Option<Principal>, bool), Refusal> {
    let (rule, scope, keys_ok) = match access {
        Access::Public => return Ok((None, false)),
        Access::Bearer(rule, scope) => (rule, scope, false),
        Access::BearerOrKey(rule, scope) => (rule, scope, true),
        Access::Enrolling => (Rule::Any, None, false),
    };
    let anonymous = |e: domain::Error| (ApiError::from(e), None);
    let mut via_cookie = false;
    let principal = match (bearer(head), api_key(head)) {
        (Some(token), _) if access == Access::Enrolling => {
            state.auth.authenticate_enrolling(token).map_err(anonymous)?
        }
        (Some(token), _) => state.auth.authenticate(token).map_err(anonymous)?,
        (None, Some(key)) if keys_ok => state.auth.authenticate_key(key).map_err(anonymous)?,
        (None, Some(_)) => return Err((ApiError::KeyNotAccepted, None)),
        (None, None) => match cookies::access_token(head) {
            Some(token) => {
                let p = state.auth.authenticate(&token).map_err(anonymous)?;
                if let Some((jti, _)) = p.access_token() {
                    if let Err(e) = cookies::same_site_or_token(state, head, jti) {
                        return Err((e, Some(Box::new(p))));
                    }
                }
                via_cookie = true;
                p
            }
            None => return Err((ApiError::NotAuthenticated, None)),
        },
    };
    if let Err(e) = principal.authorize(rule, scope) {
        return Err((e.into(), Some(Box::new(principal))));
    }
    Ok((Some(principal), via_cookie))
}

/// Queues an audit entry for a refused request. It names the route as the table
/// spells it (`DELETE /api/v1/api-keys/{key_id}`), so its size never depends on the
/// path the client sent.
fn refused(
    state: &AppState,
    head: &Parts,
    route: &Route,
    client: IpAddr,
    event: AuditEvent,
    who: Option<&Principal>,
    why: &str,
) {
    let detail = format!("{} {}: {why}", route.method, route.path);
    state.auth.audit_refusal(&ctx(head, client), event, who, detail);
}

/// A short reason for the audit log (never a credential).
fn reason(e: &ApiError) -> String {
    match e {
        ApiError::Domain(domain::Error::Unauthenticated(t)) => (*t).to_owned(),
        ApiError::Domain(domain::Error::Forbidden(t)) => t.clone(),
        ApiError::Domain(domain::Error::MissingScope(s)) => format!("missing scope {s}"),
        ApiError::NotAuthenticated => "no credentials".into(),
        ApiError::KeyNotAccepted => "API key sent to a Bearer-only endpoint".into(),
        ApiError::CrossSite => "cookie-authenticated request failed the CSRF check".into(),
        other => format!("{other:?}"),
    }
}
