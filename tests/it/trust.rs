//! Letting other services trust gatehouse (SPEC §5; issue 5): JWKS and metadata,
//! verification with an independent JWT library, key rotation, the refresh_token
//! grant and RFC 6749 errors, introspection, forward auth.

use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const JWKS: &str = "/.well-known/jwks.json";
const TOKEN: &str = "/api/v1/auth/token";
const VERIFY: &str = "/api/v1/auth/verify";
const INTROSPECT: &str = "/api/v1/auth/introspect";

fn at(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Verifies `token` with the `jsonwebtoken` crate, knowing nothing but the JWKS.
fn verify_elsewhere(jwks: &Value, token: &str, iss: &str) -> Result<Value, String> {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let kid = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("kid not in JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_issuer(&[iss]);
    // The server runs on a pinned clock in 2026; judge expiry against that.
    v.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

#[tokio::test]
async fn jwks_lets_another_library_verify_tokens() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let r = t.check(get(JWKS), 200, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("public, max-age=300"));
    let jwks = r.json();
    let key = &jwks["keys"][0];
    assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    assert_eq!((key["use"].as_str(), key["alg"].as_str()), (Some("sig"), Some("EdDSA")));
    assert_eq!(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap().len(), 32);
    assert_eq!(key["kid"], kid_of(&token).as_str());
    let iss = format!("https://localhost:{}", t.client.addr.port());
    let claims = verify_elsewhere(&jwks, &token, &iss).unwrap();
    assert_eq!(claims["sub"], "alice");
    // A forged payload fails there too.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "iss": iss}).to_string());
    assert!(verify_elsewhere(&jwks, &parts.join("."), &iss).is_err());
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let jwks = t.call(get(JWKS)).await.json();
    let public = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid_of(&token));
    let forged =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&public)).unwrap();
    t.check(get("/api/v1/users/me").bearer(&forged), 401, None).await;
    t.check(get(VERIFY).bearer(&forged), 401, None).await;
}

