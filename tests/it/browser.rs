//! The server side of gatehouse's own pages: the embedded files and their CSP,
//! cookie sessions and the CSRF check, sessions (list, revoke, sign out
//! everywhere), the first-run setup code, locked-account hints, the dashboard's
//! login chart, and where a sign-in may send the browser.

use crate::harness::*;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

/// A browser's cookie jar, reduced to what these tests need.
#[derive(Default, Debug, Clone)]
struct Jar {
    access: Option<String>,
    csrf: Option<String>,
    refresh: Option<String>,
}

impl Jar {
    /// Applies a response's Set-Cookie headers (Max-Age=0 deletes).
    fn take(&mut self, r: &Resp) {
        for line in r.header_all("set-cookie") {
            let (pair, attrs) = line.split_once(';').unwrap_or((&line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let value = value.trim_matches('"').to_owned();
            let value = (!attrs.contains("Max-Age=0")).then_some(value);
            match name {
                "access_token" => self.access = value,
                "csrf_token" => self.csrf = value,
                "refresh_token" => self.refresh = value,
                // The OpenID Provider's browser sign-in (SameSite=Lax), not sent
                // to the API.
                "gatehouse_session" => {}
                other => panic!("unexpected cookie {other}"),
            }
        }
    }

    /// `call` as the browser sends it to a path under / (not the refresh path).
    fn send(&self, call: Call) -> Call {
        let mut parts = Vec::new();
        if let Some(a) = &self.access {
            parts.push(format!("access_token=\"{a}\""));
        }
        if let Some(c) = &self.csrf {
            parts.push(format!("csrf_token={c}"));
        }
        if parts.is_empty() {
            call
        } else {
            call.header("cookie", &parts.join("; "))
        }
    }

    /// `call` from our own page: the cookies plus the CSRF header.
    fn page(&self, call: Call) -> Call {
        let csrf = self.csrf.clone().unwrap();
        self.send(call).header("x-csrf-token", &csrf)
    }

    fn refresh_call(&self) -> Call {
        post_json("/api/v1/auth/refresh", json!({}))
            .raw(vec![])
            .header("cookie", &format!("refresh_token={}", self.refresh.clone().unwrap()))
    }
}

async fn sign_in(t: &TestServer, name: &str, agent: &str) -> Jar {
    let r = t
        .check(
            post_form("/api/v1/auth/login", &[("username", name), ("password", PASSWORD)])
                .header("user-agent", agent),
            200,
            None,
        )
        .await;
    let mut jar = Jar::default();
    jar.take(&r);
    assert!(jar.access.is_some() && jar.csrf.is_some() && jar.refresh.is_some(), "{jar:?}");
    jar
}

#[tokio::test]
async fn pages_are_embedded_with_a_strict_csp() {
    let t = TestServer::start().await;
    for (path, kind) in [
        ("/ui/login", "text/html"),
        ("/ui/setup", "text/html"),
        ("/ui/account", "text/html"),
        ("/ui/admin", "text/html"),
        ("/ui/app.css", "text/css"),
        ("/ui/common.js", "text/javascript"),
        ("/ui/admin.js", "text/javascript"),
        ("/ui/chart.js", "text/javascript"),
        ("/ui/clients.js", "text/javascript"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ] {
        let r = t.check(get(path), 200, None).await;
        assert!(r.header("content-type").unwrap().starts_with(kind), "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        assert!(!r.body.is_empty());
    }
    // Every HTML page loads its script as a module from /ui/ and nothing inline.
    for page in ["login", "setup", "account", "admin"] {
        let html = String::from_utf8(t.call(get(&format!("/ui/{page}"))).await.body.to_vec()).unwrap();
        assert!(html.contains(&format!("src=\"/ui/{page}.js\"")), "{page}");
        assert!(!html.contains("style=\"") && !html.contains(" onclick"), "{page} has inline code or style");
        for script in html.split("<script").skip(1) {
            let body = script.split_once('>').unwrap().1;
            assert!(body.trim_start().starts_with("</script>"), "{page}: inline script");
        }
    }
    t.check(get("/ui/nope.js"), 404, Some(json!({"detail": "Not Found"}))).await;
    t.check(get("/ui/..%2fCargo.toml"), 404, None).await;
    let r = t.check(get("/ui"), 302, None).await;
    assert_eq!(r.header("location").as_deref(), Some("/ui/account"));
    // The API keeps the tutorial's policy.
    let r = t.check(get("/health"), 200, None).await;
    assert!(r.header("content-security-policy").unwrap().contains("'unsafe-inline'"));
}

#[tokio::test]
async fn sign_in_returns_only_to_allowed_places() {
    let t = TestServer::start_with(&["--redirect-allow", "app.example.com,*.corp.example"]).await;
    for (rd, to) in [
        ("/ui/admin", "/ui/admin"),
        ("https://app.example.com/x?y=1", "https://app.example.com/x?y=1"),
        ("https://wiki.corp.example/", "https://wiki.corp.example/"),
        // Issue 12, finding 7: plain http to an allowed host would downgrade the
        // session the sign-in just made.
        ("http://app.example.com/x", "/ui/account"),
        ("HTTP://wiki.corp.example/", "/ui/account"),
        ("https://evil.example/", "/ui/account"),
        ("//evil.example/", "/ui/account"),
        ("https://app.example.com@evil.example/", "/ui/account"),
        ("javascript:alert(1)", "/ui/account"),
        ("", "/ui/account"),
    ] {
        let q = serde_urlencoded::to_string([("rd", rd)]).unwrap();
        let r = t.check(get(&format!("/ui/next?{q}")), 302, None).await;
        assert_eq!(r.header("location").as_deref(), Some(to), "rd={rd}");
    }
    let r = t.check(get("/ui/next"), 302, None).await;
    assert_eq!(r.header("location").as_deref(), Some("/ui/account"));
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_check_for_unsafe_requests() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let jar = sign_in(&t, "alice", "Firefox").await;
    // Reading needs nothing more than the cookie.
    let me = t.check(jar.send(get("/api/v1/users/me")), 200, None).await;
    assert_eq!(me.json()["username"], "alice");
    let update = || put_json("/api/v1/users/me", json!({"full_name": "Alice"}));
    let refused = json!({"detail": "Cross-site request refused: send the X-CSRF-Token header from the csrf_token cookie"});
    // No proof of origin, a foreign Origin, a cross-site fetch, a wrong token: 403.
    t.check(jar.send(update()), 403, Some(refused.clone())).await;
    t.check(jar.send(update()).header("origin", "https://evil.example"), 403, Some(refused.clone())).await;
    t.check(jar.send(update()).header("sec-fetch-site", "cross-site"), 403, Some(refused.clone())).await;
    t.check(jar.send(update()).header("x-csrf-token", "forged"), 403, Some(refused.clone())).await;
    // A token from another session does not fit this one.
    let other = sign_in(&t, "alice", "Chrome").await;
    t.check(jar.send(update()).header("x-csrf-token", other.csrf.as_deref().unwrap()), 403, Some(refused))
        .await;
    // Our own pages: the CSRF header, or a same-origin Origin / Sec-Fetch-Site.
    t.check(jar.page(update()), 200, None).await;
    // (the test client addresses the server as https://localhost)
    t.check(jar.send(update()).header("origin", "https://localhost"), 200, None).await;
    t.check(jar.send(update()).header("origin", "https://localhost.evil.example"), 403, None).await;
    t.check(jar.send(update()).header("sec-fetch-site", "same-origin"), 200, None).await;
    // Bearer callers never need it (a browser does not attach headers by itself).
    let token = t.login("alice").await["access_token"].as_str().unwrap().to_owned();
    t.check(update().bearer(&token), 200, None).await;
    // Refusals are audited.
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let log = t.check(get("/api/v1/admin/audit?event=unauthorized_access").bearer(&admin), 200, None).await;
    let log = log.json();
    let entries = log.as_array().unwrap();
    assert!(entries.iter().any(|e| e["detail"].as_str().unwrap().contains("CSRF")), "{log}");
}

#[tokio::test]
async fn another_site_cannot_sign_a_browser_in() {
    let t = TestServer::start_with(&["--cors-origin", "https://app.example.com"]).await;
    t.register("mallory").await;
    let form = || post_form("/api/v1/auth/login", &[("username", "mallory"), ("password", PASSWORD)]);
    let r = t
        .check(
            form().header("sec-fetch-site", "cross-site").header("origin", "https://evil.example"),
            403,
            None,
        )
        .await;
    assert!(r.header_all("set-cookie").is_empty());
    t.check(form().header("sec-fetch-site", "cross-site"), 403, None).await;
    // A sibling host is not our pages either.
    t.check(form().header("sec-fetch-site", "same-site"), 403, None).await;
    let sibling =
        form().header("sec-fetch-site", "same-site").header("origin", "https://sibling.example.com");
    t.check(sibling, 403, None).await;
    t.check(form().header("sec-fetch-site", "cross-site").header("origin", "null"), 403, None).await;
    let ours = form().header("origin", "https://localhost").header("sec-fetch-site", "same-origin");
    t.check(ours, 200, None).await;
    // A client that is not a browser sends no Sec-Fetch-Site: whatever Origin it
    // claims, there is no visitor's browser to abuse.
    t.check(form().header("origin", "https://evil.example"), 200, None).await;
    // Our pages, an allowed CORS origin, and non-browser clients sign in as before.
    t.check(form().header("sec-fetch-site", "same-origin"), 200, None).await;
    t.check(
        form().header("sec-fetch-site", "cross-site").header("origin", "https://app.example.com"),
        200,
        None,
    )
    .await;
    t.check(form(), 200, None).await;
    let code = t.server.as_ref().unwrap().setup_code().unwrap();
    let b = json!({"code": code, "username": "root", "email": "root@example.com", "password": PASSWORD});
    t.check(post_json("/api/v1/setup", b).header("sec-fetch-site", "cross-site"), 403, None).await;
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one_or_all_at_once() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let laptop = sign_in(&t, "alice", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0").await;
    t.advance(60);
    let phone = sign_in(&t, "alice", "Mozilla/5.0 (iPhone) Safari/605.1").await;
    t.advance(60);
    let api = t.login("alice").await;
    let list = t.check(phone.send(get("/api/v1/users/me/sessions")), 200, None).await.json();
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "{list:?}");
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Mozilla/5.0 (iPhone) Safari/605.1");
    assert_eq!(current[0]["ip_address"], "127.0.0.1");
    for s in &list {
        for field in ["id", "created_at", "last_used_at", "expires_at"] {
            assert!(s[field].is_string(), "{field} in {s}");
        }
    }
    // Most recently used first: the token login, then the phone, then the laptop.
    assert_eq!(list[1]["user_agent"], "Mozilla/5.0 (iPhone) Safari/605.1");
    let laptop_id = list[2]["id"].as_str().unwrap().to_owned();

    // A refresh counts as use and moves the laptop to the top.
    t.advance(60);
    let r = t.check(laptop.refresh_call().header("user-agent", "Firefox again"), 200, None).await;
    let mut laptop = laptop.clone();
    laptop.take(&r);
    let list = t.check(phone.send(get("/api/v1/users/me/sessions")), 200, None).await.json();
    assert_eq!(list[0]["id"], laptop_id.as_str());
    assert_eq!(list[0]["user_agent"], "Firefox again");

    // Revoking the laptop's session from the phone: its access token and refresh
    // token stop working at once; the others keep working.
    let path = format!("/api/v1/users/me/sessions/{laptop_id}");
    t.check(phone.page(delete(&path)), 200, Some(json!({"detail": "Session revoked"}))).await;
    t.check(laptop.send(get("/api/v1/users/me")), 401, Some(json!({"detail": "Token has been revoked"})))
        .await;
    t.check(laptop.refresh_call(), 401, None).await;
    t.check(phone.send(get("/api/v1/users/me")), 200, None).await;
    t.check(get("/api/v1/users/me").bearer(api["access_token"].as_str().unwrap()), 200, None).await;
    t.check(phone.page(delete(&path)), 404, Some(json!({"detail": "Session not found"}))).await;
    t.check(phone.page(delete("/api/v1/users/me/sessions/nope")), 404, None).await;
    assert_eq!(
        t.call(phone.send(get("/api/v1/users/me/sessions"))).await.json().as_array().unwrap().len(),
        2
    );

    // Another user cannot revoke alice's sessions (the id is looked up under the caller).
    let bob = t.user_token("bob").await;
    let list = t.check(phone.send(get("/api/v1/users/me/sessions")), 200, None).await.json();
    let phone_id = list.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"].clone();
    t.check(
        delete(&format!("/api/v1/users/me/sessions/{}", phone_id.as_str().unwrap())).bearer(&bob),
        404,
        None,
    )
    .await;

    // Sign out everywhere: every session and token of alice, and the cookies go.
    let r = t
        .check(
            phone.page(delete("/api/v1/users/me/sessions")),
            200,
            Some(json!({"detail": "Signed out everywhere"})),
        )
        .await;
    let cleared = r.header_all("set-cookie");
    assert_eq!(cleared.len(), 4, "{cleared:?}");
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{cleared:?}");
    t.check(phone.send(get("/api/v1/users/me")), 401, None).await;
    t.check(get("/api/v1/users/me").bearer(api["access_token"].as_str().unwrap()), 401, None).await;
    t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": api["refresh_token"]})), 401, None)
        .await;
    // API keys are not sessions.
    t.check(get("/api/v1/users/me/sessions").header("x-api-key", "gh_whatever"), 401, None).await;
}

#[tokio::test]
async fn cookie_sign_out_ends_the_session_and_clears_the_cookies() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let jar = sign_in(&t, "alice", "Firefox").await;
    // The CSRF check applies to sign-out too (a forged sign-out is a nuisance).
    t.check(jar.send(post_json("/api/v1/auth/logout", json!({})).raw(vec![])), 403, None).await;
    let r = t
        .check(
            jar.page(post_json("/api/v1/auth/logout", json!({})).raw(vec![])),
            200,
            Some(json!({"detail": "Successfully logged out"})),
        )
        .await;
    let mut after = jar.clone();
    after.take(&r);
    assert!(after.access.is_none() && after.csrf.is_none() && after.refresh.is_none());
    // The old cookies are dead even if a copy was kept.
    t.check(jar.send(get("/api/v1/users/me")), 401, None).await;
    t.check(jar.refresh_call(), 401, None).await;
    // The tutorial's Bearer logout still needs its refresh token in the body.
    let pair = t.login("alice").await;
    let token = pair["access_token"].as_str().unwrap();
    let r = t.check(post_json("/api/v1/auth/logout", json!({})).bearer(token), 422, None).await;
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "refresh_token"]));
    t.check(
        post_json("/api/v1/auth/logout", json!({"refresh_token": pair["refresh_token"]})).bearer(token),
        200,
        None,
    )
    .await;
    // ...and that session is gone from the list too.
    let fresh = sign_in(&t, "alice", "Firefox").await;
    let list = t.check(fresh.send(get("/api/v1/users/me/sessions")), 200, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn first_run_setup_creates_one_super_admin_with_the_code() {
    let t = TestServer::start().await;
    let code = t.server.as_ref().unwrap().setup_code().expect("a setup code while there is no admin");
    assert!(code.len() == 14 && code.chars().filter(|c| *c == '-').count() == 2, "{code}");
    t.check(get("/api/v1/setup"), 200, Some(json!({"setup_required": true}))).await;
    let body = |code: &str, name: &str| json!({"code": code, "username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
    t.check(
        post_json("/api/v1/setup", body("AAAA-BBBB-CCCC", "root")),
        403,
        Some(json!({"detail": "Invalid setup code"})),
    )
    .await;
    let r = t.check(post_json("/api/v1/setup", json!({"code": code})), 422, None).await;
    assert_eq!(r.json()["detail"].as_array().unwrap().len(), 3, "username, email, password missing");
    let weak = json!({"code": code, "username": "root", "email": "root@example.com", "password": "short"});
    t.check(post_json("/api/v1/setup", weak), 422, None).await;
    // Lower case and without dashes works too (read off a console).
    let typed = code.replace('-', "").to_lowercase();
    let r = t.check(post_json("/api/v1/setup", body(&typed, "root")), 201, None).await;
    assert_eq!(r.json()["role"], "super_admin");
    assert_eq!(r.json()["username"], "root");
    let mut jar = Jar::default();
    jar.take(&r);
    let me = t.check(jar.send(get("/api/v1/admin/dashboard")), 200, None).await.json();
    assert_eq!(me["users_by_role"]["super_admin"], 1);
    // Done: the code is gone, the endpoint says so, a second admin cannot be made.
    assert_eq!(t.server.as_ref().unwrap().setup_code(), None);
    t.check(get("/api/v1/setup"), 200, Some(json!({"setup_required": false}))).await;
    t.check(
        post_json("/api/v1/setup", body(&code, "root2")),
        409,
        Some(json!({"detail": "Setup is already complete"})),
    )
    .await;
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let log = t.check(jar.send(get("/api/v1/admin/audit?username=root")), 200, None).await.json();
    let events: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.contains(&"user_registered") && events.contains(&"login_success"), "{events:?}");
}

#[tokio::test]
async fn setup_races_end_with_one_admin() {
    let t = TestServer::start().await;
    let code = t.server.as_ref().unwrap().setup_code().unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = t.client.clone();
        let b = json!({"code": code, "username": format!("root{i}"), "email": format!("root{i}@example.com"), "password": PASSWORD});
        tasks.push(tokio::spawn(async move { c.call(post_json("/api/v1/setup", b)).await.status }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409]);
    assert_eq!(t.server.as_ref().unwrap().auth().admin_count().unwrap(), 1);
}

#[tokio::test]
async fn no_setup_code_once_an_admin_exists() {
    let t = TestServer::start().await;
    let code = t.server.as_ref().unwrap().setup_code().unwrap();
    // An admin made some other way (the CLI) closes the setup at once...
    t.create("root", Role::Admin);
    let b = json!({"code": code, "username": "x", "email": "x@example.com", "password": PASSWORD});
    t.check(post_json("/api/v1/setup", b), 409, Some(json!({"detail": "Setup is already complete"}))).await;
    t.check(get("/api/v1/setup"), 200, Some(json!({"setup_required": false}))).await;
    // ...and after a restart there is no code at all.
    let data = t.dir.path().join("data");
    let TestServer { server, dir, .. } = t;
    server.unwrap().shutdown().await;
    let again = gatehouse::app::start(config(&data, &[]), gatehouse::clock::Clock::pinned(T0)).await.unwrap();
    assert_eq!(again.setup_code(), None);
    again.shutdown().await;
    drop(dir);
}

#[tokio::test]
async fn a_locked_account_says_when_to_retry() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let form = |pw: &str| post_form("/api/v1/auth/login", &[("username", "alice"), ("password", pw)]);
    let wrong = json!({"detail": "Incorrect username or password"});
    for _ in 0..4 {
        let r = t.check(form("WrongPass123!"), 401, Some(wrong.clone())).await;
        assert_eq!(r.header("retry-after"), None);
    }
    // The fifth failure locks it; that answer and every later one carry Retry-After.
    let r = t.check(form("WrongPass123!"), 401, Some(wrong.clone())).await;
    assert_eq!(r.header("retry-after").as_deref(), Some("1800"));
    t.advance(600);
    let r = t.check(form(PASSWORD), 401, Some(wrong.clone())).await;
    assert_eq!(r.header("retry-after").as_deref(), Some("1200"));
    let r = t
        .check(post_form("/api/v1/auth/token", &[("username", "alice"), ("password", PASSWORD)]), 401, None)
        .await;
    assert_eq!(r.header("retry-after").as_deref(), Some("1200"));
    assert_eq!(r.json()["error"], "invalid_grant");
    // Unknown and deactivated names behave exactly the same, so the hint does not
    // tell which names exist: locked after the fifth failure, for as long.
    let bob = t.register("bob").await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    let off = post_json(&format!("/api/v1/admin/users/{}/deactivate", bob["id"]), json!({}));
    t.check(off.bearer(&admin), 200, None).await;
    for name in ["nobody", "NoBody2", "bob"] {
        let other = |pw: &str| post_form("/api/v1/auth/login", &[("username", name), ("password", pw)]);
        for _ in 0..4 {
            let r = t.check(other("WrongPass123!"), 401, Some(wrong.clone())).await;
            assert_eq!(r.header("retry-after"), None, "{name}");
        }
        let r = t.check(other("WrongPass123!"), 401, Some(wrong.clone())).await;
        assert_eq!(r.header("retry-after").as_deref(), Some("1800"), "{name}");
        let r = t.check(other(PASSWORD), 401, Some(wrong.clone())).await;
        assert_eq!(r.header("retry-after").as_deref(), Some("1800"), "{name}");
    }
    t.advance(1200);
    t.check(form(PASSWORD), 200, None).await;
}

/// Issue 12, finding 1: a name longer than any account's gets the same 401 as any
/// failed login, is never counted or locked (so never remembered), and failures a
/// whole lock window old are forgotten for accounts and unknown names alike, so
/// waiting does not tell them apart either.
#[tokio::test]
async fn failed_logins_age_out_alike_and_overlong_names_are_not_counted() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let wrong = json!({"detail": "Incorrect username or password"});
    let long = "n".repeat(51);
    for name in ["alice", "ghost", long.as_str()] {
        let form = |pw: &str| post_form("/api/v1/auth/login", &[("username", name), ("password", pw)]);
        for _ in 0..4 {
            let r = t.check(form("WrongPass123!"), 401, Some(wrong.clone())).await;
            assert_eq!(r.header("retry-after"), None, "{name}");
        }
        // Four failures, then half an hour of quiet: forgotten.
        t.advance(30 * 60);
        for _ in 0..4 {
            let r = t.check(form("WrongPass123!"), 401, Some(wrong.clone())).await;
            assert_eq!(r.header("retry-after"), None, "{name}: the old failures still counted");
        }
        let r = t.check(form("WrongPass123!"), 401, Some(wrong.clone())).await;
        let locks = if name.len() > 50 { None } else { Some("1800") };
        assert_eq!(r.header("retry-after").as_deref(), locks, "{name}");
        t.advance(30 * 60);
    }
    t.check(post_form("/api/v1/auth/login", &[("username", "alice"), ("password", PASSWORD)]), 200, None)
        .await;
    // The over-long name was audited like an unknown one, cut short.
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let q = gatehouse::store::AuditQuery { limit: 100, ..Default::default() };
    let log = t.server.as_ref().unwrap().auth().audit_log(&q).unwrap();
    let entry = log.iter().find(|r| r.username.as_deref().is_some_and(|n| n.starts_with("nnn"))).unwrap();
    assert_eq!(
        (entry.username.as_deref(), entry.detail.as_deref()),
        (Some(&long[..51]), Some("unknown user"))
    );
}

#[tokio::test]
async fn the_dashboard_chart_counts_logins_per_hour_and_day() {
    let t = TestServer::start().await;
    t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let bad = || post_form("/api/v1/auth/token", &[("username", "alice"), ("password", "WrongPass123!")]);
    t.check(bad(), 401, None).await;
    t.check(bad(), 401, None).await;
    t.login("alice").await;
    // Two hours later, one more of each.
    t.advance(2 * 3600);
    t.check(bad(), 401, None).await;
    t.login("alice").await;
    let admin = t.login("root").await["access_token"].as_str().unwrap().to_owned();
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let day = t.check(get("/api/v1/admin/stats/logins?range=24h").bearer(&admin), 200, None).await.json();
    assert_eq!(day["range"], "24h");
    assert_eq!(day["bucket_seconds"], 3600);
    let b = day["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 24);
    // T0 is midnight; now is 02:00. root's login + alice's first ones at 00:00.
    assert_eq!(b[21], json!({"start": "2026-01-01T00:00:00.000000Z", "success": 2, "failure": 2}));
    assert_eq!(b[22]["success"], 0);
    assert_eq!(b[23], json!({"start": "2026-01-01T02:00:00.000000Z", "success": 2, "failure": 1}));
    let month = t.check(get("/api/v1/admin/stats/logins?range=30d").bearer(&admin), 200, None).await.json();
    let b = month["buckets"].as_array().unwrap();
    assert_eq!((b.len(), month["bucket_seconds"].clone()), (30, json!(86400)));
    assert_eq!(b[29], json!({"start": "2026-01-01T00:00:00.000000Z", "success": 4, "failure": 3}));
    assert_eq!(b[0]["start"], "2025-12-03T00:00:00.000000Z");
    t.check(get("/api/v1/admin/stats/logins?range=1y").bearer(&admin), 422, None).await;
    let user = t.login("alice").await["access_token"].as_str().unwrap().to_owned();
    t.check(get("/api/v1/admin/stats/logins").bearer(&user), 403, None).await;
}

#[tokio::test]
async fn forward_auth_sends_browsers_to_the_login_page() {
    let t = TestServer::start_with(&["--redirect-allow", "app.example.com"]).await;
    let issuer = t.check(get("/.well-known/oauth-authorization-server"), 200, None).await.json()["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = |c: Call| c.header("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
    let traefik = |c: Call| {
        c.header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", "/reports?q=1&y=2")
    };
    let want = format!("{issuer}/ui/login?rd=https%3A%2F%2Fapp.example.com%2Freports%3Fq%3D1%26y%3D2");
    let r = t.check(browser(traefik(get("/api/v1/auth/verify"))), 302, None).await;
    assert_eq!(r.header("location").as_deref(), Some(want.as_str()));
    assert_eq!(r.json()["login_url"], want.as_str());
    // nginx: X-Original-URL, and ?redirect=401 because auth_request only passes 401/403 on.
    let nginx = browser(get("/api/v1/auth/verify?redirect=401"))
        .header("x-original-url", "https://app.example.com/reports?q=1&y=2");
    let r = t.check(nginx, 401, None).await;
    assert_eq!(r.header("location").as_deref(), Some(want.as_str()));
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    // Not a browser, not an allowed host, no original URL: a plain 401.
    t.check(traefik(get("/api/v1/auth/verify")), 401, Some(json!({"detail": "Not authenticated"}))).await;
    let evil = browser(get("/api/v1/auth/verify")).header("x-original-url", "https://evil.example/");
    t.check(evil, 401, Some(json!({"detail": "Not authenticated"}))).await;
    t.check(browser(get("/api/v1/auth/verify")), 401, None).await;
    // An expired or revoked cookie is as good as none: back to the login page.
    t.register("alice").await;
    let jar = sign_in(&t, "alice", "Firefox").await;
    let r = t.check(jar.send(browser(traefik(get("/api/v1/auth/verify")))), 200, None).await;
    assert_eq!(r.header("x-auth-user").as_deref(), Some("alice"));
    t.advance(31 * 60);
    let r = t.check(jar.send(browser(traefik(get("/api/v1/auth/verify")))), 302, None).await;
    assert_eq!(r.header("location").as_deref(), Some(want.as_str()));
    // A role demand that fails stays a 403 (signing in again would not help).
    let jar = sign_in(&t, "alice", "Firefox").await;
    t.check(jar.send(browser(traefik(get("/api/v1/auth/verify?role=admin")))), 403, None).await;
}

#[tokio::test]
async fn admin_listings_show_sign_in_state_only_when_asked() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let wrong = || post_form("/api/v1/auth/token", &[("username", "alice"), ("password", "WrongPass123!")]);
    for _ in 0..5 {
        t.check(wrong(), 401, None).await;
    }
    // The tutorial's shape, exactly, without ?include=status.
    let plain = t.check(get("/api/v1/admin/users").bearer(&admin), 200, None).await.json();
    let keys: Vec<&String> = plain[1].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["created_at", "email", "full_name", "id", "is_active", "is_verified", "role", "username"]
            .iter()
            .collect::<Vec<_>>()
    );
    let full = t.check(get("/api/v1/admin/users?include=status").bearer(&admin), 200, None).await.json();
    let alice = &full[1];
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["failed_login_attempts"], 5);
    assert_eq!(alice["locked_until"], "2026-01-01T00:30:00.000000Z");
    assert_eq!(alice["last_login"], Value::Null);
    assert_eq!(full[0]["last_login"], "2026-01-01T00:00:00.000000Z");
    let found =
        t.check(get("/api/v1/admin/users/search?q=al&include=status").bearer(&admin), 200, None).await.json();
    assert_eq!(found[0]["failed_login_attempts"], 5);
    // `include` takes `status` and nothing else: a typo is a 422, not a silent
    // answer without the fields asked for.
    let invalid = json!({"loc": ["query", "include"], "msg": "Input should be 'status'", "type": "enum"});
    for v in ["AAA", "", "Status", "status,status"] {
        let q = serde_urlencoded::to_string([("include", v)]).unwrap();
        let want = Some(json!({"detail": [invalid.clone()]}));
        t.check(get(&format!("/api/v1/admin/users?{q}")).bearer(&admin), 422, want.clone()).await;
        t.check(get(&format!("/api/v1/admin/users/search?q=al&{q}")).bearer(&admin), 422, want).await;
    }
    // Every invalid parameter is reported at once, in the document's order.
    let r = t.check(get("/api/v1/admin/users/search?limit=0&include=x").bearer(&admin), 422, None).await;
    let locs: Vec<Value> = r.json()["detail"].as_array().unwrap().iter().map(|e| e["loc"].clone()).collect();
    assert_eq!(locs, [json!(["query", "q"]), json!(["query", "limit"]), json!(["query", "include"])]);
    // Once the lock has run out it is no longer reported.
    t.advance(31 * 60);
    let admin = t.login("root").await["access_token"].as_str().unwrap().to_owned();
    let full = t.check(get("/api/v1/admin/users?include=status").bearer(&admin), 200, None).await.json();
    assert_eq!(full[1]["locked_until"], Value::Null);
}

