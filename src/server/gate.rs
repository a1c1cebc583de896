//! Admission of a request to its route: rate limits, authentication, authorization,
//! and an audit entry for every refusal. Runs before the body is read or any handler
//! runs; everything it needs is in the route table row.

use super::client::bucket;
use super::cookies;
use super::error::ApiError;
use super::extract::{api_key, bearer};
use super::metrics::Limited;
use super::ratelimit::{Decision, Limiter};
use super::respond::Body;
use super::router::{Access, RateClass, Route};
use super::state::AppState;
use crate::domain::access::{Credential, Principal};
use crate::domain::{self, Ctx};
use crate::store::records::{AuditEvent, User};
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
            refused(state, head, client, AuditEvent::RateLimitExceeded, None, &format!("limit {}", d.limit));
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
            refused(state, head, client, AuditEvent::UnauthorizedAccess, who.as_deref(), &reason(&e));
            if route.rate == RateClass::Api && rate.is_none() {
                by_ip(&limits.api, rate)?;
            }
            return Err(e);
        }
    };
    if let (RateClass::Api, None, Some(p), Some(l)) = (route.rate, &rate, &principal, &limits.api_keys) {
        if let Credential::ApiKey { id } = &p.credential {
            let d = l.check(id, now);
            *rate = Some(d);
            if !d.allowed {
                state.metrics.rate_limited(Limited::Api);
                let why = format!("limit {} for API key {id}", d.limit);
                refused(state, head, client, AuditEvent::RateLimitExceeded, Some(&p.user), &why);
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
type Refusal = (ApiError, Option<Box<User>>);

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
    };
    let anonymous = |e: domain::Error| (ApiError::from(e), None);
    let mut via_cookie = false;
    let principal = match (bearer(head), api_key(head)) {
        (Some(token), _) => state.auth.authenticate(token).map_err(anonymous)?,
        (None, Some(key)) if keys_ok => state.auth.authenticate_key(key).map_err(anonymous)?,
        (None, Some(_)) => return Err((ApiError::KeyNotAccepted, None)),
        (None, None) => match cookies::access_token(head) {
            Some(token) => {
                let p = state.auth.authenticate(&token).map_err(anonymous)?;
                if let Some((jti, _)) = p.access_token() {
                    if let Err(e) = cookies::same_site_or_token(state, head, jti) {
                        return Err((e, Some(Box::new(p.user))));
                    }
                }
                via_cookie = true;
                p
            }
            None => return Err((ApiError::NotAuthenticated, None)),
        },
    };
    if let Err(e) = principal.authorize(rule, scope) {
        return Err((e.into(), Some(Box::new(principal.user))));
    }
    Ok((Some(principal), via_cookie))
}

/// Queues an audit entry for a refused request.
fn refused(state: &AppState, head: &Parts, client: IpAddr, event: AuditEvent, who: Option<&User>, why: &str) {
    let detail = format!("{} {}: {why}", head.method, head.uri.path());
    let rec = state.auth.audit_record(&ctx(head, client), event, who, Some(detail));
    state.auth.audit_later(rec);
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
