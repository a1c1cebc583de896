//! The OpenID Provider (SPEC §9; issue 14): discovery, the authorization code flow
//! with PKCE, consent, the token endpoint's client grants, ID tokens verified by an
//! independent library from the JWKS alone, UserInfo, refresh with reuse detection,
//! RP-initiated logout, and the attacks: code replay, wrong or missing verifier,
//! PKCE downgrade, redirect URI variants, a client's token at another client,
//! open redirects, framing.

use crate::harness::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use gatehouse::domain::oidc::clients::NewClient;
use gatehouse::store::records::oidc::IdTokenAlg;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const CB: &str = "https://app.example.com/cb";
const TOKEN: &str = "/api/v1/auth/token";
const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-0123456789abcdef";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(gatehouse::crypto::secrets::sha256(verifier.as_bytes()))
}

struct App {
    id: String,
    secret: Option<String>,
}

fn register(t: &TestServer, trusted: bool, public: bool, roles: &[Role]) -> App {
    let c = t
        .server
        .as_ref()
        .unwrap()
        .auth()
        .create_client(
            &gatehouse::domain::Ctx::cli(),
            gatehouse::domain::admin::Actor::Operator,
            &NewClient {
                name: "Test App".into(),
                redirect_uris: vec![CB.into(), "http://127.0.0.1:7000/cb".into()],
                post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
                public,
                trusted,
                allowed_roles: roles.to_vec(),
                id_token_alg: IdTokenAlg::EdDSA,
            },
        )
        .unwrap();
    App { id: c.info.id, secret: c.secret }
}

/// Signs `name` in through the pages' login; returns the browser's session cookie.
async fn browser(t: &TestServer, name: &str) -> String {
    let r = t
        .check(post_form("/api/v1/auth/login", &[("username", name), ("password", PASSWORD)]), 200, None)
        .await;
    r.header_all("set-cookie")
        .iter()
        .find_map(|c| c.strip_prefix("gatehouse_session=").map(|v| v.split(';').next().unwrap().to_owned()))
        .expect("browser cookie")
}

fn authorize_url(app: &App, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut q: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &app.id),
        ("redirect_uri", CB),
        ("scope", "openid profile email offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", &ch),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        q.retain(|(n, _)| n != k);
        if !v.is_empty() {
            q.push((k, v));
        }
    }
    format!("/oidc/authorize?{}", serde_urlencoded::to_string(&q).unwrap())
}

/// The query parameters of a redirect's Location.
fn location_params(r: &Resp) -> (String, Vec<(String, String)>) {
    let loc = r.header("location").expect("a Location");
    let (base, q) = loc.split_once('?').unwrap_or((&loc, ""));
    (base.to_owned(), serde_urlencoded::from_str(q).unwrap())
}

fn param(p: &[(String, String)], name: &str) -> Option<String> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

async fn code_for(t: &TestServer, app: &App, cookie: &str) -> String {
    let r = t
        .check(
            get(&authorize_url(app, &[])).header("cookie", &format!("gatehouse_session={cookie}")),
            302,
            None,
        )
        .await;
    let (base, p) = location_params(&r);
    assert_eq!(base, CB, "{p:?}");
    param(&p, "code").expect("a code")
}

fn basic(app: &App) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", app.id, app.secret.as_deref().unwrap_or(""))))
}

fn exchange(app: &App, code: &str, verifier: &str) -> Call {
    post_form(
        TOKEN,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", verifier),
        ],
    )
    .header("authorization", &basic(app))
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_lists_the_endpoints_and_8414_agrees() {
    let t = TestServer::start().await;
    let iss = format!("https://localhost:{}", t.client.addr.port());
    let d = t.check(get("/.well-known/openid-configuration"), 200, None).await.json();
    assert_eq!(d["issuer"], iss.as_str());
    assert_eq!(d["authorization_endpoint"], format!("{iss}/oidc/authorize"));
    assert_eq!(d["token_endpoint"], format!("{iss}/api/v1/auth/token"));
    assert_eq!(d["userinfo_endpoint"], format!("{iss}/oidc/userinfo"));
    assert_eq!(d["end_session_endpoint"], format!("{iss}/oidc/logout"));
    assert_eq!(d["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256", "ES256", "EdDSA"]));
    let m = t.check(get("/.well-known/oauth-authorization-server"), 200, None).await.json();
    for k in ["issuer", "token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint"] {
        assert_eq!(m[k], d[k], "{k}");
    }
}

