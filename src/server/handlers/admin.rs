//! /api/v1/admin: the tutorial's user list, role change and dashboard, plus
//! deactivate/activate, unlock, revoke-sessions and search. The router has
//! already checked the caller's role, permission and scope.

use super::UserResponse;
use crate::clock::rfc3339;
use crate::domain::admin::MAX_PAGE;
use crate::domain::{Account, AuditEvent, AuditQuery, Role};
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{json_object, query, query_int, query_param};
use crate::server::request::Req;
use crate::server::respond::{json, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

/// `?include=`: absent, or `status` (any other value is a 422).
fn include_status(q: &[(String, String)]) -> Result<bool, Invalid> {
    match query_param(q, "include").as_deref() {
        None => Ok(false),
        Some("status") => Ok(true),
        Some(_) => Err(Invalid {
            loc: vec!["query".into(), "include".into()],
            msg: "Input should be 'status'".into(),
            kind: "enum".into(),
        }),
    }
}

/// Users in an admin listing: the tutorial's UserResponse, plus, when asked for
/// with `?include=status` (the admin page does), the sign-in state an admin acts
/// on: `last_login`, `locked_until` (while locked), `failed_login_attempts`.
/// Tutorial clients never ask, so they get exactly the tutorial's fields.
fn users_json(users: &[Account], with_status: bool, now: i64) -> Vec<Value> {
    users
        .iter()
        .map(|u| {
            let mut v = serde_json::to_value(UserResponse::from(u)).unwrap_or_default();
            if let (true, Some(o)) = (with_status, v.as_object_mut()) {
                o.insert("last_login".into(), json!(u.last_login.map(rfc3339)));
                o.insert("locked_until".into(), json!(u.locked_until.filter(|t| *t > now).map(rfc3339)));
                o.insert("failed_login_attempts".into(), json!(u.failed_logins));
            }
            v
        })
        .collect()
}

/// `{user_id}` as an integer, or FastAPI's 422.
pub(crate) fn user_id(req: &Req) -> Result<u64, ApiError> {
    req.param("user_id").parse::<u64>().map_err(|_| {
        ApiError::Validation(vec![Invalid {
            loc: vec!["path".into(), "user_id".into()],
            msg: "Input should be a valid integer, unable to parse string as an integer".into(),
            kind: "int_parsing".into(),
        }])
    })
}

/// GET /users?skip&limit (limit at most 100).
pub fn list(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let q = query(&req.head);
    let max = i64::try_from(MAX_PAGE).unwrap_or(100);
    let (skip, limit, status) = match (
        query_int(&q, "skip", 0, 0, i64::MAX),
        query_int(&q, "limit", max, 0, max),
        include_status(&q),
    ) {
        (Ok(s), Ok(l), Ok(i)) => (s, l, i),
        (s, l, i) => {
            return Err(ApiError::Validation(s.err().into_iter().chain(l.err()).chain(i.err()).collect()))
        }
    };
    let users = state.auth.list_users(skip.unsigned_abs(), limit.unsigned_abs())?;
    Ok(json(StatusCode::OK, &users_json(&users, status, state.auth.clock().now_micros())))
}

/// GET /users/search?q=prefix&limit: username or email prefix.
pub fn search(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let q = query(&req.head);
    let max = i64::try_from(MAX_PAGE).unwrap_or(100);
    let prefix = query_param(&q, "q").filter(|p| !p.is_empty()).ok_or_else(|| Invalid {
        loc: vec!["query".into(), "q".into()],
        msg: "Field required".into(),
        kind: "missing".into(),
    });
    let (prefix, limit, status) = match (prefix, query_int(&q, "limit", 20, 1, max), include_status(&q)) {
        (Ok(p), Ok(l), Ok(i)) => (p, l, i),
        (p, l, i) => {
            return Err(ApiError::Validation(p.err().into_iter().chain(l.err()).chain(i.err()).collect()))
        }
    };
    let users = state.auth.search_users(&prefix, limit.unsigned_abs())?;
    Ok(json(StatusCode::OK, &users_json(&users, status, state.auth.clock().now_micros())))
}

/// `new_role` from the query string (the tutorial) or a JSON body `{"new_role": ...}`.
fn new_role(req: &Req) -> Result<Role, ApiError> {
    let loc_query = || vec![Value::from("query"), Value::from("new_role")];
    let raw = match query_param(&query(&req.head), "new_role") {
        Some(r) => Some(r),
        None if !req.body.is_empty() => json_object(&req.head, &req.body)
            .ok()
            .and_then(|m| m.get("new_role").and_then(Value::as_str).map(str::to_owned)),
        None => None,
    };
    let Some(raw) = raw else {
        return Err(ApiError::Validation(vec![Invalid {
            loc: loc_query(),
            msg: "Field required".into(),
            kind: "missing".into(),
        }]));
    };
    Role::parse(&raw).ok_or_else(|| {
        ApiError::Validation(vec![Invalid {
            loc: loc_query(),
            msg: "Input should be 'user', 'moderator', 'admin' or 'super_admin'".into(),
            kind: "enum".into(),
        }])
    })
}

/// PUT /users/{user_id}/role?new_role=...
pub async fn change_role(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let target = user_id(&req)?;
    let role = new_role(&req)?;
    let who = req.caller()?.clone();
    let user = state.blocking(move |auth| auth.change_role(&ctx, &who, target, role)).await?;
    Ok(json(StatusCode::OK, &UserResponse::from(&user)))
}

/// POST /users/{user_id}/deactivate and /activate.
pub async fn set_active(state: &AppState, req: Req, active: bool) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let target = user_id(&req)?;
    let who = req.caller()?.clone();
    let user = state.blocking(move |auth| auth.set_active(&ctx, &who, target, active)).await?;
    Ok(json(StatusCode::OK, &UserResponse::from(&user)))
}