#[tokio::test]
async fn metadata_document() {
    let t = TestServer::start().await;
    let iss = format!("https://localhost:{}", t.client.addr.port());
    let r = t.check(get("/.well-known/oauth-authorization-server"), 200, None).await;
    let m = r.json();
    assert_eq!(m["issuer"], iss.as_str());
    assert_eq!(m["token_endpoint"], format!("{iss}/api/v1/auth/token"));
    assert_eq!(m["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
    assert_eq!(m["introspection_endpoint"], format!("{iss}/api/v1/auth/introspect"));
    assert_eq!(m["revocation_endpoint"], format!("{iss}/api/v1/auth/revoke"));
    assert_eq!(m["revocation_endpoint_auth_methods_supported"], json!(["none"]));
    assert_eq!(m["grant_types_supported"], json!(["password", "refresh_token"]));
    assert!(m["scopes_supported"].as_array().unwrap().contains(&json!("profile:read")));
    assert!(r.header("cache-control").is_some());
}

#[tokio::test]
async fn rotation_publishes_first_signs_later_and_emergency_withdraws() {
    let t = TestServer::start().await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    t.register("alice").await;
    let old = at(&t.login("alice").await);
    let old_kid = kid_of(&old);
    let new_kid = auth.rotate_keys(false).unwrap().remove(0).1;
    let kids = |jwks: Value| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let published = kids(t.call(get(JWKS)).await.json());
    assert!(published.contains(&old_kid) && published.contains(&new_kid), "{published:?}");
    // Within the lead time the old key still signs.
    assert_eq!(kid_of(&at(&t.login("alice").await)), old_kid);
    t.advance(3600);
    let fresh = at(&t.login("alice").await);
    assert_eq!(kid_of(&fresh), new_kid, "after the lead time the new key signs");
    t.check(get("/api/v1/users/me").bearer(&old), 401, None).await; // expired after an hour anyway
    let mid = at(&t.login("alice").await);
    // Emergency: a new key signs at once and every older token stops verifying.
    let third = auth.rotate_keys(true).unwrap().remove(0).1;
    t.check(
        get("/api/v1/users/me").bearer(&mid),
        401,
        Some(json!({"detail": "Could not validate credentials"})),
    )
    .await;
    assert_eq!(kids(t.call(get(JWKS)).await.json()), vec![third.clone()]);
    assert_eq!(kid_of(&at(&t.login("alice").await)), third);
    let list = auth.list_signing_keys().unwrap();
    let states: Vec<&str> = list.iter().map(|k| k.state).collect();
    assert_eq!(states.iter().filter(|s| **s == "revoked").count(), 2, "{states:?}");
}

#[tokio::test]
async fn retired_key_verifies_until_its_tokens_expire() {
    let t = TestServer::start_with(&["--refresh-token-days", "1"]).await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    t.register("alice").await;
    let tokens = t.login("alice").await;
    auth.rotate_keys(false).unwrap();
    t.advance(3600);
    // The refresh token signed by the retired key still works, and yields new-key tokens.
    let r = t
        .check(
            post_json("/api/v1/auth/refresh", json!({"refresh_token": tokens["refresh_token"]})),
            200,
            None,
        )
        .await;
    assert_ne!(kid_of(&at(&r.json())), kid_of(&at(&tokens)));
    // A day after the new key took over, the old key has left the JWKS.
    t.advance(86_400);
    assert_eq!(t.call(get(JWKS)).await.json()["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refresh_token_grant_and_rfc6749_errors() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let first = t.login("alice").await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    let grant = |token: &str| post_form(TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", token)]);
    let r = t.check(grant(&rt), 200, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.json()["token_type"], "bearer");
    // Same rotation rules as /refresh: the spent token is reuse.
    let r = t.check(grant(&rt), 401, None).await;
    assert_eq!(r.json()["error"], "invalid_grant");
    assert!(r.json()["detail"].as_str().unwrap().contains("reuse"));
    let r = t.check(post_form(TOKEN, &[("grant_type", "client_credentials")]), 422, None).await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "grant_type"]));
    let r = t.check(post_form(TOKEN, &[("grant_type", "refresh_token")]), 422, None).await;
    assert_eq!(r.json()["error"], "invalid_request");
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "refresh_token"]));
    let r = t.check(post_form(TOKEN, &[("username", "alice"), ("password", "Wrong-pass1")]), 401, None).await;
    assert_eq!(r.json()["error_description"], "Incorrect username or password");
    // The cookie login is not the OAuth endpoint: it keeps the tutorial's plain body.
    let r = t
        .check(
            post_form("/api/v1/auth/login", &[("grant_type", "refresh_token"), ("refresh_token", "x")]),
            422,
            None,
        )
        .await;
    assert!(r.json().get("error").is_none());
}