#[tokio::test]
async fn code_flow_with_pkce_id_token_userinfo_refresh_and_reuse() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, true, false, &[]);
    let cookie = browser(&t, "alice").await;
    // A signed-in browser goes straight back, with code, state and iss (RFC 9207).
    let r = t
        .check(
            get(&authorize_url(&app, &[])).header("cookie", &format!("gatehouse_session={cookie}")),
            302,
            None,
        )
        .await;
    let (_, p) = location_params(&r);
    let iss = format!("https://localhost:{}", t.client.addr.port());
    assert_eq!((param(&p, "state"), param(&p, "iss")), (Some("st-1".into()), Some(iss.clone())));
    let code = param(&p, "code").unwrap();
    let tokens = t.check(exchange(&app, &code, VERIFIER), 200, None).await;
    assert_eq!(tokens.header("cache-control").as_deref(), Some("no-store"));
    let tokens = tokens.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email offline_access");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], iss.as_str());
    assert_eq!(id["aud"], app.id.as_str());
    assert_eq!(id["azp"], app.id.as_str());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["preferred_username"], "alice");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["sub"].as_str().unwrap().parse::<u64>().is_ok(), "sub is the account id: {id}");
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    // at_hash binds the access token (EdDSA: left half of SHA-512).
    let at = tokens["access_token"].as_str().unwrap();
    let full = ring_sha512(at.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&full[..32]));
    // The access token names the client and works at UserInfo.
    assert_eq!(claims(at)["aud"], app.id.as_str());
    let ui = t.check(get("/oidc/userinfo").bearer(at), 200, None).await.json();
    assert_eq!(ui["sub"], id["sub"]);
    assert_eq!(
        (ui["preferred_username"].as_str(), ui["email_verified"].as_bool()),
        (Some("alice"), Some(false))
    );
    // Refresh (offline_access) rotates; the spent one is reuse, 400 invalid_grant.
    let rt = tokens["refresh_token"].as_str().unwrap();
    let refresh = |token: &str| {
        post_form(TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", token)])
            .header("authorization", &basic(&app))
    };
    let again = t.check(refresh(rt), 200, None).await.json();
    assert!(again["id_token"].is_string() && again["refresh_token"].is_string());
    let r = t.check(refresh(rt), 400, None).await.json();
    assert_eq!(r["error"], "invalid_grant");
    // Reuse revoked every session: the newer tokens are dead too.
    t.check(refresh(again["refresh_token"].as_str().unwrap()), 400, None).await;
    t.check(get("/oidc/userinfo").bearer(again["access_token"].as_str().unwrap()), 401, None).await;
}

fn ring_sha512(data: &[u8]) -> Vec<u8> {
    gatehouse::crypto::secrets::sha512(data).to_vec()
}