/// POST /users/{user_id}/unlock.
pub async fn unlock(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let target = user_id(&req)?;
    let who = req.caller()?.clone();
    let user = state.blocking(move |auth| auth.unlock(&ctx, &who, target)).await?;
    Ok(json(StatusCode::OK, &UserResponse::from(&user)))
}

/// POST /users/{user_id}/revoke-sessions[?include_api_keys=true].
pub async fn revoke_sessions(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let target = user_id(&req)?;
    let keys = super::include_api_keys(&req)?;
    let who = req.caller()?.clone();
    state.blocking(move |auth| auth.revoke_sessions(&ctx, &who, target, keys)).await?;
    let detail = if keys { "All sessions and API keys revoked" } else { "All sessions revoked" };
    Ok(json(StatusCode::OK, &json!({ "detail": detail })))
}

/// GET /dashboard: counts by status and role, from maintained counters.
pub fn dashboard(state: &AppState) -> Result<Response<Body>, ApiError> {
    let s = state.auth.dashboard()?;
    let with_mfa = state.auth.users_with_mfa()?;
    let mut by_role = serde_json::Map::new();
    for r in Role::ALL {
        by_role.insert(r.as_str().into(), json!(s.by_role[r.index()]));
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "total_users": s.total,
            "active_users": s.active,
            "inactive_users": s.total.saturating_sub(s.active),
            "users_by_role": by_role,
            "users_with_mfa": with_mfa,
        }),
    ))
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize)]
struct AuditEntry {
    timestamp: String,
    event: &'static str,
    user_id: Option<u64>,
    username: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

/// A time filter: Unix seconds (any `i64`) or an RFC 3339 date-time with its offset.
fn time_param(q: &[(String, String)], name: &str) -> Result<Option<i64>, Invalid> {
    let Some(raw) = query_param(q, name) else { return Ok(None) };
    if let Ok(secs) = raw.trim().parse::<i64>() {
        return Ok(Some(secs.saturating_mul(1_000_000)));
    }
    crate::clock::parse_rfc3339(&raw).map(Some).ok_or_else(|| Invalid {
        loc: vec!["query".into(), name.into()],
        msg: "Input should be a Unix time in seconds or an RFC 3339 date-time".into(),
        kind: "datetime_parsing".into(),
    })
}

/// GET /audit?event&user_id&username&since&until&skip&limit, newest first.
pub fn audit(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let q = query(&req.head);
    let mut errors = Vec::new();
    let mut query = AuditQuery::default();
    match query_int(&q, "skip", 0, 0, i64::MAX) {
        Ok(v) => query.skip = v.unsigned_abs(),
        Err(e) => errors.push(e),
    }
    match query_int(&q, "limit", 50, 0, 100) {
        Ok(v) => query.limit = usize::try_from(v).unwrap_or(0),
        Err(e) => errors.push(e),
    }
    match query_int(&q, "user_id", -1, 0, i64::MAX) {
        Ok(-1) => {}
        Ok(v) => query.user_id = Some(v.unsigned_abs()),
        Err(e) => errors.push(e),
    }
    for (name, slot) in [("since", &mut query.since), ("until", &mut query.until)] {
        match time_param(&q, name) {
            Ok(v) => *slot = v,
            Err(e) => errors.push(e),
        }
    }
    if let Some(e) = query_param(&q, "event") {
        match AuditEvent::parse(&e) {
            Some(ev) => query.event = Some(ev),
            None => errors.push(Invalid {
                loc: vec!["query".into(), "event".into()],
                msg: format!("Input should be one of: {}", AuditEvent::ALL.map(|e| e.as_str()).join(", ")),
                kind: "enum".into(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if let Some(name) = query_param(&q, "username") {
        match state.auth.user_id_by_name(&name)? {
            Some(id) => query.user_id = Some(id),
            None => return Ok(json(StatusCode::OK, &Vec::<AuditEntry>::new())),
        }
    }
    let entries: Vec<AuditEntry> = state
        .auth
        .audit_log(&query)?
        .into_iter()
        .map(|r| AuditEntry {
            timestamp: crate::clock::rfc3339(r.at),
            event: r.event.as_str(),
            user_id: r.user_id,
            username: r.username,
            ip_address: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        })
        .collect();
    Ok(json(StatusCode::OK, &entries))
}

/// GET /stats/logins?range=24h|30d: successful and failed logins per hour (24h)
/// or per UTC day (30d), oldest first, for the dashboard's chart.
pub fn login_stats(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let range = query_param(&query(&req.head), "range").unwrap_or_else(|| "24h".into());
    let (hours, count) = match range.as_str() {
        "24h" => (1, 24),
        "30d" => (24, 30),
        _ => {
            return Err(ApiError::Validation(vec![Invalid {
                loc: vec!["query".into(), "range".into()],
                msg: "Input should be '24h' or '30d'".into(),
                kind: "enum".into(),
            }]))
        }
    };
    let buckets: Vec<Value> = state
        .auth
        .login_totals(hours, count)?
        .into_iter()
        .map(|b| json!({"start": crate::clock::rfc3339(b.start), "success": b.success, "failure": b.failure}))
        .collect();
    Ok(json(StatusCode::OK, &json!({"range": range, "bucket_seconds": hours * 3600, "buckets": buckets})))
}
