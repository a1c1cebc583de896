//! Remembered token verifications (issue 16): a token seen before skips the
//! signature work, and nothing else. Every attack here runs with the token already
//! remembered ("warm"): forgeries next to a genuine token, and every kind of
//! revocation refused on the very next request, on users/me, forward auth and
//! introspection alike; expiry and key withdrawal while remembered.

use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const ME: &str = "/api/v1/users/me";
const VERIFY: &str = "/api/v1/auth/verify";
const INTROSPECT: &str = "/api/v1/auth/introspect";

fn at(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn revoked() -> Option<Value> {
    Some(json!({"detail": "Token has been revoked"}))
}

fn invalid() -> Option<Value> {
    Some(json!({"detail": "Could not validate credentials"}))
}

/// Uses `token` on users/me and forward auth until it is remembered.
async fn warm(t: &TestServer, token: &str) {
    let before = t.server.as_ref().unwrap().auth().remembered_tokens();
    t.check(get(ME).bearer(token), 200, None).await;
    t.check(get(VERIFY).bearer(token), 200, None).await;
    t.check(get(ME).bearer(token), 200, None).await;
    let after = t.server.as_ref().unwrap().auth().remembered_tokens();
    assert!(after >= before.max(1), "the token is remembered ({before} → {after})");
}

/// An admin allowed to introspect.
async fn introspector(t: &TestServer) -> String {
    t.create("root", Role::Admin);
    let form = [("username", "root"), ("password", PASSWORD), ("scope", "introspect")];
    at(&t.check(post_form("/api/v1/auth/token", &form), 200, None).await.json())
}

/// `token` refused everywhere a token is checked: users/me (`me` = status and
/// body), forward auth, and introspection (inactive).
async fn refused_everywhere(t: &TestServer, admin: &str, token: &str, status: u16, me: Option<Value>) {
    t.check(get(ME).bearer(token), status, me).await;
    t.check(get(VERIFY).bearer(token), status, None).await;
    let r = t.check(post_form(INTROSPECT, &[("token", token)]).bearer(admin), 200, None).await;
    assert_eq!(r.json(), json!({"active": false}));
}

#[tokio::test]
async fn a_forged_token_never_reaches_its_genuine_siblings_entry() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let bob = t.register("bob").await;
    let genuine = at(&t.login("alice").await);
    warm(&t, &genuine).await;
    let parts: Vec<&str> = genuine.split('.').collect();
    // The genuine signature under a payload naming someone else, or a higher role.
    for change in [json!({"sub": "bob", "uid": bob["id"]}), json!({"role": "super_admin"})] {
        let mut c = claims(&genuine);
        for (k, v) in change.as_object().unwrap() {
            c[k] = v.clone();
        }
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
        t.check(get(ME).bearer(&forged), 401, invalid()).await;
        t.check(get(VERIFY).bearer(&forged), 401, None).await;
    }
    // The genuine payload under a changed signature; the token with bytes added.
    let mut sig = parts[2].as_bytes().to_vec();
    sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
    let resigned = format!("{}.{}.{}", parts[0], parts[1], String::from_utf8(sig).unwrap());
    t.check(get(ME).bearer(&resigned), 401, invalid()).await;
    t.check(get(ME).bearer(&format!("{genuine}A")), 401, invalid()).await;
    // None of them displaced or spoiled the genuine entry.
    let me = t.check(get(ME).bearer(&genuine), 200, None).await.json();
    assert_eq!(me["username"], "alice");
}

#[tokio::test]
async fn logout_and_password_change_refuse_the_next_request() {
    let t = TestServer::start().await;
    let admin = introspector(&t).await;
    t.register("alice").await;
    let tokens = t.login("alice").await;
    let token = at(&tokens);
    warm(&t, &token).await;
    t.check(
        post_json("/api/v1/auth/logout", json!({"refresh_token": tokens["refresh_token"]})).bearer(&token),
        200,
        None,
    )
    .await;
    refused_everywhere(&t, &admin, &token, 401, revoked()).await;

    let token = at(&t.login("alice").await);
    warm(&t, &token).await;
    let change = json!({"current_password": PASSWORD, "new_password": "AnotherPass456!"});
    t.check(post_json("/api/v1/auth/change-password", change).bearer(&token), 200, None).await;
    refused_everywhere(&t, &admin, &token, 401, revoked()).await;
}

