//! API keys: the tutorial's generate/revoke, named keys with scopes and expiry,
//! where keys are accepted and where never (SPEC §1, §4; issue 3).

use crate::harness::*;
use gatehouse::store::records::Role;
use serde_json::json;

const ME: &str = "/api/v1/users/me";
const KEYS: &str = "/api/v1/api-keys";

fn with_key(call: Call, key: &str) -> Call {
    call.header("x-api-key", key)
}

async fn generate(t: &TestServer, token: &str) -> String {
    let r =
        t.check(post_json(&format!("{KEYS}/generate"), json!({})).raw(vec![]).bearer(token), 200, None).await;
    assert_eq!(r.json()["message"], "Store this key securely. It will not be shown again.");
    assert_eq!(r.json().as_object().unwrap().len(), 2);
    r.json()["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn generate_replaces_and_revoke_removes() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let k1 = generate(&t, &token).await;
    assert!(k1.starts_with("gh_") && k1.len() == 46, "{k1}");
    let me = t.check(with_key(get(ME), &k1), 200, None).await;
    assert_eq!(me.json()["username"], "alice");
    let k2 = generate(&t, &token).await;
    t.check(with_key(get(ME), &k1), 401, Some(json!({"detail": "Invalid API key"}))).await;
    t.check(with_key(get(ME), &k2), 200, None).await;
    t.check(
        delete(&format!("{KEYS}/revoke")).bearer(&token),
        200,
        Some(json!({"detail": "API key revoked successfully"})),
    )
    .await;
    t.check(with_key(get(ME), &k2), 401, None).await;
    t.check(
        delete(&format!("{KEYS}/revoke")).bearer(&token),
        404,
        Some(json!({"detail": "No API key to revoke"})),
    )
    .await;
}

#[tokio::test]
async fn keys_never_work_where_a_password_or_session_is_at_stake() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let key = generate(&t, &token).await;
    let refused = json!({"detail": "API keys are not accepted for this endpoint; send a Bearer token"});
    for call in [
        post_json(
            "/api/v1/auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "NewSecure456!"}),
        ),
        post_json(&format!("{KEYS}/generate"), json!({})),
        delete(&format!("{KEYS}/revoke")),
        get(KEYS),
        post_json(KEYS, json!({"name": "x"})),
        delete(ME),
        put_json(ME, json!({"full_name": "Mallory"})),
        post_json("/api/v1/auth/logout", json!({"refresh_token": "x"})),
    ] {
        let r = t.check(with_key(call, &key), 401, Some(refused.clone())).await;
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    // Nothing changed: the old password still logs in, the key still reads.
    t.login("alice").await;
    t.check(with_key(get(ME), &key), 200, None).await;
}

#[tokio::test]
async fn bearer_wins_over_a_key() {
    let t = TestServer::start().await;
    let alice = t.user_token("alice").await;
    let bob = t.user_token("bob").await;
    let bob_key = generate(&t, &bob).await;
    let r = t.check(with_key(get(ME).bearer(&alice), &bob_key), 200, None).await;
    assert_eq!(r.json()["username"], "alice");
    // A bad Bearer is not rescued by a good key.
    t.check(with_key(get(ME).bearer("garbage"), &bob_key), 401, None).await;
}

#[tokio::test]
async fn deactivated_owner_and_bad_keys() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let key = generate(&t, &token).await;
    t.check(delete(ME).bearer(&token), 200, None).await;
    t.check(with_key(get(ME), &key), 403, Some(json!({"detail": "API key owner account is deactivated"})))
        .await;
    for bad in ["nope", "gh_", &format!("gh_{}", "A".repeat(43)), &"x".repeat(5000)] {
        t.check(with_key(get(ME), bad), 401, Some(json!({"detail": "Invalid API key"}))).await;
    }
}

