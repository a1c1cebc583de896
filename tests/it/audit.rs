//! The audit log and the cleanup task (SPEC §4; issue 4).

use crate::harness::*;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const AUDIT: &str = "/api/v1/admin/audit";

/// Writes queued entries, then reads the log as an admin.
async fn log(t: &TestServer, admin: &str, query: &str) -> Vec<Value> {
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let r = t.check(get(&format!("{AUDIT}?limit=100{query}")).bearer(admin), 200, None).await;
    r.json().as_array().unwrap().clone()
}

fn events(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_event_is_recorded_and_no_secret_is() {
    let t = TestServer::start_with(&["--login-rate-limit", "100/minute", "--max-failed-logins", "3"]).await;
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    let mut secrets: Vec<String> = vec![PASSWORD.into(), "WrongPass123!".into(), "NewSecure456!".into()];
    // login_success, login_failure (known and unknown), account_locked
    t.register("alice").await;
    let a = t.login("alice").await;
    secrets.extend([a["access_token"].as_str().unwrap().into(), a["refresh_token"].as_str().unwrap().into()]);
    t.call(
        post_form("/api/v1/auth/token", &[("username", "ghost"), ("password", "WrongPass123!")])
            .header("user-agent", "probe/1.0"),
    )
    .await;
    for _ in 0..3 {
        t.call(post_form("/api/v1/auth/token", &[("username", "alice"), ("password", "WrongPass123!")]))
            .await;
    }
    t.call(post_form("/api/v1/auth/token", &[("username", "alice"), ("password", "WrongPass123!")])).await;
    let alice_id = t.server.as_ref().unwrap().auth().user_id_by_name("alice").unwrap().unwrap();
    t.check(get(&format!("/api/v1/admin/users/{alice_id}/unlock")).method("POST").bearer(&admin), 200, None)
        .await;
    // token_refresh, token_reuse_detected
    let b = t
        .check(post_json("/api/v1/auth/refresh", json!({"refresh_token": a["refresh_token"]})), 200, None)
        .await
        .json();
    t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": a["refresh_token"]})), 401, None).await;
    secrets.push(b["refresh_token"].as_str().unwrap().into());
    // logout, api_key_generated / revoked, password_changed
    let c = t.login("alice").await;
    let at = c["access_token"].as_str().unwrap().to_owned();
    let key = t.check(post_json("/api/v1/api-keys/generate", json!({})).bearer(&at), 200, None).await.json()
        ["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(key.clone());
    t.check(delete("/api/v1/api-keys/revoke").bearer(&at), 200, None).await;
    t.check(
        post_json("/api/v1/auth/logout", json!({"refresh_token": c["refresh_token"]})).bearer(&at),
        200,
        None,
    )
    .await;
    let d = t.login("alice").await;
    let at = d["access_token"].as_str().unwrap().to_owned();
    t.check(
        post_json(
            "/api/v1/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "NewSecure456!"}),
        )
        .bearer(&at),
        200,
        None,
    )
    .await;
    // role_changed, account_deactivated, account_reactivated, token_revoked (admin)
    t.check(
        get(&format!("/api/v1/admin/users/{alice_id}/role?new_role=moderator")).method("PUT").bearer(&admin),
        200,
        None,
    )
    .await;
    t.check(
        get(&format!("/api/v1/admin/users/{alice_id}/deactivate")).method("POST").bearer(&admin),
        200,
        None,
    )
    .await;
    t.check(
        get(&format!("/api/v1/admin/users/{alice_id}/activate")).method("POST").bearer(&admin),
        200,
        None,
    )
    .await;
    t.check(
        get(&format!("/api/v1/admin/users/{alice_id}/revoke-sessions")).method("POST").bearer(&admin),
        200,
        None,
    )
    .await;
    // unauthorized_access
    t.call(get("/api/v1/users/me").bearer("forged.token.value")).await;
    let user_token = t.user_token("bob").await;
    t.check(get("/api/v1/admin/users").bearer(&user_token), 403, None).await;

    let entries = log(&t, &admin, "").await;
    let seen = events(&entries);
    for e in [
        "user_registered",
        "login_success",
        "login_failure",
        "account_locked",
        "account_unlocked",
        "token_refresh",
        "token_reuse_detected",
        "logout",
        "api_key_generated",
        "api_key_revoked",
        "password_changed",
        "role_changed",
        "account_deactivated",
        "account_reactivated",
        "token_revoked",
        "unauthorized_access",
    ] {
        assert!(seen.iter().any(|s| s == e), "no {e} in {seen:?}");
    }
    let ghost = entries.iter().find(|e| e["username"] == "ghost").unwrap();
    assert_eq!(
        (ghost["event"].as_str(), ghost["detail"].as_str()),
        (Some("login_failure"), Some("unknown user"))
    );
    assert_eq!(ghost["ip_address"], "127.0.0.1");
    assert_eq!(ghost["user_agent"], "probe/1.0");
    let role = entries.iter().find(|e| e["event"] == "role_changed").unwrap();
    assert_eq!(role["detail"], "user -> moderator; by root (id 1)");
    // Newest first.
    let times: Vec<&str> = entries.iter().map(|e| e["timestamp"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    let everything = serde_json::to_string(&entries).unwrap();
    for s in &secrets {
        assert!(!everything.contains(s.as_str()), "a secret leaked into the audit log");
    }
}

#[tokio::test]
async fn rate_limit_hits_are_recorded() {
    let t = TestServer::start_with(&["--register-rate-limit", "1/hour"]).await;
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    t.register("one").await;
    t.check(
        post_json(
            "/api/v1/users/register",
            json!({"username": "two", "email": "t@example.com", "password": PASSWORD}),
        ),
        429,
        None,
    )
    .await;
    let entries = log(&t, &admin, "&event=rate_limit_exceeded").await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0]["detail"].as_str().unwrap().starts_with("POST /api/v1/users/register"));
}

#[tokio::test]
async fn filters_paging_and_permission() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    for name in ["aaa", "bbb", "ccc"] {
        t.register(name).await;
        t.advance(60);
        t.login(name).await;
    }
    let all = log(&t, &admin, "").await;
    let logins = log(&t, &admin, "&event=login_success").await;
    assert_eq!(events(&logins), ["login_success"; 4]);
    let bbb = log(&t, &admin, "&username=bbb").await;
    assert_eq!(events(&bbb), ["login_success", "user_registered"]);
    let by_id = log(&t, &admin, &format!("&user_id={}", bbb[0]["user_id"])).await;
    assert_eq!(by_id, bbb);
    let both = log(&t, &admin, "&username=bbb&event=user_registered").await;
    assert_eq!(events(&both), ["user_registered"]);
    assert!(log(&t, &admin, "&username=nobody").await.is_empty());
    // Time range: the first minute holds only root's and aaa's entries.
    let early = log(&t, &admin, &format!("&until={}", T0 + 60)).await;
    assert!(early.iter().all(|e| e["username"] == "root" || e["username"] == "aaa"), "{early:?}");
    let late = log(&t, &admin, "&since=2026-01-01T00:02:00Z").await;
    assert_eq!(late.len(), 3, "bbb's login, ccc's registration and login: {late:?}");
    assert!(late.iter().all(|e| e["timestamp"].as_str().unwrap() >= "2026-01-01T00:02:00"));
    // Any RFC 3339 date-time: with an offset, in lower case, long before 1970.
    assert_eq!(log(&t, &admin, "&since=2026-01-01T01:02:00%2B01:00").await, late);
    assert_eq!(log(&t, &admin, "&since=2025-12-31t23:32:00-00:30").await, late);
    assert_eq!(log(&t, &admin, "&since=0153-11-06T17:23:06.54303Z").await, all);
    assert!(log(&t, &admin, "&until=1005-03-28T01:24:36%2B15:08").await.is_empty());
    // Paging.
    let page = t.check(get(&format!("{AUDIT}?skip=2&limit=2")).bearer(&admin), 200, None).await.json();
    assert_eq!(page.as_array().unwrap().as_slice(), &all[2..4]);
    // Bad input.
    for q in ["?limit=101", "?event=nope", "?since=yesterday", "?user_id=x", "?until=2026-01-01T00:02:00"] {
        t.check(get(&format!("{AUDIT}{q}")).bearer(&admin), 422, None).await;
    }
    // Who may read it.
    let (_, moder) = t.as_role("mod", Role::Moderator).await;
    t.check(get(AUDIT).bearer(&moder), 403, Some(json!({"detail": "Missing permissions: view:audit_log"})))
        .await;
    let (_, adm) = t.as_role("adm", Role::Admin).await;
    t.check(get(AUDIT).bearer(&adm), 200, None).await;
}

#[tokio::test]
async fn retention_and_cleanup_remove_expired_rows_in_batches() {
    let t = TestServer::start_with(&["--audit-retention-days", "30"]).await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    t.register("alice").await;
    let a = t.login("alice").await;
    t.login("alice").await;
    let at = a["access_token"].as_str().unwrap();
    t.check(
        post_json("/api/v1/auth/logout", json!({"refresh_token": a["refresh_token"]})).bearer(at),
        200,
        None,
    )
    .await;
    auth.flush_audit().unwrap();
    assert_eq!(
        auth.cleanup_batch(1000).unwrap(),
        gatehouse::store::Swept::default(),
        "nothing has expired yet"
    );
    // After the access token's lifetime its denylist entry goes; after 7 days the sessions.
    t.advance(31 * 60);
    assert_eq!(auth.cleanup_batch(1000).unwrap().denylist, 1);
    t.advance(8 * 86_400);
    let swept = auth.cleanup_batch(1000).unwrap();
    assert_eq!((swept.refresh, swept.denylist, swept.audit), (2, 0, 0));
    // Past retention the audit entries go too, in batches.
    t.advance(30 * 86_400);
    let mut batches = Vec::new();
    loop {
        let s = auth.cleanup_batch(2).unwrap();
        batches.push(s.audit);
        if !s.full(2) {
            break;
        }
    }
    assert!(batches.len() >= 2 && batches.iter().all(|n| *n <= 2), "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 4, "registered, 2 logins, logout");
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    let left = log(&t, &admin, "").await;
    assert!(left.iter().all(|e| e["username"] == "root"), "{left:?}");
}