#[tokio::test]
async fn introspection_for_admins_and_introspect_keys() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let tokens = t.login("alice").await;
    let ask = |caller: &str, token: &str| post_form(INTROSPECT, &[("token", token)]).bearer(caller);
    let r = t.check(ask(&admin, &at(&tokens)), 200, None).await.json();
    assert_eq!(
        (r["active"].as_bool(), r["sub"].as_str(), r["token_type"].as_str()),
        (Some(true), Some("alice"), Some("access_token"))
    );
    assert_eq!(r["scope"], "profile:read profile:write posts:read posts:write");
    assert_eq!(r["exp"], T0 + 1800);
    let r = t.check(ask(&admin, tokens["refresh_token"].as_str().unwrap()), 200, None).await.json();
    assert_eq!((r["active"].as_bool(), r["token_type"].as_str()), (Some(true), Some("refresh_token")));
    for dead in ["garbage", "gh_nope", ""] {
        let r = t.call(post_form(INTROSPECT, &[("token", dead)]).bearer(&admin)).await;
        assert!(
            r.status == 200 && r.json() == json!({"active": false}) || r.status == 422,
            "{dead}: {}",
            r.status
        );
    }
    // A user's key without the introspect scope may not ask; an admin's key with it
    // may. The key gets it only from a token that carries it (asked for at login).
    let alice = at(&tokens);
    t.check(ask(&alice, &alice), 403, Some(json!({"detail": "Token missing required scope: introspect"})))
        .await;
    let proxy_key = || post_json("/api/v1/api-keys", json!({"name": "proxy", "scopes": ["introspect"]}));
    t.check(
        proxy_key().bearer(&admin),
        403,
        Some(json!({"detail": "Token missing required scope: introspect"})),
    )
    .await;
    let form = [("username", "root"), ("password", PASSWORD), ("scope", "introspect")];
    let with_introspect = t.check(post_form("/api/v1/auth/token", &form), 200, None).await.json();
    let key = t
        .check(proxy_key().bearer(with_introspect["access_token"].as_str().unwrap()), 201, None)
        .await
        .json()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .check(post_form(INTROSPECT, &[("token", &alice)]).header("x-api-key", &key), 200, None)
        .await
        .json();
    assert_eq!(r["active"], true);
    let r =
        t.check(post_form(INTROSPECT, &[("token", &key)]).header("x-api-key", &key), 200, None).await.json();
    assert_eq!((r["token_type"].as_str(), r["sub"].as_str()), (Some("api_key"), Some("root")));
    // Revoked means inactive at once.
    t.check(
        post_json("/api/v1/auth/logout", json!({"refresh_token": tokens["refresh_token"]})).bearer(&alice),
        200,
        None,
    )
    .await;
    assert_eq!(t.check(ask(&admin, &alice), 200, None).await.json(), json!({"active": false}));
    assert_eq!(
        t.check(ask(&admin, tokens["refresh_token"].as_str().unwrap()), 200, None).await.json(),
        json!({"active": false})
    );
    t.check(post_form(INTROSPECT, &[]).bearer(&admin), 422, None).await;
}

const REVOKE: &str = "/api/v1/auth/revoke";

fn revoke(token: &str, hint: Option<&str>) -> Call {
    let mut pairs = vec![("token", token)];
    if let Some(h) = hint {
        pairs.push(("token_type_hint", h));
    }
    post_form(REVOKE, &pairs)
}

#[tokio::test]
async fn rfc7009_revokes_access_tokens_refresh_tokens_with_their_session_and_keys() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let first = t.login("alice").await;
    let second = t.login("alice").await;
    let me = |token: &str| get("/api/v1/users/me").bearer(token);
    let introspect = |token: &str| post_form(INTROSPECT, &[("token", token)]).bearer(&admin);

    // An access token, by its owner, with nothing but the token: refused from now on.
    let r = t.check(revoke(&at(&first), Some("access_token")), 200, Some(json!({}))).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    t.check(me(&at(&first)), 401, Some(json!({"detail": "Token has been revoked"}))).await;
    t.check(get(VERIFY).bearer(&at(&first)), 401, None).await;
    assert_eq!(t.check(introspect(&at(&first)), 200, None).await.json(), json!({"active": false}));
    // Its refresh token (another kind of token, with a wrong hint: the token says
    // what it is) ends the whole session: its access tokens stop too.
    let rt = first["refresh_token"].as_str().unwrap();
    let again =
        t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": rt})), 200, None).await.json();
    t.check(me(&at(&again)), 200, None).await;
    let rt2 = again["refresh_token"].as_str().unwrap();
    t.check(revoke(rt2, Some("access_token")), 200, Some(json!({}))).await;
    t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": rt2})), 401, None).await;
    t.check(me(&at(&again)), 401, Some(json!({"detail": "Token has been revoked"}))).await;
    assert_eq!(t.check(introspect(rt2), 200, None).await.json(), json!({"active": false}));
    // The other session is untouched.
    t.check(me(&at(&second)), 200, None).await;

    // Services with introspection credentials revoke the same way (headers or not).
    t.check(revoke(&at(&second), None).bearer(&admin), 200, Some(json!({}))).await;
    t.check(me(&at(&second)), 401, None).await;

    // An API key presented to it is deleted.
    let key =
        t.check(post_json("/api/v1/api-keys", json!({"name": "ci"})).bearer(&admin), 201, None).await.json()
            ["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
    t.check(get("/api/v1/users/me").header("x-api-key", &key), 200, None).await;
    t.check(revoke(&key, None), 200, Some(json!({}))).await;
    t.check(get("/api/v1/users/me").header("x-api-key", &key), 401, None).await;

    // Unknown, forged, expired or already revoked: 200 all the same (RFC 7009 §2.2).
    for nothing in ["garbage", "a.b.c", "gh_nope", &at(&first), rt2, &key] {
        t.check(revoke(nothing, None), 200, Some(json!({}))).await;
    }
    let third = t.login("alice").await;
    t.advance(3600);
    t.check(revoke(&at(&third), None), 200, Some(json!({}))).await;

    // Each real revocation is in the audit log.
    let root = at(&t.login("root").await);
    let log = t.check(get("/api/v1/admin/audit?event=token_revoked").bearer(&root), 200, None).await.json();
    let details: Vec<&str> =
        log.as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap_or("")).collect();
    assert_eq!(details.iter().filter(|d| d.contains("RFC 7009")).count(), 3, "{details:?}");
}

