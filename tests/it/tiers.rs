//! The service tier answers as the wire does. The same requests, sent to a
//! service-tier server and to the real server over TLS (same arguments, same
//! pinned clock), get the same status, headers and body, byte for byte; only what
//! hyper's HTTP/1.1 connection adds on the wire (`date`, `content-length`) is left
//! out. This is what lets nearly every test run without a socket.

use crate::harness::*;
use gatehouse::clock::Clock;
use serde_json::json;

/// Headers hyper's connection writes on the wire; the router never sets them.
const WIRE_ONLY: &[&str] = &["date", "content-length"];

/// A response as text: status, version, headers in order (less [`WIRE_ONLY`]), body.
fn transcript(r: &Resp) -> String {
    let headers: Vec<String> = r
        .headers
        .iter()
        .filter(|(k, _)| !WIRE_ONLY.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    format!("{} {:?}\n{}\n\n{}", r.status, r.version, headers.join("\n"), String::from_utf8_lossy(&r.body))
}

/// Requests whose answers hold nothing random (no token is issued).
fn calls() -> Vec<Call> {
    let alice = json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD});
    let preflight = get("/api/v1/users/me")
        .method("OPTIONS")
        .header("origin", "https://x")
        .header("access-control-request-method", "GET");
    vec![
        get("/health"),
        get("/nope"),
        get("/api/v1/users/register"),
        post_json("/api/v1/users/register", alice.clone()),
        post_json("/api/v1/users/register", alice),
        post_json("/api/v1/users/register", json!({})),
        post_form("/api/v1/users/register", &[("username", "bob")]),
        post_json("/api/v1/users/register", json!({})).raw(vec![b'x'; 2 << 20]),
        post_form("/api/v1/auth/token", &[("username", "alice"), ("password", "WrongPass123!")]),
        get("/api/v1/users/me"),
        get("/api/v1/users/me").bearer("not-a-token"),
        preflight,
        get("/ui/login"),
        get("/ui"),
        get("/openapi.json"),
        get("/api/v1/setup"),
    ]
}

async fn answers(t: &TestServer) -> Vec<String> {
    let mut out = Vec::new();
    for call in calls() {
        out.push(transcript(&t.call(call).await));
    }
    out
}

/// A cookie session's unsafe requests, checked against `Origin`: the router must
/// see the same scheme and host (the request's authority or `Host`) in both tiers.
async fn origin_checks(t: &TestServer) -> Vec<u16> {
    t.register("carol").await;
    let login = post_form("/api/v1/auth/login", &[("username", "carol"), ("password", PASSWORD)]);
    let cookies: Vec<String> = t.check(login, 200, None).await.header_all("set-cookie");
    let jar: Vec<&str> = cookies
        .iter()
        .filter(|c| c.starts_with("access_token=") || c.starts_with("csrf_token="))
        .map(|c| c.split(';').next().unwrap())
        .collect();
    let update = || put_json("/api/v1/users/me", json!({"full_name": "C"})).header("cookie", &jar.join("; "));
    let mut out = Vec::new();
    for origin in [None, Some("https://localhost"), Some("http://localhost"), Some("https://evil.example")] {
        let call = match origin {
            Some(o) => update().header("origin", o),
            None => update(),
        };
        out.push(t.call(call).await.status);
    }
    out
}

fn service() -> impl std::future::Future<Output = TestServer> {
    TestServer::open(Tier::Service, tempfile::tempdir().unwrap(), Clock::pinned(T0), &[])
}

#[tokio::test]
async fn the_service_tier_answers_as_the_wire_does() {
    let (service, wire) = (service().await, TestServer::over_tls().await);
    let (s, w) = (answers(&service).await, answers(&wire).await);
    for (i, (s, w)) in s.iter().zip(&w).enumerate() {
        assert_eq!(s, w, "request {i}: {:?}", calls()[i].path);
    }
    assert_eq!(s.len(), calls().len());
}

#[tokio::test]
async fn the_same_origin_check_sees_the_same_host_in_both_tiers() {
    let (service, wire) = (service().await, TestServer::over_tls().await);
    let statuses = origin_checks(&service).await;
    assert_eq!(statuses, [403, 200, 403, 403]);
    assert_eq!(statuses, origin_checks(&wire).await);
}

/// What tests written when every test ran over TLS do with `t.server` and
/// `t.client` (see the harness's module doc), done to a server of either tier.
async fn old_api_in(t: TestServer) {
    use base64::Engine as _;
    let mut t = t;
    let token = t.user_token("alice").await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    assert_eq!(claims["iss"], format!("https://localhost:{}", t.client.addr.port()), "the issuer's port");
    let auth = t.server.as_ref().unwrap().auth();
    assert!(auth.user_id_by_name("alice").unwrap().is_some(), "the core the requests reached");
    assert_eq!(t.server.as_ref().unwrap().setup_code(), t.setup_code());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (c, token) = (t.client.clone(), token.clone());
        tasks.push(tokio::spawn(async move { c.call(get("/api/v1/users/me").bearer(&token)).await.status }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    // Shutting the server down releases the store, and its clients are refused.
    t.server.take().unwrap().shutdown().await;
    gatehouse::store::Store::open(&t.dir.path().join("data")).unwrap();
    assert!(t.client.send(get("/health")).await.is_err());
}

#[tokio::test]
async fn the_harness_fields_mean_the_same_in_both_tiers() {
    let service = TestServer::start().await;
    assert_eq!((service.tier(), service.client.addr), (Tier::Service, SERVICE_ADDR));
    old_api_in(service).await;
    let wire = TestServer::over_tls().await;
    assert_eq!(wire.tier(), Tier::Tls);
    old_api_in(wire).await;
}

/// The password hashes waiting for a permit, as /metrics reports them.
fn hashes_waiting(state: &gatehouse::server::state::AppState) -> i64 {
    let text = state.metrics.render(&state.auth);
    let line = text.lines().find_map(|l| l.strip_prefix("gatehouse_password_hash_queue_depth "));
    line.unwrap().trim().parse().unwrap()
}

/// Requests sent from spawned tasks are in flight at once in the service tier, as
/// on the wire (so the concurrency tests still race): two logins wait together for
/// a hashing permit while a third request is answered, then both get one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tier_requests_run_concurrently() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let Some(ServerHandle::Service(state)) = t.server.as_ref() else { panic!("not the service tier") };
    let slots = u32::try_from(state.hash_gate.available_permits()).unwrap();
    let permits = std::sync::Arc::clone(&state.hash_gate).acquire_many_owned(slots).await.unwrap();
    let mut logins = Vec::new();
    for _ in 0..2 {
        let c = t.client.clone();
        let form = post_form("/api/v1/auth/token", &[("username", "alice"), ("password", PASSWORD)]);
        logins.push(tokio::spawn(async move { c.call(form).await.status }));
    }
    for _ in 0..1000 {
        if hashes_waiting(state) == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(hashes_waiting(state), 2, "both logins in flight at once");
    t.check(get("/health"), 200, None).await;
    assert!(logins.iter().all(|l| !l.is_finished()));
    drop(permits);
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
}
