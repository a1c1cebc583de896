//! Registration, profile, validation and body handling (SPEC §1).

use crate::harness::*;
use serde_json::json;

const REGISTER: &str = "/api/v1/users/register";

#[tokio::test]
async fn register_returns_user_response_without_secrets() {
    let t = TestServer::start().await;
    let r = t
        .check(
            post_json(REGISTER, json!({"username": "NewUser", "email": "New@Example.COM", "password": PASSWORD, "full_name": "New User"})),
            201,
            None,
        )
        .await;
    let u = r.json();
    assert_eq!(u["id"], 1);
    assert_eq!(u["username"], "newuser", "stored lower-case");
    assert_eq!(u["email"], "New@example.com", "domain lower-cased");
    assert_eq!(u["full_name"], "New User");
    assert_eq!(u["role"], "user");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["is_verified"], false);
    assert_eq!(u["created_at"], "2026-01-01T00:00:00.000000Z");
    let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(!String::from_utf8_lossy(&r.body).contains("scrypt"));
}

fn reg(username: &str, email: &str, password: &str) -> Call {
    post_json(REGISTER, json!({"username": username, "email": email, "password": password}))
}

/// The (type, loc, msg) triples of a 422 body.
fn errors(r: &Resp) -> Vec<(String, serde_json::Value, String)> {
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    r.json()["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["type"].as_str().unwrap().to_owned(), e["loc"].clone(), e["msg"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn register_validation_matches_the_tutorial() {
    let t = TestServer::start().await;
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("ab", "a@example.com", PASSWORD, "username", "Value error, Username must be at least 3 characters"),
        (
            &"a".repeat(51),
            "a@example.com",
            PASSWORD,
            "username",
            "Value error, Username must not exceed 50 characters",
        ),
        (
            "bad name",
            "a@example.com",
            PASSWORD,
            "username",
            "Value error, Username can only contain letters, numbers, hyphens, and underscores",
        ),
        (
            "okname",
            "a@example.com",
            "Sh0rt!",
            "password",
            "Value error, Password must be at least 8 characters",
        ),
        (
            "okname",
            "a@example.com",
            "nouppercase1!",
            "password",
            "Value error, Password must contain an uppercase letter",
        ),
        (
            "okname",
            "a@example.com",
            "NOLOWERCASE1!",
            "password",
            "Value error, Password must contain a lowercase letter",
        ),
        (
            "okname",
            "a@example.com",
            "NoDigitsHere!",
            "password",
            "Value error, Password must contain a digit",
        ),
        (
            "okname",
            "a@example.com",
            "NoSpecial123",
            "password",
            "Value error, Password must contain a special character",
        ),
    ];
    for (u, e, p, field, msg) in cases {
        let r = t.call(reg(u, e, p)).await;
        assert_eq!(
            errors(&r),
            vec![("value_error".into(), json!(["body", field]), msg.to_string())],
            "{u} {p}"
        );
    }
    let r = t.call(reg("okname", "not-an-email", PASSWORD)).await;
    let e = errors(&r);
    assert_eq!((e[0].0.as_str(), &e[0].1), ("value_error", &json!(["body", "email"])));
    assert!(e[0].2.starts_with("value is not a valid email address"), "{}", e[0].2);
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let t = TestServer::start().await;
    let r = t.call(reg("x", "nope", "weak")).await;
    let locs: Vec<_> = errors(&r).into_iter().map(|e| e.1).collect();
    assert_eq!(
        locs,
        vec![json!(["body", "username"]), json!(["body", "email"]), json!(["body", "password"])]
    );
}

#[tokio::test]
async fn overlong_passwords_are_rejected_before_hashing() {
    let t = TestServer::start().await;
    let long = format!("Aa1!{}", "x".repeat(125));
    let r = t.call(reg("longpw", "l@example.com", &long)).await;
    assert_eq!(errors(&r)[0].2, "Value error, Password must not exceed 128 characters");
    // A megabyte-sized password on login is refused the same way, not hashed.
    t.register("bob").await;
    let huge = "A".repeat(200_000);
    let r = t.call(post_form("/api/v1/auth/token", &[("username", "bob"), ("password", &huge)])).await;
    assert_eq!(errors(&r)[0].1, json!(["body", "password"]));
}

#[tokio::test]
async fn missing_and_mistyped_fields_use_fastapi_shapes() {
    let t = TestServer::start().await;
    let r = t.call(post_json(REGISTER, json!({"username": "abc"}))).await;
    assert_eq!(
        errors(&r),
        vec![
            ("missing".into(), json!(["body", "email"]), "Field required".into()),
            ("missing".into(), json!(["body", "password"]), "Field required".into()),
        ]
    );
    let r = t
        .call(post_json(REGISTER, json!({"username": 5, "email": "a@example.com", "password": PASSWORD})))
        .await;
    assert_eq!(
        errors(&r),
        vec![("string_type".into(), json!(["body", "username"]), "Input should be a valid string".into())]
    );
}

