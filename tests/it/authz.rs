//! Roles, permissions, scopes and the admin API (SPEC §1 admin rows, issue 3).

use crate::harness::*;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const USERS: &str = "/api/v1/admin/users";
const DASH: &str = "/api/v1/admin/dashboard";
const ME: &str = "/api/v1/users/me";

fn role_url(id: u64, role: &str) -> String {
    format!("{USERS}/{id}/role?new_role={role}")
}

fn put(path: &str) -> Call {
    get(path).method("PUT")
}

fn post(path: &str) -> Call {
    get(path).method("POST")
}

#[tokio::test]
async fn admin_endpoints_by_role() {
    let t = TestServer::start().await;
    let (_, user) = t.as_role("ulla", Role::User).await;
    let (_, moder) = t.as_role("mona", Role::Moderator).await;
    let (_, admin) = t.as_role("adam", Role::Admin).await;
    let (_, sup) = t.as_role("sue", Role::SuperAdmin).await;
    let required = json!({"detail": "Insufficient permissions. Required role: admin, super_admin"});
    for token in [&user, &moder] {
        t.check(get(USERS).bearer(token), 403, Some(required.clone())).await;
        t.check(get(DASH).bearer(token), 403, Some(required.clone())).await;
    }
    for token in [&admin, &sup] {
        t.check(get(USERS).bearer(token), 200, None).await;
        t.check(get(DASH).bearer(token), 200, None).await;
    }
    t.check(get(USERS), 401, Some(json!({"detail": "Not authenticated"}))).await;
    // Role change needs manage:roles, which moderators lack.
    t.check(
        put(&role_url(1, "moderator")).bearer(&moder),
        403,
        Some(json!({"detail": "Missing permissions: manage:roles"})),
    )
    .await;
}

#[tokio::test]
async fn list_pages_with_skip_and_limit() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("admin1", Role::Admin).await;
    for i in 0..5 {
        t.create(&format!("user{i}"), Role::User);
    }
    let all = t.check(get(USERS).bearer(&admin), 200, None).await.json();
    assert_eq!(all.as_array().unwrap().len(), 6);
    assert_eq!(all[0]["username"], "admin1");
    assert!(all[0].get("password_hash").is_none());
    let page = t.check(get(&format!("{USERS}?skip=2&limit=2")).bearer(&admin), 200, None).await.json();
    let names: Vec<&str> = page.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["user1", "user2"]);
    let r = t.check(get(&format!("{USERS}?limit=101")).bearer(&admin), 422, None).await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["query", "limit"]));
    assert_eq!(r.json()["detail"][0]["type"], "less_than_equal");
    let r = t.check(get(&format!("{USERS}?skip=abc")).bearer(&admin), 422, None).await;
    assert_eq!(r.json()["detail"][0]["type"], "int_parsing");
    t.check(get(&format!("{USERS}?skip=-1")).bearer(&admin), 422, None).await;
    assert_eq!(t.check(get(&format!("{USERS}?limit=0")).bearer(&admin), 200, None).await.json(), json!([]));
}

#[tokio::test]
async fn role_change_follows_the_tutorials_rules() {
    let t = TestServer::start().await;
    let (admin_id, admin) = t.as_role("admin1", Role::Admin).await;
    let (sup_id, _) = t.as_role("root", Role::SuperAdmin).await;
    let (target, target_token) = t.as_role("bob", Role::User).await;
    t.check(
        put(&role_url(admin_id, "user")).bearer(&admin),
        400,
        Some(json!({"detail": "Cannot change your own role"})),
    )
    .await;
    t.check(
        put(&role_url(target, "super_admin")).bearer(&admin),
        403,
        Some(json!({"detail": "SUPER_ADMIN role can only be assigned via database"})),
    )
    .await;
    t.check(put(&role_url(9999, "moderator")).bearer(&admin), 404, Some(json!({"detail": "User not found"})))
        .await;
    t.check(
        put(&role_url(sup_id, "user")).bearer(&admin),
        403,
        Some(json!({"detail": "Cannot modify a SUPER_ADMIN user"})),
    )
    .await;
    let r = t.check(put(&role_url(target, "emperor")).bearer(&admin), 422, None).await;
    assert_eq!(
        (r.json()["detail"][0]["loc"].clone(), r.json()["detail"][0]["type"].clone()),
        (json!(["query", "new_role"]), json!("enum"))
    );
    t.check(put(&format!("{USERS}/{target}/role")).bearer(&admin), 422, None).await;
    let r = t.check(put(&format!("{USERS}/abc/role?new_role=user")).bearer(&admin), 422, None).await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["path", "user_id"]));
    // Success: the new role is returned, and the user's existing tokens stop working at once.
    let r = t.check(put(&role_url(target, "moderator")).bearer(&admin), 200, None).await;
    assert_eq!((r.json()["id"].as_u64(), r.json()["role"].as_str()), (Some(target), Some("moderator")));
    t.check(get(ME).bearer(&target_token), 401, Some(json!({"detail": "Token has been revoked"}))).await;
    // A JSON body works too.
    let r = t
        .check(
            put(&format!("{USERS}/{target}/role")).json(json!({"new_role": "admin"})).bearer(&admin),
            200,
            None,
        )
        .await;
    assert_eq!(r.json()["role"], "admin");
}