#[tokio::test]
async fn named_keys_with_scopes_expiry_list_and_delete() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let r = t
        .check(
            post_json(KEYS, json!({"name": "ci deploy", "scopes": ["profile:read"], "expires_in": 3600}))
                .bearer(&token),
            201,
            None,
        )
        .await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let created = r.json();
    let key = created["api_key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "ci deploy");
    assert_eq!(created["scopes"], json!(["profile:read"]));
    assert_eq!(created["created_at"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(created["expires_at"], "2026-01-01T01:00:00.000000Z");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    let other = t
        .check(
            post_json(KEYS, json!({"name": "read posts", "scopes": ["posts:read"]})).bearer(&token),
            201,
            None,
        )
        .await
        .json();

    t.check(with_key(get(ME), &key), 200, None).await;
    // A key without profile:read cannot read the profile.
    let r = t.check(with_key(get(ME), other["api_key"].as_str().unwrap()), 403, None).await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer scope=\"profile:read\""));

    let list = t.check(get(KEYS).bearer(&token), 200, None).await;
    let text = String::from_utf8_lossy(&list.body).to_string();
    assert!(!text.contains(&key), "secrets never listed");
    let items = list.json();
    assert_eq!(items.as_array().unwrap().len(), 2);
    let mine = items.as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(mine["name"], "ci deploy");
    assert!(mine["last_used_at"].is_string(), "use is shown: {mine}");
    assert!(items[0]["last_used_at"].is_string() && items[1]["last_used_at"].is_string());

    // Expiry is enforced at once.
    t.advance(3600);
    t.check(with_key(get(ME), &key), 401, Some(json!({"detail": "API key has expired"}))).await;
    let token = t.login("alice").await["access_token"].as_str().unwrap().to_owned();

    t.check(delete(&format!("{KEYS}/{id}")).bearer(&token), 200, Some(json!({"detail": "API key deleted"})))
        .await;
    t.check(
        delete(&format!("{KEYS}/{id}")).bearer(&token),
        404,
        Some(json!({"detail": "API key not found"})),
    )
    .await;
    t.check(with_key(get(ME), other["api_key"].as_str().unwrap()), 403, None).await;
    let oid = other["id"].as_str().unwrap();
    t.check(delete(&format!("{KEYS}/{oid}")).bearer(&token), 200, None).await;
    t.check(
        with_key(get(ME), other["api_key"].as_str().unwrap()),
        401,
        Some(json!({"detail": "Invalid API key"})),
    )
    .await;
}

#[tokio::test]
async fn named_key_validation() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let loc = |r: &Resp| r.json()["detail"][0]["loc"].clone();
    let r = t.check(post_json(KEYS, json!({})).bearer(&token), 422, None).await;
    assert_eq!(loc(&r), json!(["body", "name"]));
    let r =
        t.check(post_json(KEYS, json!({"name": "x", "scopes": ["admin"]})).bearer(&token), 422, None).await;
    assert_eq!(loc(&r), json!(["body", "scopes"]), "a user cannot give a key more than their role allows");
    let r = t
        .check(post_json(KEYS, json!({"name": "x", "scopes": "profile:read"})).bearer(&token), 422, None)
        .await;
    assert_eq!(r.json()["detail"][0]["type"], "list_type");
    let r = t.check(post_json(KEYS, json!({"name": "x", "expires_in": 0})).bearer(&token), 422, None).await;
    assert_eq!(loc(&r), json!(["body", "expires_in"]));
    t.check(post_json(KEYS, json!({"name": "x", "expires_in": -5})).bearer(&token), 422, None).await;
    t.check(post_json(KEYS, json!({"name": "   "})).bearer(&token), 422, None).await;
    // 3600.0 is an integer to JSON Schema and to Pydantic; 1.5 is not.
    let mut ends = Vec::new();
    for n in [json!(3600.0), json!(3600)] {
        let r =
            t.check(post_json(KEYS, json!({"name": "x", "expires_in": n})).bearer(&token), 201, None).await;
        ends.push(r.json()["expires_at"].clone());
    }
    assert_eq!(ends[0], ends[1], "the same expiry (the pinned clock has not moved)");
    let r = t.check(post_json(KEYS, json!({"name": "x", "expires_in": 1.5})).bearer(&token), 422, None).await;
    assert_eq!(r.json()["detail"][0]["type"], "int_from_float");
    // The name: 1 to 100 characters once trimmed, no control characters.
    let name = |n: String| post_json(KEYS, json!({ "name": n })).bearer(&token);
    let r = t.check(name(format!("  {}  ", "n".repeat(100))), 201, None).await;
    assert_eq!(r.json()["name"], "n".repeat(100));
    t.check(name("n".repeat(101)), 422, None).await;
    t.check(name("a\u{85}b".into()), 422, None).await;
    t.check(name("\u{3000}\u{a0}".into()), 422, None).await;
    // Someone else's key id is simply not found.
    let bob = t.user_token("bob").await;
    let id = t.check(post_json(KEYS, json!({"name": "mine"})).bearer(&token), 201, None).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.check(delete(&format!("{KEYS}/{id}")).bearer(&bob), 404, None).await;
}