#[tokio::test]
async fn codes_are_single_use_and_a_replay_revokes_what_the_first_issued() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, true, false, &[]);
    let cookie = browser(&t, "alice").await;
    let code = code_for(&t, &app, &cookie).await;
    let first = t.check(exchange(&app, &code, VERIFIER), 200, None).await.json();
    let at = first["access_token"].as_str().unwrap();
    t.check(get("/oidc/userinfo").bearer(at), 200, None).await;
    let r = t.check(exchange(&app, &code, VERIFIER), 400, None).await.json();
    assert_eq!(r["error"], "invalid_grant");
    t.check(get("/oidc/userinfo").bearer(at), 401, None).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let r = post_form(TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .header("authorization", &basic(&app));
    t.check(r, 400, None).await;
    // And a code expires after 60 s.
    let code = code_for(&t, &app, &cookie).await;
    t.advance(61);
    assert_eq!(t.check(exchange(&app, &code, VERIFIER), 400, None).await.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn pkce_is_checked_and_cannot_be_downgraded() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, true, false, &[]);
    let public = register(&t, true, true, &[]);
    let cookie = browser(&t, "alice").await;
    let cookie_h = format!("gatehouse_session={cookie}");
    // A wrong verifier, and no verifier, for a code made with a challenge.
    let code = code_for(&t, &app, &cookie).await;
    t.check(exchange(&app, &code, "the-wrong-verifier-0123456789abcdefghijklmnopqrst"), 400, None).await;
    let code = code_for(&t, &app, &cookie).await;
    let no_verifier =
        post_form(TOKEN, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)])
            .header("authorization", &basic(&app));
    t.check(no_verifier, 400, None).await;
    // Downgrade: a code made without a challenge, redeemed with a verifier.
    let r = t
        .check(
            get(&authorize_url(&app, &[("code_challenge", ""), ("code_challenge_method", "")]))
                .header("cookie", &cookie_h),
            302,
            None,
        )
        .await;
    let code = param(&location_params(&r).1, "code").unwrap();
    t.check(exchange(&app, &code, VERIFIER), 400, None).await;
    // plain is refused; a public client must use PKCE.
    let r = t
        .check(
            get(&authorize_url(&app, &[("code_challenge_method", "plain")])).header("cookie", &cookie_h),
            302,
            None,
        )
        .await;
    assert_eq!(param(&location_params(&r).1, "error").as_deref(), Some("invalid_request"));
    let r = t
        .check(
            get(&authorize_url(&public, &[("code_challenge", ""), ("code_challenge_method", "")]))
                .header("cookie", &cookie_h),
            302,
            None,
        )
        .await;
    assert_eq!(param(&location_params(&r).1, "error").as_deref(), Some("invalid_request"));
    // The public client redeems with its id alone (no secret) and the verifier.
    let code = code_for(&t, &public, &cookie).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
        ("client_id", &public.id),
    ];
    t.check(post_form(TOKEN, &form), 200, None).await;
}