#[tokio::test]
async fn deactivation_and_role_change_refuse_the_next_request() {
    let t = TestServer::start().await;
    let admin = introspector(&t).await;
    let (_, boss) = t.as_role("boss", Role::SuperAdmin).await;
    // Deactivating yourself.
    t.register("alice").await;
    let token = at(&t.login("alice").await);
    warm(&t, &token).await;
    t.check(delete(ME).bearer(&token), 200, None).await;
    refused_everywhere(&t, &admin, &token, 403, Some(json!({"detail": "Account is deactivated"}))).await;
    // An admin changing someone's role.
    let bob = t.register("bob").await["id"].as_u64().unwrap();
    let token = at(&t.login("bob").await);
    warm(&t, &token).await;
    let url = format!("/api/v1/admin/users/{bob}/role?new_role=moderator");
    t.check(get(&url).method("PUT").bearer(&boss), 200, None).await;
    refused_everywhere(&t, &admin, &token, 401, revoked()).await;
}

#[tokio::test]
async fn session_revocations_refuse_the_next_request() {
    let t = TestServer::start().await;
    let admin = introspector(&t).await;
    let (_, boss) = t.as_role("boss", Role::Admin).await;
    let alice = t.register("alice").await["id"].as_u64().unwrap();
    // The owner revoking one session from another device.
    let laptop = at(&t.login("alice").await);
    let phone = at(&t.login("alice").await);
    warm(&t, &laptop).await;
    let sid = claims(&laptop)["sid"].as_str().unwrap().to_owned();
    t.check(delete(&format!("/api/v1/users/me/sessions/{sid}")).bearer(&phone), 200, None).await;
    refused_everywhere(&t, &admin, &laptop, 401, revoked()).await;
    t.check(get(ME).bearer(&phone), 200, None).await;
    // An admin revoking every session of the user.
    warm(&t, &phone).await;
    t.check(
        get(&format!("/api/v1/admin/users/{alice}/revoke-sessions")).method("POST").bearer(&boss),
        200,
        None,
    )
    .await;
    refused_everywhere(&t, &admin, &phone, 401, revoked()).await;
}

#[tokio::test]
async fn a_remembered_token_expires_on_the_second() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let token = at(&t.login("alice").await);
    warm(&t, &token).await;
    t.advance(1799);
    t.check(get(ME).bearer(&token), 200, None).await;
    t.advance(1);
    t.check(get(ME).bearer(&token), 401, invalid()).await;
    t.check(get(VERIFY).bearer(&token), 401, None).await;
}

#[tokio::test]
async fn key_changes_are_never_hidden_by_remembered_tokens() {
    let t = TestServer::start().await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    t.register("alice").await;
    let token = at(&t.login("alice").await);
    warm(&t, &token).await;
    // A planned rotation keeps the old key verifying: the token still works, through
    // the new key's activation (a new keyring: verified afresh, then remembered).
    auth.rotate_keys_with_lead(false, std::time::Duration::from_secs(60)).unwrap();
    t.check(get(ME).bearer(&token), 200, None).await;
    t.advance(61);
    warm(&t, &token).await;
    // An emergency rotation withdraws the old key: refused at once.
    auth.rotate_keys(true).unwrap();
    t.check(get(ME).bearer(&token), 401, invalid()).await;
    t.check(get(VERIFY).bearer(&token), 401, None).await;
    let fresh = at(&t.login("alice").await);
    t.check(get(ME).bearer(&fresh), 200, None).await;
}