#[tokio::test]
async fn the_refresh_cookie_stays_home_and_is_spent_only_from_our_pages() {
    let t = TestServer::start_with(&["--cookie-domain", "example.com"]).await;
    t.register("alice").await;
    let r = t
        .check(post_form("/api/v1/auth/login", &[("username", "alice"), ("password", PASSWORD)]), 200, None)
        .await;
    let cookies = r.header_all("set-cookie");
    let find = |name: &str| cookies.iter().find(|c| c.starts_with(name)).unwrap().clone();
    // Sibling hosts behind forward auth get the access cookie, never the refresh one.
    assert!(find("access_token=").contains("; Domain=example.com"), "{cookies:?}");
    assert!(!find("refresh_token=").contains("Domain="), "{cookies:?}");
    assert!(!find("csrf_token=").contains("Domain="), "{cookies:?}");
    let mut jar = Jar::default();
    jar.take(&r);
    // From another page (a sibling host, another site), the refresh cookie is refused.
    for site in ["same-site", "cross-site"] {
        let call =
            jar.refresh_call().header("sec-fetch-site", site).header("origin", "https://sibling.example.com");
        t.check(call, 403, None).await;
    }
    // From our pages (or a client that is not a browser): a new pair, as SPEC §1
    // says (TokenResponse), and the same pair in the cookies.
    let r = t.check(jar.refresh_call().header("sec-fetch-site", "same-origin"), 200, None).await;
    let body = r.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    jar.take(&r);
    assert_eq!(jar.refresh.as_deref(), body["refresh_token"].as_str());
    // Sign-out clears each cookie with the attributes it was set with.
    let r = t.check(jar.page(post_json("/api/v1/auth/logout", json!({})).raw(vec![])), 200, None).await;
    let cleared = r.header_all("set-cookie");
    let has = |prefix: &str, domain: bool| {
        cleared.iter().any(|c| c.starts_with(prefix) && c.contains("Domain=example.com") == domain)
    };
    assert!(has("access_token=;", true) && has("refresh_token=;", false), "{cleared:?}");
    // The tutorial's body refresh is unchanged: the TokenResponse.
    let pair = t.login("alice").await;
    let body = json!({"refresh_token": pair["refresh_token"]});
    let r = t.check(post_json("/api/v1/auth/refresh", body), 200, None).await;
    assert!(r.json()["access_token"].is_string());
}