#[tokio::test]
async fn redirect_uri_variants_and_unknown_clients_get_a_page_never_a_redirect() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, true, false, &[]);
    let cookie = format!("gatehouse_session={}", browser(&t, "alice").await);
    for variant in [
        "https://app.example.com/cb/",
        "https://APP.example.com/cb",
        "https://app.example.com/cb?x=1",
        "https://app.example.com/cb#f",
        "https://evil@app.example.com/cb",
        "https://app.example.com.evil.com/cb",
        "http://app.example.com/cb",
        "https://evil.example.net/cb",
    ] {
        let r = t
            .check(
                get(&authorize_url(&app, &[("redirect_uri", variant)])).header("cookie", &cookie),
                400,
                None,
            )
            .await;
        assert!(r.header("location").is_none(), "{variant}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }
    let r = t.check(get(&authorize_url(&App { id: "nope".into(), secret: None }, &[])), 400, None).await;
    assert!(String::from_utf8_lossy(&r.body).contains("not registered"));
    // The pages cannot be framed (clickjacking).
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    // Errors after the redirect URI is trusted go back to it, with state and iss.
    let r = t
        .check(get(&authorize_url(&app, &[("response_type", "token")])).header("cookie", &cookie), 302, None)
        .await;
    let (base, p) = location_params(&r);
    assert_eq!(base, CB);
    assert_eq!(param(&p, "error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(param(&p, "state").as_deref(), Some("st-1"));
    assert!(param(&p, "iss").is_some());
}

#[tokio::test]
async fn a_token_or_code_of_one_client_is_refused_to_another() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let a = register(&t, true, false, &[]);
    let b = register(&t, true, false, &[]);
    let cookie = browser(&t, "alice").await;
    let code = code_for(&t, &a, &cookie).await;
    assert_eq!(t.check(exchange(&b, &code, VERIFIER), 400, None).await.json()["error"], "invalid_grant");
    let code = code_for(&t, &a, &cookie).await;
    let tokens = t.check(exchange(&a, &code, VERIFIER), 200, None).await.json();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let as_b = post_form(TOKEN, &[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .header("authorization", &basic(&b));
    assert_eq!(t.check(as_b, 400, None).await.json()["error"], "invalid_grant");
    // A wrong secret is 401 invalid_client; so is a secret for a public client id.
    let wrong = App { id: a.id.clone(), secret: Some("nope".into()) };
    let r = t.check(exchange(&wrong, "x", VERIFIER), 401, None).await;
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    // client_secret_post works like basic.
    let code = code_for(&t, &a, &cookie).await;
    let post = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
        ("client_id", &a.id),
        ("client_secret", a.secret.as_deref().unwrap()),
    ];
    t.check(post_form(TOKEN, &post), 200, None).await;
    // The tutorial's API refresh refuses a client's refresh token.
    t.check(post_json("/api/v1/auth/refresh", json!({"refresh_token": rt})), 401, None).await;
}

#[tokio::test]
async fn sign_in_consent_prompt_and_roles() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, false, false, &[]);
    // No session: to the sign-in page and back.
    let r = t.check(get(&authorize_url(&app, &[("login_hint", "alice")])), 302, None).await;
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("/ui/login?rd=%2Foidc%2Fauthorize%3F"), "{loc}");
    assert!(loc.contains("login_hint=alice"));
    // prompt=none without a session: login_required back to the client.
    let r = t.check(get(&authorize_url(&app, &[("prompt", "none")])), 302, None).await;
    assert_eq!(param(&location_params(&r).1, "error").as_deref(), Some("login_required"));
    let cookie = format!("gatehouse_session={}", browser(&t, "alice").await);
    // Not trusted: consent page (and prompt=none says consent_required).
    let r =
        t.check(get(&authorize_url(&app, &[("prompt", "none")])).header("cookie", &cookie), 302, None).await;
    assert_eq!(param(&location_params(&r).1, "error").as_deref(), Some("consent_required"));
    let page = t.check(get(&authorize_url(&app, &[])).header("cookie", &cookie), 200, None).await;
    let html = String::from_utf8_lossy(&page.body).to_string();
    assert!(html.contains("Test App") && html.contains(">Allow<") && html.contains(">Deny<"), "{html}");
    // Deny → access_denied; Allow → a code, and the consent is remembered.
    let answer = |decision: &str| {
        let mut form: Vec<(String, String)> =
            serde_urlencoded::from_str(authorize_url(&app, &[]).split_once('?').unwrap().1).unwrap();
        form.push(("decision".into(), decision.into()));
        let body = serde_urlencoded::to_string(&form).unwrap();
        Call {
            method: hyper::Method::POST,
            path: "/oidc/consent".into(),
            headers: vec![],
            body: body.into_bytes(),
        }
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
    };
    let r = t.check(answer("deny"), 303, None).await;
    assert_eq!(param(&location_params(&r).1, "error").as_deref(), Some("access_denied"));
    let r = t.check(answer("allow"), 303, None).await;
    assert!(param(&location_params(&r).1, "code").is_some());
    let r = t.check(get(&authorize_url(&app, &[])).header("cookie", &cookie), 302, None).await;
    assert!(param(&location_params(&r).1, "code").is_some(), "consent remembered");
    // A consent post from another site is refused.
    let cross = answer("allow");
    let cross = Call {
        headers: cross
            .headers
            .into_iter()
            .map(|(k, v)| if k == "sec-fetch-site" { (k, "cross-site".into()) } else { (k, v) })
            .collect(),
        ..cross
    };
    t.check(cross, 403, None).await;
    // Withdrawn on the account page: asked again.
    let at = t.login("alice").await["access_token"].as_str().unwrap().to_owned();
    let list = t.check(get("/api/v1/users/me/consents").bearer(&at), 200, None).await.json();
    assert_eq!(list[0]["client_id"], app.id.as_str());
    t.check(delete(&format!("/api/v1/users/me/consents/{}", app.id)).bearer(&at), 200, None).await;
    t.check(get(&authorize_url(&app, &[])).header("cookie", &cookie), 200, None).await;
    // prompt=login and max_age=0 send a signed-in browser to sign in again, once.
    let r =
        t.check(get(&authorize_url(&app, &[("prompt", "login")])).header("cookie", &cookie), 302, None).await;
    let loc = r.header("location").unwrap();
    assert!(loc.contains("reauth=1") && loc.contains("login_after"), "{loc}");
    // Roles: an admins-only client refuses a user with access_denied.
    let admins = register(&t, true, false, &[Role::Admin, Role::SuperAdmin]);
    let r = t.check(get(&authorize_url(&admins, &[])).header("cookie", &cookie), 302, None).await;
    assert_eq!(param(&location_params(&r).1, "error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn end_session_signs_out_and_redirects_only_to_registered_uris() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, true, false, &[]);
    let cookie_v = browser(&t, "alice").await;
    let cookie = format!("gatehouse_session={cookie_v}");
    let code = code_for(&t, &app, &cookie_v).await;
    let tokens = t.check(exchange(&app, &code, VERIFIER), 200, None).await.json();
    let hint = tokens["id_token"].as_str().unwrap();
    // An unregistered post-logout URI is refused on a page (no open redirect).
    let q = serde_urlencoded::to_string([
        ("id_token_hint", hint),
        ("post_logout_redirect_uri", "https://evil.example.net/"),
    ])
    .unwrap();
    let r = t.check(get(&format!("/oidc/logout?{q}")).header("cookie", &cookie), 400, None).await;
    assert!(r.header("location").is_none());
    // Without a hint, a page asks first.
    t.check(get("/oidc/logout").header("cookie", &cookie), 200, None).await;
    // With the hint: signed out at once, cookies cleared, back to the registered URI.
    let q = serde_urlencoded::to_string([
        ("id_token_hint", hint),
        ("post_logout_redirect_uri", "https://app.example.com/bye"),
        ("state", "s9"),
    ])
    .unwrap();
    let r = t.check(get(&format!("/oidc/logout?{q}")).header("cookie", &cookie), 302, None).await;
    assert_eq!(r.header("location").as_deref(), Some("https://app.example.com/bye?state=s9"));
    assert!(r.header_all("set-cookie").iter().any(|c| c.starts_with("gatehouse_session=;")));
    // The browser's session is over: the authorization endpoint asks to sign in.
    let r = t.check(get(&authorize_url(&app, &[])).header("cookie", &cookie), 302, None).await;
    assert!(r.header("location").unwrap().starts_with("/ui/login"));
}

#[tokio::test]
async fn the_sign_in_form_works_without_javascript() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let page = t.check(get("/ui/login?rd=%2Fui%2Faccount&login_hint=al%22ice"), 200, None).await;
    let html = String::from_utf8_lossy(&page.body).to_string();
    assert!(html.contains("name=\"rd\" value=\"/ui/account\""), "{html}");
    assert!(html.contains("value=\"al&quot;ice\""), "escaped: {html}");
    let bad =
        post_form("/ui/login", &[("username", "alice"), ("password", "WrongPass1!"), ("rd", "/ui/account")]);
    let r = t.check(bad, 401, None).await;
    assert!(String::from_utf8_lossy(&r.body).contains("Incorrect username or password"));
    let good = post_form(
        "/ui/login",
        &[("username", "alice"), ("password", PASSWORD), ("rd", "/oidc/authorize?x=1")],
    );
    let r = t.check(good, 303, None).await;
    assert_eq!(r.header("location").as_deref(), Some("/oidc/authorize?x=1"));
    assert!(r.header_all("set-cookie").iter().any(|c| c.starts_with("gatehouse_session=")));
    // An absolute rd elsewhere is not followed.
    let away = post_form(
        "/ui/login",
        &[("username", "alice"), ("password", PASSWORD), ("rd", "https://evil.example.net/")],
    );
    assert_eq!(t.check(away, 303, None).await.header("location").as_deref(), Some("/ui/account"));
}

/// The no-JavaScript sign-in form is posted to gatehouse, which redirects on to
/// `rd`, and for an OpenID sign-in on to the client: Chromium checks the form's
/// `form-action` against each of those redirects, so the page names the final
/// origin, and only one it would really go to.
#[tokio::test]
async fn the_sign_in_form_may_be_redirected_where_the_sign_in_goes() {
    let t = TestServer::start_with(&["--redirect-allow", "app.example.com"]).await;
    let app = register(&t, true, false, &[]);
    let server = &t;
    let csp_of = |rd: String| async move {
        let q = serde_urlencoded::to_string([("rd", rd)]).unwrap();
        let page = server.check(get(&format!("/ui/login?{q}")), 200, None).await;
        page.header("content-security-policy").unwrap()
    };
    let authorize = authorize_url(&app, &[]);
    assert!(authorize.starts_with("/oidc/authorize?"), "{authorize}");
    let csp = csp_of(authorize.clone()).await;
    assert!(csp.contains("form-action 'self' https://app.example.com;"), "{csp}");
    // A redirect_uri the client did not register adds nothing.
    let forged = authorize.replace("app.example.com", "evil.example.net");
    assert!(csp_of(forged).await.contains("form-action 'self';"));
    // Forward auth's rd to an allowed host; a host not allowed adds nothing.
    let csp = csp_of("https://app.example.com:8443/reports?q=1".into()).await;
    assert!(csp.contains("form-action 'self' https://app.example.com:8443;"), "{csp}");
    assert!(csp_of("https://evil.example.net/".into()).await.contains("form-action 'self';"));
    assert!(csp_of("/ui/account".into()).await.contains("form-action 'self';"));
}

#[tokio::test]
async fn a_sign_in_with_a_second_factor_says_so_in_the_id_token() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let app = register(&t, true, false, &[]);
    let now = || t.clock.now_secs();
    let secret =
        t.check(post_json("/api/v1/users/me/mfa/totp", json!({})).bearer(&token), 200, None).await.json()
            ["secret"]
            .as_str()
            .unwrap()
            .to_owned();
    let code = crate::otp::pyotp(&secret, now());
    t.check(post_json("/api/v1/users/me/mfa/totp/confirm", json!({"code": code})).bearer(&token), 200, None)
        .await;
    t.advance(30);
    // The pages' sign-in needs the code now; with it, the browser session says how.
    let login = |otp: Option<String>| {
        let mut pairs = vec![("username", "alice".to_owned()), ("password", PASSWORD.to_owned())];
        pairs.extend(otp.map(|c| ("otp", c)));
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_form("/api/v1/auth/login", &pairs)
    };
    t.check(login(None), 401, Some(json!({"detail": "Second factor required", "mfa_required": true}))).await;
    let r = t.check(login(Some(crate::otp::oathtool(&secret, now()))), 200, None).await;
    let cookie = r
        .header_all("set-cookie")
        .iter()
        .find_map(|c| c.strip_prefix("gatehouse_session=").map(|v| v.split(';').next().unwrap().to_owned()))
        .expect("browser cookie");
    let code = code_for(&t, &app, &cookie).await;
    let tokens = t.check(exchange(&app, &code, VERIFIER), 200, None).await.json();
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["amr"], json!(["pwd", "otp", "mfa"]));
}