#[tokio::test]
async fn dashboard_counts_follow_every_change() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("admin1", Role::Admin).await;
    t.as_role("root", Role::SuperAdmin).await;
    let ulla = t.user_token("ulla").await;
    let (mona, _) = t.as_role("mona", Role::User).await;
    t.check(put(&role_url(mona, "moderator")).bearer(&admin), 200, None).await;
    t.check(delete(ME).bearer(&ulla), 200, None).await;
    t.check(
        get(DASH).bearer(&admin),
        200,
        Some(json!({
            "total_users": 4, "active_users": 3, "inactive_users": 1,
            "users_by_role": {"user": 1, "moderator": 1, "admin": 1, "super_admin": 1}, "users_with_mfa": 0,
        })),
    )
    .await;
}

#[tokio::test]
async fn admin_extensions_deactivate_activate_unlock_revoke_search() {
    let t = TestServer::start().await;
    let (admin_id, admin) = t.as_role("admin1", Role::Admin).await;
    let (sup_id, _) = t.as_role("root", Role::SuperAdmin).await;
    let (bob, bob_token) = t.as_role("bob", Role::User).await;
    // Deactivate: tokens die, login fails; reactivate: login works again.
    let r = t.check(post(&format!("{USERS}/{bob}/deactivate")).bearer(&admin), 200, None).await;
    assert_eq!(r.json()["is_active"], false);
    t.check(get(ME).bearer(&bob_token), 403, Some(json!({"detail": "Account is deactivated"}))).await;
    t.check(post_form("/api/v1/auth/token", &[("username", "bob"), ("password", PASSWORD)]), 401, None).await;
    t.check(post(&format!("{USERS}/{bob}/activate")).bearer(&admin), 200, None).await;
    t.check(get(ME).bearer(&bob_token), 401, Some(json!({"detail": "Token has been revoked"}))).await;
    let fresh = t.login("bob").await["access_token"].as_str().unwrap().to_owned();
    // Unlock after a lockout.
    for _ in 0..5 {
        t.call(post_form("/api/v1/auth/token", &[("username", "bob"), ("password", "Wrong-123x")])).await;
    }
    t.check(post_form("/api/v1/auth/token", &[("username", "bob"), ("password", PASSWORD)]), 401, None).await;
    t.check(post(&format!("{USERS}/{bob}/unlock")).bearer(&admin), 200, None).await;
    t.login("bob").await;
    // Revoke all sessions.
    t.check(
        post(&format!("{USERS}/{bob}/revoke-sessions")).bearer(&admin),
        200,
        Some(json!({"detail": "All sessions revoked"})),
    )
    .await;
    t.check(get(ME).bearer(&fresh), 401, None).await;
    // Guard rails: not yourself, not a super_admin, not someone missing.
    t.check(post(&format!("{USERS}/{admin_id}/deactivate")).bearer(&admin), 400, None).await;
    t.check(
        post(&format!("{USERS}/{sup_id}/deactivate")).bearer(&admin),
        403,
        Some(json!({"detail": "Cannot modify a SUPER_ADMIN user"})),
    )
    .await;
    t.check(post(&format!("{USERS}/424242/unlock")).bearer(&admin), 404, None).await;
    // Search by username or email prefix.
    let found = t.check(get(&format!("{USERS}/search?q=BO")).bearer(&admin), 200, None).await.json();
    assert_eq!(
        found.as_array().unwrap().iter().map(|u| u["username"].clone()).collect::<Vec<Value>>(),
        vec![json!("bob")]
    );
    t.check(get(&format!("{USERS}/search")).bearer(&admin), 422, None).await;
    // A plain user may do none of it.
    let (_, user) = t.as_role("ulla", Role::User).await;
    t.check(
        post(&format!("{USERS}/{bob}/unlock")).bearer(&user),
        403,
        Some(json!({"detail": "Missing permissions: update:any_user"})),
    )
    .await;
}