#[tokio::test]
async fn keys_follow_the_owners_role() {
    let t = TestServer::start().await;
    let (_, root) = t.as_role("root", Role::SuperAdmin).await;
    let (adam, admin) = t.as_role("adam", Role::Admin).await;
    let key = generate(&t, &admin).await;
    t.check(with_key(get("/api/v1/admin/users"), &key), 200, None).await;
    t.check(
        get(&format!("/api/v1/admin/users/{adam}/role?new_role=user")).method("PUT").bearer(&root),
        200,
        None,
    )
    .await;
    t.check(with_key(get("/api/v1/admin/users"), &key), 403, None).await;
    t.check(with_key(get(ME), &key), 200, None).await;
}

#[tokio::test]
async fn key_use_is_written_back_in_batches() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let key = generate(&t, &token).await;
    t.check(with_key(get(ME), &key), 200, None).await;
    let auth = t.server.as_ref().unwrap().auth();
    assert_eq!(auth.flush_key_usage().unwrap(), 1);
    assert_eq!(auth.flush_key_usage().unwrap(), 0, "nothing new to write");
    let keys = t.check(get("/api/v1/api-keys").bearer(&token), 200, None).await.json();
    assert_eq!(keys[0]["last_used_at"], "2026-01-01T00:00:00.000000Z");
}

/// Issue 12, finding 3: a token limited by `scope=` at login could mint a key
/// carrying every scope of its role. A new key's scopes are now a subset of the
/// presenting credential's (by default exactly those); asking for more is a 403
/// naming the scope.
#[tokio::test]
async fn a_key_never_carries_more_than_the_token_that_made_it() {
    let t = TestServer::start().await;
    t.create("adam", Role::Admin);
    let narrow = |name: &str, scope: &str| {
        post_form("/api/v1/auth/token", &[("username", name), ("password", PASSWORD), ("scope", scope)])
    };
    let admin = t.check(narrow("adam", "profile:read"), 200, None).await.json();
    assert_eq!(admin["scope"], "profile:read");
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    t.check(get("/api/v1/admin/audit").bearer(&admin), 403, None).await;
    // The tutorial's generate, and a named key without scopes: exactly the token's.
    let generated = generate(&t, &admin).await;
    let r = t.check(post_json(KEYS, json!({"name": "no scopes"})).bearer(&admin), 201, None).await;
    assert_eq!(r.json()["scopes"], json!(["profile:read"]));
    let named = r.json()["api_key"].as_str().unwrap().to_owned();
    for key in [&generated, &named] {
        let r = t.check(with_key(get("/api/v1/admin/audit"), key), 403, None).await;
        assert_eq!(r.json(), json!({"detail": "Token missing required scope: admin"}));
        t.check(with_key(get(ME), key), 200, None).await;
    }
    let listed = t.check(get(KEYS).bearer(&admin), 200, None).await.json();
    for k in listed.as_array().unwrap() {
        assert_eq!(k["scopes"], json!(["profile:read"]), "{k}");
    }
    // Asking for a scope the token lacks (though the role allows it): 403 naming it.
    t.register("alice").await;
    let user = t.check(narrow("alice", "profile:read"), 200, None).await.json();
    let user = user["access_token"].as_str().unwrap().to_owned();
    let wider =
        post_json(KEYS, json!({"name": "wider", "scopes": ["profile:read", "profile:write", "posts:write"]}));
    let r = t
        .check(
            wider.bearer(&user),
            403,
            Some(json!({"detail": "Token missing required scope: profile:write"})),
        )
        .await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer scope=\"profile:write\""));
    let within = post_json(KEYS, json!({"name": "within", "scopes": ["profile:read"]}));
    t.check(within.bearer(&user), 201, None).await;
    // A token with every scope of its role still makes keys with all of them.
    let full = t.login("alice").await["access_token"].as_str().unwrap().to_owned();
    let r = t.check(post_json(KEYS, json!({"name": "all"})).bearer(&full), 201, None).await;
    assert_eq!(r.json()["scopes"], json!(["profile:read", "profile:write", "posts:read", "posts:write"]));
}