/// Chromium checks a form's `form-action` against every redirect that follows the
/// post: with `form-action 'self'` alone, Allow on the consent page (and Sign out
/// on the logout confirmation) were blocked on their way back to the client, found
/// by Apache's mod_auth_openidc in Chromium (tests/external/oidc/apache.sh).
#[tokio::test]
async fn consent_and_logout_pages_let_their_forms_redirect_to_the_client() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, false, false, &[]);
    let cookie = format!("gatehouse_session={}", browser(&t, "alice").await);
    let page = t.check(get(&authorize_url(&app, &[])).header("cookie", &cookie), 200, None).await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' https://app.example.com;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The sign-out question, asked when there is no id_token_hint.
    let q = serde_urlencoded::to_string([
        ("client_id", app.id.as_str()),
        ("post_logout_redirect_uri", "https://app.example.com/bye"),
    ])
    .unwrap();
    let page = t.check(get(&format!("/oidc/logout?{q}")).header("cookie", &cookie), 200, None).await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' https://app.example.com;"), "{csp}");
    // Without a place to go back to, the page's forms stay on gatehouse.
    let page = t.check(get("/oidc/logout").header("cookie", &cookie), 200, None).await;
    assert!(page.header("content-security-policy").unwrap().contains("form-action 'self';"));
}

/// Without `state`, end session goes back to the registered URI exactly as
/// registered: no empty query (`/bye?`) for a relying party to compare against.
/// Found by mod_auth_openidc's logout in Chromium (tests/external/oidc/apache.sh).
#[tokio::test]
async fn end_session_without_state_returns_to_the_uri_as_registered() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let app = register(&t, true, false, &[]);
    let cookie_v = browser(&t, "alice").await;
    let code = code_for(&t, &app, &cookie_v).await;
    let tokens = t.check(exchange(&app, &code, VERIFIER), 200, None).await.json();
    let q = serde_urlencoded::to_string([
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", "https://app.example.com/bye"),
    ])
    .unwrap();
    let r = t
        .check(
            get(&format!("/oidc/logout?{q}")).header("cookie", &format!("gatehouse_session={cookie_v}")),
            302,
            None,
        )
        .await;
    assert_eq!(r.header("location").as_deref(), Some("https://app.example.com/bye"));
}