#[tokio::test]
async fn scopes_gate_endpoints_with_a_challenge() {
    let t = TestServer::start().await;
    t.create("adam", Role::Admin);
    t.register("ulla").await;
    let narrow = t
        .check(
            post_form(
                "/api/v1/auth/token",
                &[("username", "ulla"), ("password", PASSWORD), ("scope", "posts:read")],
            ),
            200,
            None,
        )
        .await
        .json();
    let r = t
        .check(
            get(ME).bearer(narrow["access_token"].as_str().unwrap()),
            403,
            Some(json!({"detail": "Token missing required scope: profile:read"})),
        )
        .await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer scope=\"profile:read\""));
    // An admin who asked only for users:read can list users but not see the dashboard.
    let admin = t
        .check(
            post_form(
                "/api/v1/auth/token",
                &[("username", "adam"), ("password", PASSWORD), ("scope", "users:read")],
            ),
            200,
            None,
        )
        .await
        .json();
    let at = admin["access_token"].as_str().unwrap();
    t.check(get(USERS).bearer(at), 200, None).await;
    t.check(get(DASH).bearer(at), 403, Some(json!({"detail": "Token missing required scope: admin"}))).await;
    // Scope filtering per role, as the tutorial's role → scope map says.
    for (role, name, expected) in [
        (Role::User, "uu1", "profile:read profile:write posts:read posts:write"),
        (Role::Moderator, "mm1", "profile:read profile:write posts:read posts:write posts:delete users:read"),
        (
            Role::Admin,
            "aa1",
            "profile:read profile:write posts:read posts:write posts:delete users:read users:write admin",
        ),
        (
            Role::SuperAdmin,
            "ss1",
            "profile:read profile:write posts:read posts:write posts:delete users:read users:write admin",
        ),
    ] {
        t.create(name, role);
        assert_eq!(t.login(name).await["scope"], expected, "{role:?}");
        let asked = t
            .check(
                post_form(
                    "/api/v1/auth/token",
                    &[("username", name), ("password", PASSWORD), ("scope", "admin users:read")],
                ),
                200,
                None,
            )
            .await
            .json();
        let want = match role {
            Role::User => "",
            Role::Moderator => "users:read",
            _ => "admin users:read",
        };
        assert_eq!(asked["scope"], want, "{role:?}");
    }
}

#[tokio::test]
async fn refresh_narrows_scopes_after_a_demotion() {
    let t = TestServer::start().await;
    let (_, root) = t.as_role("root", Role::SuperAdmin).await;
    let (adam, _) = t.as_role("adam", Role::Admin).await;
    let tokens = t.login("adam").await;
    assert!(tokens["scope"].as_str().unwrap().contains("admin"));
    t.check(put(&role_url(adam, "user")).bearer(&root), 200, None).await;
    let r = t
        .check(
            post_json("/api/v1/auth/refresh", json!({"refresh_token": tokens["refresh_token"]})),
            200,
            None,
        )
        .await
        .json();
    assert_eq!(r["scope"], "profile:read profile:write posts:read posts:write");
    t.check(get(USERS).bearer(r["access_token"].as_str().unwrap()), 403, None).await;
}

#[tokio::test]
async fn super_admin_is_never_granted_over_http() {
    let t = TestServer::start().await;
    let (_, root) = t.as_role("root", Role::SuperAdmin).await;
    let (bob, _) = t.as_role("bob", Role::User).await;
    t.check(put(&role_url(bob, "super_admin")).bearer(&root), 403, None).await;
    t.check(
        post_json(
            "/api/v1/users/register",
            json!({"username": "x1x", "email": "x@example.com", "password": PASSWORD, "role": "super_admin"}),
        ),
        201,
        None,
    )
    .await;
    let u = t.check(get(&format!("{USERS}/search?q=x1x")).bearer(&root), 200, None).await.json();
    assert_eq!(u[0]["role"], "user");
}