#[tokio::test]
async fn rfc7009_errors_are_rfc6749_shaped() {
    let t = TestServer::start().await;
    let bad = |e: &str, d: &str| json!({"error": e, "error_description": d, "detail": d});
    let missing = bad("invalid_request", "The token parameter is required");
    t.check(post_form(REVOKE, &[]), 400, Some(missing.clone())).await;
    t.check(post_form(REVOKE, &[("token", "")]), 400, Some(missing.clone())).await;
    t.check(post_json(REVOKE, json!({"token": "x"})), 400, Some(missing)).await;
    let r = t
        .check(
            revoke("x", Some("id_token")),
            400,
            Some(bad("unsupported_token_type", "token_type_hint must be access_token or refresh_token")),
        )
        .await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    t.check(get(REVOKE), 405, None).await;
}

#[tokio::test]
async fn forward_auth_by_token_key_or_cookie() {
    let t = TestServer::start_with(&["--api-rate-limit", "2/minute"]).await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let tokens = t.login("alice").await;
    let alice = at(&tokens);
    let r = t.check(get(VERIFY).bearer(&alice), 200, None).await;
    assert_eq!(r.header("x-auth-user").as_deref(), Some("alice"));
    assert_eq!(r.header("x-auth-user-id").as_deref(), Some("2"));
    assert_eq!(r.header("x-auth-role").as_deref(), Some("user"));
    assert_eq!(
        r.header("x-auth-scopes").as_deref(),
        Some("profile:read profile:write posts:read posts:write")
    );
    assert_eq!(r.header("x-auth-email").as_deref(), Some("alice@example.com"));
    // Any method, any number of times (not rate limited).
    for m in ["POST", "PUT", "DELETE", "GET", "GET", "GET"] {
        t.check(get(VERIFY).method(m).bearer(&alice), 200, None).await;
    }
    // The login cookie works too.
    let cookie = format!("access_token=\"Bearer {alice}\"");
    assert_eq!(
        t.check(get(VERIFY).header("cookie", &cookie), 200, None).await.header("x-auth-user").as_deref(),
        Some("alice")
    );
    // And an API key.
    let key =
        t.check(post_json("/api/v1/api-keys/generate", json!({})).bearer(&admin), 200, None).await.json()
            ["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        t.check(get(VERIFY).header("x-api-key", &key), 200, None).await.header("x-auth-role").as_deref(),
        Some("admin")
    );
    // Refusals.
    let r = t.check(get(VERIFY), 401, Some(json!({"detail": "Not authenticated"}))).await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    assert!(r.header("x-auth-user").is_none());
    t.check(get(VERIFY).bearer("forged"), 401, None).await;
    t.check(
        get(&format!("{VERIFY}?role=admin")).bearer(&alice),
        403,
        Some(json!({"detail": "Minimum role required: admin"})),
    )
    .await;
    t.check(get(&format!("{VERIFY}?role=moderator")).bearer(&admin), 200, None).await;
    let r = t.check(get(&format!("{VERIFY}?scope=users:read")).bearer(&alice), 403, None).await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer scope=\"users:read\""));
    t.check(get(&format!("{VERIFY}?scope=profile:read,posts:read")).bearer(&alice), 200, None).await;
    t.check(get(&format!("{VERIFY}?role=emperor")).bearer(&alice), 422, None).await;
    // Every method, also those OpenAPI has no name for: proxies forward the original one.
    for m in ["TRACE", "PROPFIND", "OPTIONS"] {
        let r = t.check(get(VERIFY).method(m).bearer(&alice), 200, None).await;
        assert_eq!(r.header("x-auth-user").as_deref(), Some("alice"), "{m}");
    }
    // `redirect` takes only `401`: anything else is a typo in the proxy's
    // configuration, refused before the credential is looked at.
    t.check(get(&format!("{VERIFY}?redirect=401")).bearer(&alice), 200, None).await;
    let invalid =
        json!({"detail": [{"loc": ["query", "redirect"], "msg": "Input should be '401'", "type": "enum"}]});
    for v in ["AAA", "", "302", "401,401"] {
        let q = serde_urlencoded::to_string([("redirect", v)]).unwrap();
        t.check(get(&format!("{VERIFY}?{q}")).bearer(&alice), 422, Some(invalid.clone())).await;
        t.check(get(&format!("{VERIFY}?{q}")), 422, Some(invalid.clone())).await;
    }
    // Logout revokes at once, for the proxy too.
    t.check(
        post_json("/api/v1/auth/logout", json!({"refresh_token": tokens["refresh_token"]})).bearer(&alice),
        200,
        None,
    )
    .await;
    t.check(get(VERIFY).bearer(&alice), 401, None).await;
}

