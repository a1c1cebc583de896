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

/// Issue 12, finding 5: behind nginx (`$proxy_add_x_forwarded_for`), the header is
/// whatever the client sent followed by its address. Junk the client wrote must not
/// move it into the proxy's own bucket (escaping its limit and exhausting everyone
/// else's), nor put the proxy's address in the audit log.
#[tokio::test]
async fn junk_the_client_wrote_in_forwarded_for_does_not_move_it_to_the_proxy() {
    let t = TestServer::start_with(&[
        "--login-rate-limit",
        "2/minute",
        "--max-failed-logins",
        "0",
        "--trusted-proxy",
        "127.0.0.1",
    ])
    .await;
    t.check(wrong_login().header("x-forwarded-for", "garbage, 203.0.113.9"), 401, None).await;
    t.check(wrong_login().header("x-forwarded-for", "unknown,203.0.113.9"), 401, None).await;
    // Both counted against 203.0.113.9, however it is written.
    t.check(wrong_login().header("x-forwarded-for", "203.0.113.9"), 429, None).await;
    t.check(wrong_login().header("x-forwarded-for", "x, y, 203.0.113.9"), 429, None).await;
    // Everyone else behind the proxy still has their budget.
    t.check(wrong_login().header("x-forwarded-for", "198.51.100.7"), 401, None).await;
    t.check(wrong_login(), 401, None).await;
    // The audit log names the client, never the proxy.
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let failures = gatehouse::store::AuditQuery {
        event: Some(gatehouse::store::records::AuditEvent::LoginFailure),
        limit: 100,
        ..Default::default()
    };
    let log = t.server.as_ref().unwrap().auth().audit_log(&failures).unwrap();
    let ips: Vec<_> = log.iter().rev().filter_map(|r| r.ip.clone()).collect();
    assert_eq!(ips, ["203.0.113.9", "203.0.113.9", "198.51.100.7", "127.0.0.1"]);
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
    // Over TLS: what a client receives, including what hyper would add (no Server).
    let t = TestServer::over_tls().await;
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

async fn raw_tls(addr: std::net::SocketAddr) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let cfg = client_config(&ca().ca_der, &[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.unwrap()
}

/// Reads until the server closes the connection (or 15 s pass); returns when.
async fn closed_after(
    io: &mut (impl tokio::io::AsyncRead + Unpin),
    start: std::time::Instant,
) -> Option<std::time::Duration> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(15), io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let t = TestServer::over_tls_with(&["--header-timeout", "1", "--idle-timeout", "2"]).await;
    let addr = t.client.addr;
    // Connects, finishes the handshake, says nothing.
    let mut silent = raw_tls(addr).await;
    let start = std::time::Instant::now();
    let waited = closed_after(&mut silent, start).await.expect("silent client never cut off");
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    // Trickles a header line every 300 ms, never finishing the request.
    let mut slow = raw_tls(addr).await;
    let start = std::time::Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let trickle = async {
        for i in 0..40 {
            if slow.write_all(format!("X-Slow-{i}: y\r\n").as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        start.elapsed()
    };
    let cut = tokio::time::timeout(std::time::Duration::from_secs(20), trickle).await.unwrap();
    assert!(cut < std::time::Duration::from_secs(6), "trickling client kept for {cut:?}");
    // Idle keep-alive connections are closed too.
    let mut idle = raw_tls(addr).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let start = std::time::Instant::now();
    let waited = closed_after(&mut idle, start).await.expect("idle keep-alive never closed");
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn a_body_that_trickles_in_gets_408_and_the_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestServer::over_tls_with(&["--body-timeout", "2"]).await;
    let mut slow = raw_tls(t.client.addr).await;
    slow.write_all(
        b"POST /api/v1/users/register HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    // One byte every 300 ms: never idle long enough for the idle timeout, never
    // finished. The server must answer 408 and close by itself.
    let start = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..60 {
        let _ = slow.write_all(b" ").await;
        match tokio::time::timeout(std::time::Duration::from_millis(300), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(text.contains(r#"{"detail":"request body not received in time"}"#), "{text}");
    assert!(took < std::time::Duration::from_secs(8), "slow body kept for {took:?}");
    assert!(closed_after(&mut slow, start).await.is_some(), "connection left open after the 408");
    // A body sent promptly is unaffected.
    t.register("prompt").await;
}

#[tokio::test]
async fn many_idle_connections_do_not_block_a_normal_request() {
    let t = TestServer::over_tls_with(&["--max-connections", "300"]).await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(raw_tls(t.client.addr).await);
    }
    let r = tokio::time::timeout(std::time::Duration::from_secs(5), t.call(get("/health"))).await.unwrap();
    assert_eq!(r.status, 200);
    drop(idle);
}

#[tokio::test]
async fn plain_http_can_be_redirected_to_https() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Find a free port for the redirect listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = TestServer::over_tls_with(&["--redirect-http", &format!("127.0.0.1:{port}")]).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(b"GET /api/v1/users/me?x=1 HTTP/1.1\r\nHost: auth.lan:80\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_lowercase();
    assert!(text.starts_with("http/1.1 308"), "{text}");
    let https_port = t.client.addr.port();
    assert!(text.contains(&format!("location: https://auth.lan:{https_port}/api/v1/users/me?x=1")), "{text}");
}

#[tokio::test]
async fn a_made_up_api_key_does_not_lift_the_limit_on_public_routes() {
    let t = TestServer::start_with(&["--api-rate-limit", "2/minute"]).await;
    let refresh =
        || post_json("/api/v1/auth/refresh", json!({"refresh_token": "x"})).header("x-api-key", "gh_madeup");
    for _ in 0..2 {
        let r = t.check(refresh(), 401, None).await;
        assert!(r.header("x-ratelimit-limit").is_some());
    }
    t.check(refresh(), 429, None).await;
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    // Over TLS: the router answers HEAD as GET; hyper's connection drops the body.
    let t = TestServer::over_tls().await;
    let r = t.check(get("/health").method("HEAD"), 200, None).await;
    assert!(r.body.is_empty());
    t.check(get("/api/v1/users/register").method("HEAD"), 405, None).await;
}
