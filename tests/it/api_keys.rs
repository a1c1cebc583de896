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
    let keys = auth.store().read(|r| r.api_keys_of(1)).unwrap();
    assert_eq!(keys[0].1.last_used, Some(T0 * 1_000_000));
}
