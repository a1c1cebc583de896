//! Abuse resistance: rate limits, forwarded-for trust, security headers, CORS,
//! slow and idle clients (SPEC §4, issue 4).

use crate::harness::*;
use serde_json::json;

const TOKEN: &str = "/api/v1/auth/token";
const ME: &str = "/api/v1/users/me";

fn wrong_login() -> Call {
    post_form(TOKEN, &[("username", "alice"), ("password", "WrongPass123!")])
}

#[tokio::test]
async fn sixth_login_in_a_minute_is_429_with_headers() {
    let t = TestServer::start_with(&["--login-rate-limit", "5/minute", "--max-failed-logins", "0"]).await;
    t.register("alice").await;
    for i in 0..5 {
        let r = t.check(wrong_login(), 401, None).await;
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((4 - i).to_string()));
    }
    let r = t.check(wrong_login(), 429, Some(json!({"detail": "Rate limit exceeded"}))).await;
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("5"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > T0 && reset <= T0 + 120, "{reset}");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.header("x-frame-options").is_some(), "security headers on a 429 too");
    // The cookie login shares the budget; other clients do not.
    t.check(post_form("/api/v1/auth/login", &[("username", "alice"), ("password", PASSWORD)]), 429, None)
        .await;
    // After the window has slid past the burst, logins work again.
    t.advance(120);
    t.check(post_form(TOKEN, &[("username", "alice"), ("password", PASSWORD)]), 200, None).await;
}

#[tokio::test]
async fn registration_is_limited_per_hour() {
    let t = TestServer::start_with(&["--register-rate-limit", "3/hour"]).await;
    for name in ["aaa", "bbb", "ccc"] {
        t.register(name).await;
    }
    let r = t
        .check(
            post_json(
                "/api/v1/users/register",
                json!({"username": "ddd", "email": "d@example.com", "password": PASSWORD}),
            ),
            429,
            None,
        )
        .await;
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3"));
    t.advance(2 * 3600);
    t.register("ddd").await;
}

#[tokio::test]
async fn api_limit_per_client_spares_health() {
    let t = TestServer::start_with(&["--api-rate-limit", "3/minute"]).await;
    let token = t.user_token("alice").await;
    for _ in 0..3 {
        t.check(get(ME).bearer(&token), 200, None).await;
    }
    t.check(get(ME).bearer(&token), 429, None).await;
    t.check(get(ME), 429, None).await;
    for _ in 0..10 {
        let r = t.check(get("/health"), 200, None).await;
        assert!(r.header("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn api_keys_have_their_own_bucket_and_fake_keys_do_not_dodge() {
    let t = TestServer::start_with(&["--api-rate-limit", "3/minute"]).await;
    let token = t.user_token("alice").await;
    let key =
        t.check(post_json("/api/v1/api-keys/generate", json!({})).bearer(&token), 200, None).await.json()
            ["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
    // The generate call used one of this address's three.
    for _ in 0..3 {
        t.check(get(ME).header("x-api-key", &key), 200, None).await;
    }
    t.check(get(ME).header("x-api-key", &key), 429, None).await;
    // Made-up keys are counted against the address: two left, then 429.
    for i in 0..2 {
        t.check(get(ME).header("x-api-key", &format!("gh_fake{i}")), 401, None).await;
    }
    t.check(get(ME).header("x-api-key", "gh_fake9"), 429, None).await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
    let t = TestServer::start_with(&["--login-rate-limit", "2/minute", "--max-failed-logins", "0"]).await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        t.check(wrong_login().header("x-forwarded-for", ip), 401, None).await;
    }
    t.check(wrong_login().header("x-forwarded-for", "203.0.113.3"), 429, None).await;

    let t = TestServer::start_with(&[
        "--login-rate-limit",
        "2/minute",
        "--max-failed-logins",
        "0",
        "--trusted-proxy",
        "127.0.0.1",
    ])
    .await;
    for _ in 0..2 {
        t.check(wrong_login().header("x-forwarded-for", "203.0.113.1"), 401, None).await;
    }
    t.check(wrong_login().header("x-forwarded-for", "203.0.113.1"), 429, None).await;
    // A different client behind the same proxy has its own budget; a spoofed
    // left-most entry does not change the bucket.
    t.check(wrong_login().header("x-forwarded-for", "203.0.113.9"), 401, None).await;
    t.check(wrong_login().header("x-forwarded-for", "198.51.100.1, 203.0.113.1"), 429, None).await;
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let t = TestServer::start_with(&["--cors-origin", "https://app.example.com"]).await;
    let preflight = |origin: &str| {
        get(ME)
            .method("OPTIONS")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
    };
    let r = t.check(preflight("https://app.example.com"), 200, None).await;
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(r.header("access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(r.header("access-control-allow-methods").as_deref(), Some("GET, POST, PUT, DELETE, PATCH"));
    assert_eq!(
        r.header("access-control-allow-headers").as_deref(),
        Some("Authorization, Content-Type, X-API-Key, X-Request-ID")
    );
    assert_eq!(r.header("access-control-max-age").as_deref(), Some("600"));
    let r = t.call(preflight("https://evil.example")).await;
    assert_eq!(r.status, 400);
    assert!(r.header("access-control-allow-origin").is_none());

    let token = t.user_token("alice").await;
    let r = t.check(get(ME).bearer(&token).header("origin", "https://app.example.com"), 200, None).await;
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("https://app.example.com"));
    assert_eq!(r.header("access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(
        r.header("access-control-expose-headers").as_deref(),
        Some("X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset")
    );
    let r = t.check(get(ME).bearer(&token).header("origin", "https://evil.example"), 200, None).await;
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("access-control-allow-credentials").is_none());
    // Errors carry CORS headers too, so the browser app can read the detail.
    let r = t.check(get(ME).header("origin", "https://app.example.com"), 401, None).await;
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("https://app.example.com"));
}

#[tokio::test]
async fn no_cors_headers_without_configured_origins() {
    let t = TestServer::start().await;
    let r = t.call(get("/health").header("origin", "https://app.example.com")).await;
    assert!(r.header("access-control-allow-origin").is_none());
    let r = t
        .call(
            get("/health")
                .method("OPTIONS")
                .header("origin", "https://x")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let t = TestServer::start().await;
    for call in [get("/health"), get("/nope"), get(ME), post_json("/api/v1/users/register", json!({}))] {
        let r = t.call(call).await;
        assert_eq!(
            r.header("content-security-policy").as_deref(),
            Some("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'")
        );
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(r.header("referrer-policy").as_deref(), Some("strict-origin-when-cross-origin"));
        assert!(r.header("permissions-policy").unwrap().contains("camera=()"));
        assert_eq!(
            r.header("strict-transport-security").as_deref(),
            Some("max-age=31536000; includeSubDomains")
        );
        assert!(r.header("server").is_none());
    }
}