#[tokio::test]
async fn non_json_bodies_are_422_never_500() {
    let t = TestServer::start().await;
    let base = Call { method: hyper::Method::POST, path: REGISTER.into(), headers: vec![], body: vec![] };
    let cases: Vec<(Call, &str)> = vec![
        (base.clone().header("content-type", "application/json"), "missing"),
        (base.clone().header("content-type", "application/json").raw(b"{not json".to_vec()), "json_invalid"),
        (
            base.clone().header("content-type", "application/json").raw(b"[1,2,3]".to_vec()),
            "model_attributes_type",
        ),
        (
            base.clone().header("content-type", "application/json").raw(b"\"str\"".to_vec()),
            "model_attributes_type",
        ),
        (
            post_form(
                REGISTER,
                &[("username", "formuser"), ("email", "f@example.com"), ("password", PASSWORD)],
            ),
            "model_attributes_type",
        ),
        (base.clone().header("content-type", "application/json").raw(vec![0xff, 0xfe, 0x00]), "json_invalid"),
    ];
    for (call, kind) in cases {
        let r = t.call(call).await;
        assert_eq!(errors(&r)[0].0, kind);
    }
}

#[tokio::test]
async fn duplicate_json_keys_are_refused_on_every_json_endpoint() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let refresh = t.login("alice").await["refresh_token"].as_str().unwrap().to_owned();
    let raw = |method: &str, path: &str, body: String| {
        post_json(path, json!({})).method(method).bearer(&token).raw(body.into_bytes())
    };
    // The registration a proxy reading the first key would see as "first", and
    // serde_json alone would register as "second".
    let register =
        r#"{"username":"first","username":"second","email":"x@example.com","password":"SecurePass123!"}"#;
    let cases = [
        raw("POST", REGISTER, register.into()),
        raw(
            "POST",
            "/api/v1/auth/refresh",
            format!(r#"{{"refresh_token":"{refresh}","refresh_token":"x"}}"#),
        ),
        raw("POST", "/api/v1/auth/logout", format!(r#"{{"refresh_token":"x","refresh_token":"{refresh}"}}"#)),
        raw(
            "POST",
            "/api/v1/auth/change-password",
            r#"{"current_password":"SecurePass123!","new_password":"NewPass123!!","new_password":"x"}"#
                .into(),
        ),
        raw("PUT", "/api/v1/users/me", r#"{"full_name":"A","full_name":"B"}"#.into()),
        raw("POST", "/api/v1/api-keys", r#"{"name":"k","name":"k2"}"#.into()),
        // At any depth: inside an array inside an object.
        raw("POST", "/api/v1/api-keys", r#"{"name":"k","x":[{"a":1,"a":1}]}"#.into()),
        raw("POST", "/api/v1/setup", r#"{"code":"a","code":"b"}"#.into()),
    ];
    for call in cases {
        let what = format!("{} {}", call.method, call.path);
        let r = t.call(call).await;
        assert_eq!(r.status, 422, "{what}: {}", String::from_utf8_lossy(&r.body));
        let e = &r.json()["detail"][0];
        assert_eq!(e["type"], "json_invalid", "{what}");
        assert_eq!(e["loc"][0], "body", "{what}");
        assert!(e["msg"].as_str().unwrap().starts_with("Duplicate key '"), "{what}: {e}");
    }
    // Nothing was registered under either name, and the refresh token is unspent.
    for name in ["first", "second"] {
        let r = t.call(post_form("/api/v1/auth/token", &[("username", name), ("password", PASSWORD)])).await;
        assert_eq!(r.status, 401, "{name}");
    }
    t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": refresh})), 200, None).await;
}

#[tokio::test]
async fn unknown_fields_are_ignored_never_applied() {
    let t = TestServer::start().await;
    let r = t
        .check(
            post_json(
                REGISTER,
                json!({"username": "sneaky", "email": "s@example.com", "password": PASSWORD, "role": "super_admin", "is_active": false, "is_verified": true, "id": 99}),
            ),
            201,
            None,
        )
        .await;
    let u = r.json();
    assert_eq!(
        (u["role"].as_str(), u["is_active"].as_bool(), u["is_verified"].as_bool(), u["id"].as_u64()),
        (Some("user"), Some(true), Some(false), Some(1))
    );
    let token = t.login("sneaky").await["access_token"].as_str().unwrap().to_owned();
    let r = t
        .check(
            put_json("/api/v1/users/me", json!({"role": "admin", "is_active": false, "full_name": "S"}))
                .bearer(&token),
            200,
            None,
        )
        .await;
    assert_eq!((r.json()["role"].as_str(), r.json()["full_name"].as_str()), (Some("user"), Some("S")));
}

#[tokio::test]
async fn duplicates_are_409_case_insensitively() {
    let t = TestServer::start().await;
    t.register("alice").await;
    t.check(
        reg("ALICE", "other@example.com", PASSWORD),
        409,
        Some(json!({"detail": "Username already registered"})),
    )
    .await;
    t.check(
        reg("alice2", "ALICE@EXAMPLE.COM", PASSWORD),
        409,
        Some(json!({"detail": "Email already registered"})),
    )
    .await;
}

#[tokio::test]
async fn concurrent_duplicate_registrations_create_one_user() {
    let t = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = t.client.clone();
        tasks.push(tokio::spawn(async move {
            c.call(reg("racer", &format!("r{i}@example.com"), PASSWORD)).await.status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn profile_read_update_and_conflicts() {
    let t = TestServer::start().await;
    t.register("other").await;
    let token = t.user_token("carol").await;
    let me = t.check(get("/api/v1/users/me").bearer(&token), 200, None).await.json();
    assert_eq!(me["email"], "carol@example.com");
    let r = t
        .check(
            put_json("/api/v1/users/me", json!({"full_name": "Carol C", "email": "Carol.New@Example.com"}))
                .bearer(&token),
            200,
            None,
        )
        .await;
    assert_eq!(
        (r.json()["full_name"].as_str(), r.json()["email"].as_str()),
        (Some("Carol C"), Some("Carol.New@example.com"))
    );
    t.check(
        put_json("/api/v1/users/me", json!({"email": "OTHER@example.com"})).bearer(&token),
        409,
        Some(json!({"detail": "Email already in use"})),
    )
    .await;
    let r = t.call(put_json("/api/v1/users/me", json!({"email": "broken"})).bearer(&token)).await;
    assert_eq!(errors(&r)[0].1, json!(["body", "email"]));
    let r = t.call(put_json("/api/v1/users/me", json!({"full_name": "x".repeat(101)})).bearer(&token)).await;
    assert_eq!(errors(&r)[0].0, "string_too_long");
    // Empty update changes nothing; the old email is free again for others.
    t.check(put_json("/api/v1/users/me", json!({})).bearer(&token), 200, None).await;
    t.check(reg("dave", "carol@example.com", PASSWORD), 201, None).await;
}

#[tokio::test]
async fn deactivation_blocks_login_and_tokens() {
    let t = TestServer::start().await;
    let token = t.user_token("erin").await;
    t.check(
        delete("/api/v1/users/me").bearer(&token),
        200,
        Some(json!({"detail": "Account deactivated successfully"})),
    )
    .await;
    t.check(get("/api/v1/users/me").bearer(&token), 403, Some(json!({"detail": "Account is deactivated"})))
        .await;
    let r = t
        .check(
            post_form("/api/v1/auth/token", &[("username", "erin"), ("password", PASSWORD)]),
            401,
            Some(json!({"detail": "Incorrect username or password", "error": "invalid_grant", "error_description": "Incorrect username or password"})),
        )
        .await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_challenge() {
    let t = TestServer::start().await;
    for (call, detail) in [
        (get("/api/v1/users/me"), "Not authenticated"),
        (get("/api/v1/users/me").header("authorization", "Basic dXNlcjpwYXNz"), "Not authenticated"),
        (get("/api/v1/users/me").bearer("not.a.jwt"), "Could not validate credentials"),
        (put_json("/api/v1/users/me", json!({})), "Not authenticated"),
        (delete("/api/v1/users/me"), "Not authenticated"),
    ] {
        let r = t.check(call, 401, Some(json!({ "detail": detail }))).await;
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    }
}

#[tokio::test]
async fn health_and_routing_errors() {
    let t = TestServer::start().await;
    t.check(get("/health"), 200, Some(json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")})))
        .await;
    let r = t.check(get("/nope"), 404, Some(json!({"detail": "Not Found"}))).await;
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"), "security headers on errors too");
    assert!(r.header("strict-transport-security").is_some());
    assert!(r.header("server").is_none());
    let r = t
        .check(get("/api/v1/users/me").method("PATCH"), 405, Some(json!({"detail": "Method Not Allowed"})))
        .await;
    assert_eq!(r.header("allow").as_deref(), Some("GET, PUT, DELETE"));
    t.check(get("/api/v1/users/register"), 405, None).await;
    // A literal path is not also /api/v1/api-keys/{key_id}: DELETE is not a
    // method of /api/v1/api-keys/generate, so it is neither routed nor advertised.
    for m in ["DELETE", "OPTIONS", "GET"] {
        let r = t.check(get("/api/v1/api-keys/generate").method(m), 405, None).await;
        assert_eq!(r.header("allow").as_deref(), Some("POST"), "{m}");
    }
}

#[tokio::test]
async fn bodies_over_one_mib_are_413() {
    let t = TestServer::start().await;
    let big = vec![b'a'; 1024 * 1024 + 1];
    let r = t.call(post_json(REGISTER, json!({})).raw(big)).await;
    assert_eq!((r.status, r.detail()), (413, "Request body too large".to_string()));
    // Exactly at the limit is read (and then rejected as bad JSON, not as too large).
    let r = t.call(post_json(REGISTER, json!({})).raw(vec![b' '; 1024 * 1024])).await;
    assert_eq!(r.status, 422);
}