#[tokio::test]
async fn answers_about_the_caller_are_never_cached() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let jar = sign_in(&t, "alice", "Firefox").await;
    for path in ["/api/v1/users/me", "/api/v1/api-keys", "/api/v1/users/me/sessions"] {
        let r = t.check(jar.send(get(path)), 200, None).await;
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"), "{path}");
    }
    // Public answers keep their own caching.
    let r = t.check(get("/ui/app.css"), 200, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
}

#[tokio::test]
async fn a_revoked_session_is_inactive_everywhere() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let pair = t.login("alice").await;
    let access = pair["access_token"].as_str().unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();
    let introspect = |token: &str| post_form("/api/v1/auth/introspect", &[("token", token)]).bearer(&admin);
    assert_eq!(t.check(introspect(refresh), 200, None).await.json()["active"], true);
    let list = t.check(get("/api/v1/users/me/sessions").bearer(access), 200, None).await.json();
    let sid = list[0]["id"].as_str().unwrap().to_owned();
    let other = t.login("alice").await;
    let revoke = delete(&format!("/api/v1/users/me/sessions/{sid}"));
    t.check(revoke.bearer(other["access_token"].as_str().unwrap()), 200, None).await;
    for token in [access, refresh] {
        t.check(introspect(token), 200, Some(json!({"active": false}))).await;
    }
    t.check(get("/api/v1/auth/verify").bearer(access), 401, None).await;
    t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": refresh})), 401, None).await;
}

#[tokio::test]
async fn sessions_leave_the_store_when_their_last_refresh_token_expires() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let pair = t.login("alice").await;
    // A rotation keeps one session row; a second login adds another.
    let r = t
        .check(post_json("/api/v1/auth/refresh", json!({"refresh_token": pair["refresh_token"]})), 200, None)
        .await;
    t.advance(3 * 86_400);
    t.login("alice").await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    let sessions = |auth: &gatehouse::domain::Auth| {
        auth.table_counts().unwrap().into_iter().find(|(name, _)| *name == "sessions").unwrap().1
    };
    assert_eq!(sessions(&auth), 2);
    // Day 8: the first session's newest refresh token (issued on day 0) has expired,
    // the second's (day 3) has not.
    t.advance(5 * 86_400);
    auth.cleanup_batch(1000).unwrap();
    assert_eq!(sessions(&auth), 1);
    t.advance(3 * 86_400);
    auth.cleanup_batch(1000).unwrap();
    assert_eq!(sessions(&auth), 0);
    // A token of the first session is refused like any expired one.
    let body = json!({"refresh_token": r.json()["refresh_token"]});
    t.check(post_json("/api/v1/auth/refresh", body), 401, None).await;
}