fn token_of(tokens: &serde_json::Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn named_key(t: &TestServer, token: &str, name: &str) -> (String, String) {
    let r = t.check(post_json(KEYS, json!({ "name": name })).bearer(token), 201, None).await.json();
    (r["id"].as_str().unwrap().to_owned(), r["api_key"].as_str().unwrap().to_owned())
}

async fn audit_details(t: &TestServer, event: gatehouse::store::records::AuditEvent) -> Vec<String> {
    let auth = t.server.as_ref().unwrap().auth();
    auth.flush_audit().unwrap();
    let q = gatehouse::store::AuditQuery { event: Some(event), limit: 100, ..Default::default() };
    auth.audit_log(&q).unwrap().into_iter().map(|r| r.detail.unwrap_or_default()).collect()
}

/// Issue 12, finding 4: a key made with a stolen token outlived reuse detection,
/// sign-out-everywhere, a password change and an admin's revoke-sessions, and no
/// admin could even see it. Routine changes still leave keys alone (and say so in
/// the audit log), but revoke-sessions and sign-out-everywhere can take every key
/// along, and admins list and revoke any user's keys.
#[tokio::test]
async fn keys_made_with_a_stolen_token_can_be_found_and_revoked() {
    use gatehouse::store::records::AuditEvent;
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("adam", Role::Admin).await;
    let alice = t.register("alice").await["id"].as_u64().unwrap();
    let stolen = t.login("alice").await;
    let (k1, key1) = named_key(&t, &token_of(&stolen), "innocent-looking").await;
    let works = |key: &str| with_key(get(ME), key);
    let verify = |key: &str| with_key(get("/api/v1/auth/verify"), key);

    // Reuse detection and a password change leave the key alone, and say so.
    let refresh = json!({"refresh_token": stolen["refresh_token"]});
    t.check(post_json("/api/v1/auth/refresh", refresh.clone()), 200, None).await;
    t.check(post_json("/api/v1/auth/refresh", refresh), 401, None).await;
    t.check(works(&key1), 200, None).await;
    let reuse = audit_details(&t, AuditEvent::TokenReuseDetected).await;
    assert!(reuse[0].ends_with("all sessions revoked; 1 API key still works (not revoked)"), "{reuse:?}");
    let token = token_of(&t.login("alice").await);
    let change = json!({"current_password": PASSWORD, "new_password": "Another-Pass123!"});
    t.check(post_json("/api/v1/auth/change-password", change).bearer(&token), 200, None).await;
    t.check(works(&key1), 200, None).await;
    let changed = audit_details(&t, AuditEvent::PasswordChanged).await;
    assert_eq!(changed[0], "all sessions revoked; 1 API key still works (not revoked)");

    // An admin sees the key (never the secret) and revokes it: 204, refused at once.
    let listed =
        t.check(get(&format!("/api/v1/admin/users/{alice}/api-keys")).bearer(&admin), 200, None).await;
    let listed = listed.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["name"].as_str()),
        (Some(k1.as_str()), Some("innocent-looking"))
    );
    assert!(listed[0].get("api_key").is_none() && !listed.to_string().contains(&key1));
    let one = |id: &str| delete(&format!("/api/v1/admin/users/{alice}/api-keys/{id}"));
    let r = t.check(one(&k1).bearer(&admin), 204, None).await;
    assert!(r.body.is_empty());
    t.check(works(&key1), 401, None).await;
    t.check(verify(&key1), 401, None).await;
    t.check(one(&k1).bearer(&admin), 404, Some(json!({"detail": "API key not found"}))).await;
    let revoked = audit_details(&t, AuditEvent::ApiKeyRevoked).await;
    assert!(revoked[0].starts_with(&format!("key {k1} (innocent-looking, gh_")), "{revoked:?}");
    assert!(revoked[0].ends_with("; by adam (id 1)"), "{revoked:?}");

    // revoke-sessions keeps keys unless asked; with include_api_keys=true they go too.
    let token = token_of(&t.login_with("alice", "Another-Pass123!").await);
    let (_, key2) = named_key(&t, &token, "second").await;
    let (_, key3) = named_key(&t, &token, "third").await;
    let revoke = |q: &str| post_json(&format!("/api/v1/admin/users/{alice}/revoke-sessions{q}"), json!({}));
    t.check(revoke("").bearer(&admin), 200, Some(json!({"detail": "All sessions revoked"}))).await;
    t.check(works(&key2), 200, None).await;
    let r = t.check(revoke("?include_api_keys=true").bearer(&admin), 200, None).await;
    assert_eq!(r.json(), json!({"detail": "All sessions and API keys revoked"}));
    for key in [&key2, &key3] {
        t.check(works(key), 401, None).await;
        t.check(verify(key), 401, None).await;
    }
    let summary = audit_details(&t, AuditEvent::TokenRevoked).await;
    assert_eq!(summary[0], "all sessions and access tokens, and 2 API keys; by adam (id 1)");
    assert_eq!(
        summary[1],
        "all sessions and access tokens; 2 API keys still work (not revoked); by adam (id 1)"
    );

    // Signing out everywhere: an explicit choice on the account page.
    let token = token_of(&t.login_with("alice", "Another-Pass123!").await);
    let (_, key4) = named_key(&t, &token, "fourth").await;
    t.check(delete("/api/v1/users/me/sessions").bearer(&token), 200, None).await;
    t.check(works(&key4), 200, None).await;
    let token = token_of(&t.login_with("alice", "Another-Pass123!").await);
    let everywhere = delete("/api/v1/users/me/sessions?include_api_keys=true").bearer(&token);
    t.check(everywhere, 200, None).await;
    t.check(works(&key4), 401, None).await;
    let summary = audit_details(&t, AuditEvent::TokenRevoked).await;
    assert_eq!(summary[0], "signed out everywhere by the owner, and 1 API key");
    assert_eq!(summary[1], "signed out everywhere by the owner; 1 API key still works (not revoked)");
    let revoked = audit_details(&t, AuditEvent::ApiKeyRevoked).await;
    assert!(revoked[0].ends_with("; with every session, by its owner"), "{revoked:?}");
}

