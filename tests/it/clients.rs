//! The admin API for OpenID clients (/api/v1/admin/clients, issue 14): who may see
//! and who may change them; register, show, change, rotate and remove with exact
//! bodies; bad input as FastAPI's 422s; the secret shown once, stored as its
//! digest and nowhere else (database file, audit log); a rotation seen at once at
//! the token endpoint; every change audited with the super_admin who made it.

use crate::harness::*;
use base64::Engine as _;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const CLIENTS: &str = "/api/v1/admin/clients";
const CB: &str = "https://grafana.example.com/login/generic_oauth";

fn grafana() -> Value {
    json!({"name": "Grafana", "redirect_uris": [CB]})
}

/// Registers `body` as `token`; returns the 201's body.
async fn register(t: &TestServer, token: &str, body: Value) -> Value {
    let r = t.check(post_json(CLIENTS, body).bearer(token), 201, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"), "a secret is never cached");
    r.json()
}

/// The client without its secret, as GET shows it.
fn without_secret(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("client_secret");
    v
}

/// A refresh grant authenticated with Basic: the client's secret is checked first.
async fn token_as(t: &TestServer, id: &str, secret: &str) -> (u16, String) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let call = post_form("/api/v1/auth/token", &[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .header("authorization", &format!("Basic {basic}"));
    let r = t.call(call).await;
    (r.status, r.json()["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn admins_see_clients_and_only_super_admins_change_them() {
    let t = TestServer::start().await;
    let (_, root) = t.as_role("root", Role::SuperAdmin).await;
    let (_, ada) = t.as_role("ada", Role::Admin).await;
    let user = t.user_token("ulla").await;
    let created = register(&t, &root, grafana()).await;
    let one = format!("{CLIENTS}/{}", created["client_id"].as_str().unwrap());
    let listed = json!([without_secret(created.clone())]);

    // Reading: admins and super_admins, with Bearer or an API key.
    t.check(get(CLIENTS).bearer(&ada), 200, Some(listed.clone())).await;
    t.check(get(&one).bearer(&ada), 200, Some(without_secret(created.clone()))).await;
    let key = t.check(post_json("/api/v1/api-keys", json!({"name": "k"})).bearer(&ada), 201, None).await;
    let key = key.json()["api_key"].as_str().unwrap().to_owned();
    t.check(get(CLIENTS).header("x-api-key", &key), 200, Some(listed)).await;
    let role = json!({"detail": "Insufficient permissions. Required role: admin, super_admin"});
    t.check(get(CLIENTS).bearer(&user), 403, Some(role.clone())).await;
    t.check(get(&one).bearer(&user), 403, Some(role)).await;
    t.check(get(CLIENTS), 401, Some(json!({"detail": "Not authenticated"}))).await;

    // Changing: manage:system (super_admin), Bearer only, scope admin.
    let perm = json!({"detail": "Missing permissions: manage:system"});
    let rotate = format!("{one}/rotate-secret");
    let writes = [
        post_json(CLIENTS, grafana()),
        put_json(&one, json!({"trusted": true})),
        delete(&one),
        post_json(&rotate, json!({})),
    ];
    for call in &writes {
        t.check(call.clone().bearer(&ada), 403, Some(perm.clone())).await;
        t.check(call.clone().bearer(&user), 403, Some(perm.clone())).await;
        t.check(call.clone(), 401, Some(json!({"detail": "Not authenticated"}))).await;
        let key_refused =
            json!({"detail": "API keys are not accepted for this endpoint; send a Bearer token"});
        t.check(call.clone().header("x-api-key", &key), 401, Some(key_refused)).await;
    }
    let narrow = t
        .call(post_form(
            "/api/v1/auth/token",
            &[("username", "root"), ("password", PASSWORD), ("scope", "profile:read")],
        ))
        .await;
    let narrow = narrow.json()["access_token"].as_str().unwrap().to_owned();
    let r = t.check(post_json(CLIENTS, grafana()).bearer(&narrow), 403, None).await;
    assert_eq!(r.json(), json!({"detail": "Token missing required scope: admin"}));
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer scope=\"admin\""));
    t.check(get(&one).bearer(&root), 200, Some(without_secret(created))).await;
}

#[tokio::test]
async fn register_change_rotate_and_remove() {
    let t = TestServer::start().await;
    let (_, root) = t.as_role("root", Role::SuperAdmin).await;
    let c = register(&t, &root, grafana()).await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    assert!(id.len() == 22 && secret.len() == 43, "{c}");
    let at = "2026-01-01T00:00:00.000000Z";
    assert_eq!(
        c,
        json!({"client_id": id, "client_secret": secret, "name": "Grafana", "public": false,
               "redirect_uris": [CB], "post_logout_redirect_uris": [], "trusted": false, "allowed_roles": [],
               "id_token_signed_response_alg": "RS256", "created_at": at, "updated_at": at})
    );
    let one = format!("{CLIENTS}/{id}");

    // A change replaces what it names, keeps the rest, and is checked as a whole.
    t.advance(60);
    let change = json!({"name": "Grafana (ops)", "redirect_uris": [CB, "http://127.0.0.1:3000/cb"],
                        "post_logout_redirect_uris": ["https://grafana.example.com/"], "trusted": true,
                        "allowed_roles": ["admin", "super_admin", "admin"], "id_token_signed_response_alg": "ES256",
                        "public": true, "name_typo": "ignored"});
    let changed = t.check(put_json(&one, change).bearer(&root), 200, None).await.json();
    let want = json!({"client_id": id, "name": "Grafana (ops)", "public": false,
                      "redirect_uris": [CB, "http://127.0.0.1:3000/cb"],
                      "post_logout_redirect_uris": ["https://grafana.example.com/"], "trusted": true,
                      "allowed_roles": ["admin", "super_admin"], "id_token_signed_response_alg": "ES256",
                      "created_at": at, "updated_at": "2026-01-01T00:01:00.000000Z"});
    assert_eq!(changed, want);
    let kept = t.check(put_json(&one, json!({"trusted": null, "name": null})).bearer(&root), 200, None).await;
    assert_eq!(kept.json()["trusted"], true, "null leaves a field alone");
    t.check(get(&one).bearer(&root), 200, Some(kept.json())).await;

    // Rotation: the new secret once; the old one refused at once.
    assert_eq!(token_as(&t, &id, &secret).await, (400, "invalid_grant".to_owned()), "the client is known");
    let r = t.check(post_json(&format!("{one}/rotate-secret"), json!({})).bearer(&root), 200, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let new_secret = r.json()["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(without_secret(r.json())["name"], "Grafana (ops)");
    assert_eq!(token_as(&t, &id, &secret).await, (401, "invalid_client".to_owned()), "old secret");
    assert_eq!(token_as(&t, &id, &new_secret).await, (400, "invalid_grant".to_owned()), "new secret");

    // A public client: no secret, so nothing to rotate.
    let p =
        register(&t, &root, json!({"name": "CLI", "redirect_uris": ["http://127.0.0.1/cb"], "public": true}))
            .await;
    assert_eq!((&p["public"], &p["client_secret"]), (&json!(true), &Value::Null));
    let p_rotate = format!("{CLIENTS}/{}/rotate-secret", p["client_id"].as_str().unwrap());
    t.check(
        post_json(&p_rotate, json!({})).bearer(&root),
        409,
        Some(json!({"detail": "A public client has no secret"})),
    )
    .await;
    let names: Vec<Value> = t
        .check(get(CLIENTS).bearer(&root), 200, None)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("CLI"), json!("Grafana (ops)")], "by name");

    // Removal: 204, then unknown everywhere, at the token endpoint too.
    let r = t.check(delete(&one).bearer(&root), 204, None).await;
    assert!(r.body.is_empty());
    assert_eq!(token_as(&t, &id, &new_secret).await, (401, "invalid_client".to_owned()));
    let gone = json!({"detail": "Client not found"});
    t.check(get(&one).bearer(&root), 404, Some(gone.clone())).await;
    t.check(delete(&one).bearer(&root), 404, Some(gone.clone())).await;
    t.check(put_json(&one, json!({})).bearer(&root), 404, Some(gone.clone())).await;
    t.check(post_json(&format!("{one}/rotate-secret"), json!({})).bearer(&root), 404, Some(gone)).await;
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field() {
    let t = TestServer::start().await;
    let (_, root) = t.as_role("root", Role::SuperAdmin).await;
    let missing = |f: &str| json!({"type": "missing", "loc": ["body", f], "msg": "Field required"});
    t.check(
        post_json(CLIENTS, json!({})).bearer(&root),
        422,
        Some(json!({"detail": [missing("name"), missing("redirect_uris")]})),
    )
    .await;
    let wrong = json!({"name": 5, "redirect_uris": "https://x.example/", "public": "yes", "trusted": 1,
                       "allowed_roles": ["admin", "root"], "id_token_signed_response_alg": "HS256"});
    let roles = "Input should be 'user', 'moderator', 'admin' or 'super_admin'";
    t.check(
        post_json(CLIENTS, wrong).bearer(&root),
        422,
        Some(json!({"detail": [
            {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string"},
            {"type": "list_type", "loc": ["body", "redirect_uris"], "msg": "Input should be a valid list"},
            {"type": "bool_type", "loc": ["body", "public"], "msg": "Input should be a valid boolean"},
            {"type": "bool_type", "loc": ["body", "trusted"], "msg": "Input should be a valid boolean"},
            {"type": "enum", "loc": ["body", "allowed_roles", 1], "msg": roles},
            {"type": "enum", "loc": ["body", "id_token_signed_response_alg"], "msg": "Input should be 'RS256', 'ES256' or 'EdDSA'"},
        ]})),
    )
    .await;
    // The domain's rules, every problem at once.
    let bad =
        json!({"name": "  ", "redirect_uris": ["http://grafana.example.com/cb", "https://a.example/cb#x"]});
    let value = |f: &str, m: &str| json!({"type": "value_error", "loc": ["body", f], "msg": m});
    t.check(
        post_json(CLIENTS, bad).bearer(&root),
        422,
        Some(json!({"detail": [
            value("name", "Value error, a name of 1 to 100 printable characters"),
            value("redirect_uris", "Value error, http://grafana.example.com/cb uses http:// to a host that is not loopback; use https://"),
            value("redirect_uris", "Value error, https://a.example/cb#x has a fragment (#...), which a redirect URI may not have"),
        ]})),
    )
    .await;
    let c = register(&t, &root, grafana()).await;
    let one = format!("{CLIENTS}/{}", c["client_id"].as_str().unwrap());
    t.check(
        put_json(&one, json!({"redirect_uris": []})).bearer(&root),
        422,
        Some(json!({"detail": [value("redirect_uris", "Value error, 1 to 20 redirect URIs")]})),
    )
    .await;
    t.check(
        put_json(&one, json!({"redirect_uris": null, "allowed_roles": "admin"})).bearer(&root),
        422,
        Some(json!({"detail": [{"type": "list_type", "loc": ["body", "allowed_roles"], "msg": "Input should be a valid list"}]})),
    )
    .await;
    t.check(get(&one).bearer(&root), 200, Some(without_secret(c))).await;
}

#[tokio::test]
async fn secrets_are_kept_as_digests_and_changes_audited() {
    let t = TestServer::start().await;
    let (root_id, root) = t.as_role("root", Role::SuperAdmin).await;
    let c = register(&t, &root, grafana()).await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let one = format!("{CLIENTS}/{id}");
    let first = c["client_secret"].as_str().unwrap().to_owned();
    let r = t.check(post_json(&format!("{one}/rotate-secret"), json!({})).bearer(&root), 200, None).await;
    let second = r.json()["client_secret"].as_str().unwrap().to_owned();
    t.check(put_json(&one, json!({"trusted": true})).bearer(&root), 200, None).await;
    t.check(delete(&one).bearer(&root), 204, None).await;

    let by = format!("by root (id {root_id})");
    let audit = t.check(get("/api/v1/admin/audit?limit=100").bearer(&root), 200, None).await;
    let entries: Vec<(String, String, String)> = audit
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"].as_str().unwrap().starts_with("client_"))
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("event"), s("username"), s("detail"))
        })
        .collect();
    let entry = |event: &str, detail: String| (event.to_owned(), "root".to_owned(), detail);
    assert_eq!(
        entries,
        [
            entry("client_removed", format!("client {id} (Grafana); {by}")),
            entry("client_updated", format!("client {id} (Grafana): changed trusted=true; {by}")),
            entry("client_secret_rotated", format!("client {id} (Grafana); {by}")),
            entry("client_registered", format!("client {id} (Grafana): confidential; {by}")),
        ]
    );
    let text = String::from_utf8_lossy(&audit.body).into_owned();
    let db = crate::pg::stored_bytes(&t.dir.path().join("data"));
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for secret in [&first, &second] {
        assert!(!text.contains(secret.as_str()), "a secret in the audit log");
        assert!(!contains(&db, secret.as_bytes()), "a secret in the database file");
    }
    // What the file held instead: the digest (until the client was removed, the
    // second one; a freshly registered client's digest is there now).
    let again = register(&t, &root, grafana()).await;
    let digest = gatehouse::crypto::secrets::sha256(again["client_secret"].as_str().unwrap().as_bytes());
    let db = crate::pg::stored_bytes(&t.dir.path().join("data"));
    assert!(contains(&db, &digest), "the SHA-256 of the secret is stored");
    assert!(!contains(&db, again["client_secret"].as_str().unwrap().as_bytes()));
}