#[tokio::test]
async fn forward_auth_header_names_are_configurable() {
    let t = TestServer::start_with(&["--forward-auth-header-prefix", "Remote-"]).await;
    let token = t.user_token("alice").await;
    let r = t.check(get(VERIFY).bearer(&token), 200, None).await;
    assert_eq!(r.header("remote-user").as_deref(), Some("alice"));
    assert!(r.header("x-auth-user").is_none());
}

#[tokio::test]
async fn prometheus_metrics_for_admins_or_on_their_own_listener() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = TestServer::over_tls_with(&[
        "--metrics-listen",
        &format!("127.0.0.1:{port}"),
        "--login-rate-limit",
        "5/minute",
    ])
    .await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let token = t.login("alice").await["access_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        t.call(post_form(TOKEN, &[("username", "alice"), ("password", "Wrong-pass1")])).await;
    }
    t.call(get("/nope")).await;
    t.check(post_form(TOKEN, &[("username", "alice"), ("password", "x")]), 429, None).await;
    let r = t.check(get("/metrics").bearer(&admin), 200, None).await;
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    for needle in [
        "gatehouse_http_requests_total{method=\"POST\",route=\"/api/v1/auth/token\",status=\"200\"} 2",
        "gatehouse_http_requests_total{method=\"any\",route=\"unmatched\",status=\"404\"} 1",
        "gatehouse_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/auth/token\",le=\"+Inf\"}",
        "gatehouse_logins_total{outcome=\"success\"} 2",
        "gatehouse_logins_total{outcome=\"failure\"} 3",
        "gatehouse_rate_limited_total{limit=\"login\"} 1",
        "gatehouse_password_hash_queue_depth 0",
        "gatehouse_password_hash_wait_seconds_count",
        "gatehouse_tokens_issued_total 2",
        "gatehouse_database_size_bytes",
        "gatehouse_uptime_seconds",
        "gatehouse_lockouts_total 0",
        "gatehouse_refresh_reuse_detected_total 0",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    // CI checks the format with a Prometheus parser (.ci/run).
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-sample.txt"), &text)
        .unwrap();
    // Not for users, nor anonymous callers.
    t.check(get("/metrics").bearer(&token), 403, None).await;
    t.check(get("/metrics"), 401, None).await;
    // The separate plain listener serves /metrics without credentials, and nothing else.
    let fetch = |path: &'static str| async move {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        tcp.read_to_end(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };
    let plain = fetch("/metrics").await;
    assert!(plain.starts_with("HTTP/1.1 200") && plain.contains("gatehouse_uptime_seconds"), "{plain}");
    assert!(fetch("/api/v1/users/me").await.starts_with("HTTP/1.1 404"));
}
