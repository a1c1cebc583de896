//! Second factors (SPEC §10; issue 15): TOTP enrollment, sign-in with a code, the
//! attacks (replayed codes, the window's edges, concurrent guesses, recovery-code
//! reuse), `--require-mfa`, resets, forward auth's `?mfa=1`. Codes come from
//! oathtool and pyotp (see otp.rs), never from gatehouse's own TOTP code.

use crate::harness::*;
use crate::otp::{oathtool, pyotp, pyotp_parse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const TOKEN: &str = "/api/v1/auth/token";
const LOGIN: &str = "/api/v1/auth/login";
const MFA: &str = "/api/v1/users/me/mfa";
const TOTP: &str = "/api/v1/users/me/mfa/totp";
const CONFIRM: &str = "/api/v1/users/me/mfa/totp/confirm";
const RECOVERY: &str = "/api/v1/users/me/mfa/recovery-codes";

fn bad_login() -> Value {
    json!({
        "detail": "Incorrect username or password",
        "error": "invalid_grant",
        "error_description": "Incorrect username or password",
    })
}

fn mfa_required() -> Value {
    json!({
        "detail": "Second factor required",
        "mfa_required": true,
        "error": "invalid_grant",
        "error_description": "Second factor required",
    })
}

fn sign_in(name: &str, otp: Option<&str>) -> Call {
    let mut pairs = vec![("username", name), ("password", PASSWORD)];
    if let Some(code) = otp {
        pairs.push(("otp", code));
    }
    post_form(TOKEN, &pairs)
}

fn amr(access_token: &str) -> Value {
    let part = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    claims["amr"].clone()
}

fn now(t: &TestServer) -> i64 {
    t.clock.now_secs()
}

/// Registers `name`, enrolls an authenticator app with a pyotp code and returns
/// (access token from before, base32 secret, recovery codes). The clock then
/// moves on one step, so the confirmation's code is behind it.
async fn enrolled(t: &TestServer, name: &str) -> (String, String, Vec<String>) {
    let token = t.user_token(name).await;
    let r = t.check(post_json(TOTP, json!({})).bearer(&token), 200, None).await;
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let code = pyotp(&secret, now(t));
    let r = t.check(post_json(CONFIRM, json!({"code": code})).bearer(&token), 200, None).await;
    let codes: Vec<String> = r.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    t.advance(30);
    (token, secret, codes)
}

#[tokio::test]
async fn enroll_confirm_and_sign_in_with_a_code() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    t.check(
        get(MFA).bearer(&token),
        200,
        Some(json!({"totp": false, "totp_pending": false, "recovery_codes_left": 0, "passkeys": 0, "required": false})),
    )
    .await;
    // Nothing pending yet: no QR code, nothing to confirm.
    t.check(
        get(&format!("{TOTP}/qr")).bearer(&token),
        404,
        Some(json!({"detail": "No TOTP enrollment in progress"})),
    )
    .await;
    t.check(
        post_json(CONFIRM, json!({"code": "123456"})).bearer(&token),
        404,
        Some(json!({"detail": "No TOTP enrollment in progress"})),
    )
    .await;
    let r = t.check(post_json(TOTP, json!({})).bearer(&token), 200, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let body = r.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits of base32: {secret}");
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    // What an authenticator app reads from it.
    if let Some((issuer, name, parsed)) = pyotp_parse(uri) {
        assert_eq!(
            (issuer.as_str(), name.as_str(), parsed.as_str()),
            ("localhost", "alice", secret.as_str()),
            "{uri}"
        );
    }
    let qr = t.check(get(&format!("{TOTP}/qr")).bearer(&token), 200, None).await;
    assert_eq!(qr.header("content-type").as_deref(), Some("image/svg+xml"));
    assert!(String::from_utf8_lossy(&qr.body).contains("<svg"));
    // Not active yet: the password alone still signs in.
    t.check(sign_in("alice", None), 200, None).await;
    // A wrong code does not confirm.
    let wrong = if pyotp(&secret, now(&t)) == "000000" { "111111" } else { "000000" };
    t.check(
        post_json(CONFIRM, json!({"code": wrong})).bearer(&token),
        400,
        Some(json!({"detail": "Invalid code"})),
    )
    .await;
    let code = pyotp(&secret, now(&t));
    let r = t.check(post_json(CONFIRM, json!({"code": code})).bearer(&token), 200, None).await;
    let codes = r.json()["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    t.check(
        get(MFA).bearer(&token),
        200,
        Some(json!({"totp": true, "totp_pending": false, "recovery_codes_left": 10, "passkeys": 0, "required": false})),
    )
    .await;
    // From now on the password alone is not enough, on both sign-in endpoints.
    t.check(sign_in("alice", None), 401, Some(mfa_required())).await;
    t.check(
        post_form(LOGIN, &[("username", "alice"), ("password", PASSWORD)]),
        401,
        Some(json!({"detail": "Second factor required", "mfa_required": true})),
    )
    .await;
    // A code longer than any is refused before anything is looked up.
    let long = "1".repeat(65);
    let r = t.check(sign_in("alice", Some(&long)), 422, None).await.json();
    assert_eq!(r["detail"][0]["type"], "string_too_long");
    assert_eq!(r["detail"][0]["loc"], json!(["body", "otp"]));
    // The code that confirmed is spent: it cannot sign in as well.
    t.check(sign_in("alice", Some(&code)), 401, Some(bad_login())).await;
    t.advance(30);
    let fresh = oathtool(&secret, now(&t));
    let pair = t.check(sign_in("alice", Some(&fresh)), 200, None).await.json();
    assert_eq!(amr(pair["access_token"].as_str().unwrap()), json!(["pwd", "otp", "mfa"]));
    // Replayed within its own window: refused.
    t.check(sign_in("alice", Some(&fresh)), 401, Some(bad_login())).await;
    // The cookie login takes the same field.
    t.advance(30);
    let r = t
        .check(
            post_form(
                LOGIN,
                &[("username", "alice"), ("password", PASSWORD), ("otp", &oathtool(&secret, now(&t)))],
            ),
            200,
            None,
        )
        .await;
    assert!(r.header_all("set-cookie").iter().any(|c| c.starts_with("access_token=")));
    // Starting again while active is a conflict.
    t.check(
        post_json(TOTP, json!({})).bearer(&token),
        409,
        Some(json!({"detail": "TOTP is already enabled"})),
    )
    .await;
}

#[tokio::test]
async fn codes_are_accepted_one_step_either_side_and_only_forward() {
    let t = TestServer::start().await;
    let (_, secret, _) = enrolled(&t, "alice").await;
    // The confirmation spent step s; the clock is now in s + 1. Move to s + 3.
    t.advance(60);
    let at = |steps: i64| oathtool(&secret, now(&t) + 30 * steps);
    t.check(sign_in("alice", Some(&at(-2))), 401, Some(bad_login())).await; // outside the window
    t.check(sign_in("alice", Some(&at(-1))), 200, None).await; // the previous step
    t.check(sign_in("alice", Some(&at(2))), 401, Some(bad_login())).await; // outside the window
    t.check(sign_in("alice", Some(&at(1))), 200, None).await; // the next step
                                                              // Now the current step's code is older than the last accepted one.
    t.check(sign_in("alice", Some(&at(0))), 401, Some(bad_login())).await;
    t.advance(60);
    t.check(sign_in("alice", Some(&at(0))), 200, None).await;
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout_like_wrong_passwords() {
    let t = TestServer::start().await;
    let (_, secret, codes) = enrolled(&t, "alice").await;
    let good = oathtool(&secret, now(&t));
    let wrong = if good == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        t.check(sign_in("alice", Some(wrong)), 401, Some(bad_login())).await;
    }
    // Locked: a right code and a recovery code are refused too, with Retry-After.
    let r = t.check(sign_in("alice", Some(&good)), 401, Some(bad_login())).await;
    assert!(r.header("retry-after").is_some());
    t.check(sign_in("alice", Some(&codes[0])), 401, Some(bad_login())).await;
    // Missing codes and wrong passwords are not free either while locked.
    t.check(sign_in("alice", None), 401, Some(bad_login())).await;
    let user = t.server.as_ref().unwrap().auth().user_by_name("alice").unwrap();
    assert_eq!(user.failed_logins, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_codes_are_counted_exactly_and_none_succeeds_after_the_lock() {
    let t = TestServer::start().await;
    let (_, secret, _) = enrolled(&t, "alice").await;
    let good = oathtool(&secret, now(&t));
    let mut tasks = Vec::new();
    for i in 1..=20u32 {
        let c = t.client.clone();
        let code = format!("{:06}", (good.parse::<u32>().unwrap() + i) % 1_000_000);
        tasks.push(tokio::spawn(async move { c.call(sign_in("alice", Some(&code))).await.status }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 401);
    }
    let user = t.server.as_ref().unwrap().auth().user_by_name("alice").unwrap();
    assert_eq!(user.failed_logins, 5, "exactly the configured number of failures");
    assert!(user.locked_until.is_some());
    // None succeeds after the lock, not even the right code.
    t.check(sign_in("alice", Some(&good)), 401, Some(bad_login())).await;
    t.advance(30);
    t.check(sign_in("alice", Some(&oathtool(&secret, now(&t)))), 401, Some(bad_login())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_sent_many_times_at_once_signs_in_once() {
    let t = TestServer::start().await;
    let (_, secret, _) = enrolled(&t, "alice").await;
    let code = oathtool(&secret, now(&t));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (c, code) = (t.client.clone(), code.clone());
        tasks.push(tokio::spawn(async move { c.call(sign_in("alice", Some(&code))).await.status }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401, 401, 401, 401, 401, 401, 401]);
}

#[tokio::test]
async fn recovery_codes_work_once_and_can_be_replaced() {
    let t = TestServer::start().await;
    let (token, secret, codes) = enrolled(&t, "alice").await;
    let pair = t.check(sign_in("alice", Some(&codes[0])), 200, None).await.json();
    assert_eq!(amr(pair["access_token"].as_str().unwrap()), json!(["pwd", "otp", "mfa"]));
    t.check(sign_in("alice", Some(&codes[0])), 401, Some(bad_login())).await;
    // Typed in capitals with spaces instead of dashes: still the code.
    let typed = codes[1].to_uppercase().replace('-', " ");
    t.check(sign_in("alice", Some(&typed)), 200, None).await;
    assert_eq!(t.check(get(MFA).bearer(&token), 200, None).await.json()["recovery_codes_left"], 8);
    // New codes need a code; the old ones stop working.
    t.check(
        post_json(RECOVERY, json!({"code": "999999x"})).bearer(&token),
        400,
        Some(json!({"detail": "Invalid code"})),
    )
    .await;
    let r = t
        .check(post_json(RECOVERY, json!({"code": oathtool(&secret, now(&t))})).bearer(&token), 200, None)
        .await;
    let fresh = r.json()["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(fresh.len(), 10);
    t.check(sign_in("alice", Some(&codes[2])), 401, Some(bad_login())).await;
    t.check(sign_in("alice", Some(fresh[0].as_str().unwrap())), 200, None).await;
}

#[tokio::test]
async fn removing_the_authenticator_needs_a_code_and_then_nothing_changes_for_the_user() {
    let t = TestServer::start().await;
    let (token, _, codes) = enrolled(&t, "alice").await;
    let wrong = "000000";
    t.check(
        delete(TOTP).json(json!({"code": wrong})).bearer(&token),
        400,
        Some(json!({"detail": "Invalid code"})),
    )
    .await;
    t.check(delete(TOTP).json(json!({"code": &codes[4]})).bearer(&token), 204, None).await;
    t.check(
        get(MFA).bearer(&token),
        200,
        Some(json!({"totp": false, "totp_pending": false, "recovery_codes_left": 0, "passkeys": 0, "required": false})),
    )
    .await;
    // Users without a second factor see no change at all: an `otp` is ignored.
    let pair = t.check(sign_in("alice", Some("123456")), 200, None).await.json();
    assert_eq!(amr(pair["access_token"].as_str().unwrap()), json!(["pwd"]));
    t.check(
        delete(TOTP).json(json!({"code": "123456"})).bearer(&token),
        404,
        Some(json!({"detail": "TOTP is not enabled"})),
    )
    .await;
}

#[tokio::test]
async fn a_required_role_enrolls_before_it_gets_a_session() {
    let t = TestServer::start_with(&["--require-mfa", "admin"]).await;
    t.create("root", Role::Admin);
    t.register("bob").await;
    // Other roles: no change.
    t.check(sign_in("bob", None), 200, None).await;
    let r = t.check(sign_in("root", None), 403, None).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let body = r.json();
    assert_eq!(body["detail"], "Second factor enrollment required");
    assert_eq!(
        (body["mfa_enrollment_required"].clone(), body["expires_in"].clone()),
        (json!(true), json!(600))
    );
    assert_eq!(body["error"], "invalid_grant");
    let enroll = body["enrollment_token"].as_str().unwrap().to_owned();
    // The enrollment token is no access token.
    t.check(
        get("/api/v1/users/me").bearer(&enroll),
        401,
        Some(json!({"detail": "Invalid token type. Use an access token."})),
    )
    .await;
    t.check(get("/api/v1/admin/users").bearer(&enroll), 401, None).await;
    t.check(post_json("/api/v1/auth/introspect", json!({})).bearer(&enroll), 401, None).await;
    // ...but it enrolls.
    assert_eq!(t.check(get(MFA).bearer(&enroll), 200, None).await.json()["required"], true);
    let secret = t.check(post_json(TOTP, json!({})).bearer(&enroll), 200, None).await.json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    t.check(post_json(CONFIRM, json!({"code": pyotp(&secret, now(&t))})).bearer(&enroll), 200, None).await;
    t.advance(30);
    t.check(sign_in("root", None), 401, Some(mfa_required())).await;
    let pair = t.check(sign_in("root", Some(&oathtool(&secret, now(&t)))), 200, None).await.json();
    let access = pair["access_token"].as_str().unwrap();
    // The last factor of a required role cannot be removed by its owner.
    t.advance(30);
    t.check(
        delete(TOTP).json(json!({"code": oathtool(&secret, now(&t))})).bearer(access),
        403,
        Some(json!({"detail": "Your role requires a second factor: add a passkey before removing the authenticator app"})),
    )
    .await;
    // An expired enrollment token is refused.
    t.advance(601);
    t.check(get(MFA).bearer(&enroll), 401, None).await;
}

#[tokio::test]
async fn admins_and_the_operator_reset_factors_audited() {
    let t = TestServer::start().await;
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    let dashboard = || get("/api/v1/admin/dashboard").bearer(&admin);
    assert_eq!(t.check(dashboard(), 200, None).await.json()["users_with_mfa"], 0);
    let (_, _, _) = enrolled(&t, "alice").await;
    let (_, _, _) = enrolled(&t, "carol").await;
    assert_eq!(t.check(dashboard(), 200, None).await.json()["users_with_mfa"], 2);
    let alice = t.server.as_ref().unwrap().auth().user_id_by_name("alice").unwrap().unwrap();
    let reset = |id: u64| post_json(&format!("/api/v1/admin/users/{id}/reset-mfa"), json!({})).bearer(&admin);
    let r = t.check(reset(alice), 200, None).await;
    assert_eq!(r.json()["username"], "alice");
    t.check(sign_in("alice", None), 200, None).await;
    assert_eq!(t.check(dashboard(), 200, None).await.json()["users_with_mfa"], 1);
    // Not on yourself.
    let root = t.server.as_ref().unwrap().auth().user_id_by_name("root").unwrap().unwrap();
    t.check(reset(root), 400, Some(json!({"detail": "Change your own second factors on your account page"})))
        .await;
    t.check(reset(9999), 404, Some(json!({"detail": "User not found"}))).await;
    // The operator's command.
    let reply = gatehouse::ops::execute(
        t.server.as_ref().unwrap().auth(),
        gatehouse::ops::Request::UserResetMfa { name: "carol".into() },
    );
    assert!(reply.ok, "{reply:?}");
    t.check(sign_in("carol", None), 200, None).await;
    assert_eq!(t.check(dashboard(), 200, None).await.json()["users_with_mfa"], 0);
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let log = t.check(get("/api/v1/admin/audit?event=mfa_reset").bearer(&admin), 200, None).await.json();
    let details: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(details.len(), 2, "{log}");
    assert!(details.iter().any(|d| d.ends_with("by the operator")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("by root")), "{details:?}");
}

#[tokio::test]
async fn the_form_without_javascript_asks_for_the_code() {
    let t = TestServer::start().await;
    let (_, secret, _) = enrolled(&t, "alice").await;
    let form = |pairs: &[(&str, &str)]| post_form("/ui/login", pairs).header("sec-fetch-site", "same-origin");
    let r = t.check(form(&[("username", "alice"), ("password", PASSWORD)]), 401, None).await;
    let page = String::from_utf8_lossy(&r.body).to_string();
    assert!(page.contains("id=\"otp-field\">"), "the code field is shown");
    assert!(!page.contains(PASSWORD), "the password is never echoed");
    // An overlong code is the page again (HTML, 422), never the API's JSON.
    let long = "1".repeat(65);
    let r = t.check(form(&[("username", "alice"), ("password", PASSWORD), ("otp", &long)]), 422, None).await;
    assert_eq!(r.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&r.body).contains("The password or code is too long."));
    let r = t
        .check(
            form(&[("username", "alice"), ("password", PASSWORD), ("otp", &oathtool(&secret, now(&t)))]),
            303,
            None,
        )
        .await;
    assert!(r.header_all("set-cookie").iter().any(|c| c.starts_with("access_token=")));
    // A user without a factor never sees the field.
    t.register("bob").await;
    let page = t.check(get("/ui/login"), 200, None).await;
    assert!(String::from_utf8_lossy(&page.body).contains("id=\"otp-field\" hidden>"));
}

#[tokio::test]
async fn forward_auth_can_demand_a_second_factor() {
    let t = TestServer::start_with(&["--redirect-allow", "app.example.com"]).await;
    let verify = |q: &str, token: &str| get(&format!("/api/v1/auth/verify{q}")).bearer(token);
    let bob = t.user_token("bob").await;
    t.check(verify("", &bob), 200, None).await;
    t.check(
        verify("?mfa=1", &bob),
        403,
        Some(json!({"detail": "A second factor is required: set one up on your account page"})),
    )
    .await;
    t.check(verify("?mfa=yes", &bob), 422, None).await;
    // A session from before enrolling: sign in again, with the factor.
    let (before, secret, _) = enrolled(&t, "alice").await;
    t.check(verify("?mfa=0", &before), 200, None).await;
    let r = t
        .check(
            verify("?mfa=1", &before),
            401,
            Some(json!({"detail": "Second factor required", "mfa_required": true})),
        )
        .await;
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    let browser = verify("?mfa=1", &before)
        .header("accept", "text/html")
        .header("x-original-url", "https://app.example.com/reports");
    let r = t.check(browser, 302, None).await;
    let location = r.header("location").unwrap();
    assert!(
        location.ends_with("/ui/login?rd=https%3A%2F%2Fapp.example.com%2Freports&reauth=1"),
        "{location}"
    );
    let pair = t.check(sign_in("alice", Some(&oathtool(&secret, now(&t)))), 200, None).await.json();
    let r = t.check(verify("?mfa=1", pair["access_token"].as_str().unwrap()), 200, None).await;
    assert_eq!(r.header("x-auth-user").as_deref(), Some("alice"));
    // An API key never carries a second factor.
    let key = t
        .check(
            post_json("/api/v1/api-keys", json!({"name": "ci"}))
                .bearer(pair["access_token"].as_str().unwrap()),
            201,
            None,
        )
        .await
        .json()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    t.check(
        get("/api/v1/auth/verify?mfa=1").header("x-api-key", &key),
        403,
        Some(json!({"detail": "An API key does not prove a second factor"})),
    )
    .await;
}