#[tokio::test]
async fn only_user_managers_see_other_peoples_keys() {
    let t = TestServer::start().await;
    let (root_id, root) = t.as_role("root", Role::SuperAdmin).await;
    let (_, admin) = t.as_role("adam", Role::Admin).await;
    let (_, moderator) = t.as_role("mona", Role::Moderator).await;
    let (root_key, _) = named_key(&t, &root, "root's").await;
    let list = |id: u64| get(&format!("/api/v1/admin/users/{id}/api-keys"));
    let revoke = |id: u64, key: &str| delete(&format!("/api/v1/admin/users/{id}/api-keys/{key}"));
    t.check(list(root_id), 401, None).await;
    t.check(
        list(root_id).bearer(&moderator),
        403,
        Some(json!({"detail": "Missing permissions: update:any_user"})),
    )
    .await;
    let key = generate(&t, &admin).await;
    t.check(with_key(list(root_id), &key), 401, None).await;
    // Reading is allowed; only a super_admin touches a super_admin's keys.
    t.check(list(root_id).bearer(&admin), 200, None).await;
    t.check(
        revoke(root_id, &root_key).bearer(&admin),
        403,
        Some(json!({"detail": "Cannot modify a SUPER_ADMIN user"})),
    )
    .await;
    t.check(list(999).bearer(&admin), 404, Some(json!({"detail": "User not found"}))).await;
    t.check(revoke(999, "x").bearer(&admin), 404, Some(json!({"detail": "User not found"}))).await;
    let r = t.check(get("/api/v1/admin/users/abc/api-keys").bearer(&admin), 422, None).await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["path", "user_id"]));
    let narrow = t
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
    let narrow = token_of(&narrow);
    t.check(list(root_id).bearer(&narrow), 200, None).await;
    t.check(revoke(root_id, &root_key).bearer(&narrow), 403, None).await;
    let r = t
        .check(
            post_json(
                &format!("/api/v1/admin/users/{root_id}/revoke-sessions?include_api_keys=maybe"),
                json!({}),
            )
            .bearer(&root),
            422,
            None,
        )
        .await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["query", "include_api_keys"]));
    t.check(revoke(root_id, &root_key).bearer(&root), 204, None).await;
}
