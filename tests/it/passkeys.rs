//! Passkeys (SPEC §10; issue 15) over the real server: registration, the
//! passkey as the second step after a password, the password-less sign-in, list,
//! rename, remove, resets; and the attacks, each one field of an otherwise honest
//! answer made by the software authenticator in `authenticator.rs`: another
//! origin or rp id, a replayed, expired or foreign challenge, tampered
//! `clientDataJSON`, authenticator data or signature, missing flags, another
//! key or algorithm, a counter that went back (audited), another user's or a
//! removed credential.

use crate::authenticator::{self as sw, Ceremony, Credential, Kind, UP, UV};
use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const ISSUER: [&str; 2] = ["--issuer", "https://auth.test"];
const ORIGIN: &str = "https://auth.test";
const OPTIONS: &str = "/api/v1/users/me/mfa/passkeys/options";
const KEYS: &str = "/api/v1/users/me/mfa/passkeys";
const SIGN_IN_OPTIONS: &str = "/api/v1/auth/passkey/options";
const SIGN_IN: &str = "/api/v1/auth/passkey";
const REFUSED: &str = "Passkey not accepted";

async fn start(extra: &[&str]) -> TestServer {
    let mut args = ISSUER.to_vec();
    args.extend_from_slice(extra);
    TestServer::start_with(&args).await
}

/// Creation options for the bearer of `token`.
async fn creation_options(t: &TestServer, token: &str) -> Value {
    t.check(post_json(OPTIONS, json!({})).bearer(token), 200, None).await.json()
}

/// Registers a new credential of `kind` for the bearer of `token`.
async fn enroll(t: &TestServer, token: &str, kind: Kind) -> (Credential, Value) {
    let mut cred = Credential::new(kind);
    let o = creation_options(t, token).await;
    let body = sw::register(&mut cred, &o, &Ceremony::honest(&o, ORIGIN, true));
    let r = t.check(post_json(KEYS, json!({"credential": body})).bearer(token), 201, None).await;
    (cred, r.json())
}

/// A sign-in ceremony with a fresh challenge.
async fn sign_in_ceremony(t: &TestServer) -> Ceremony {
    let o = t.check(post_json(SIGN_IN_OPTIONS, json!({})), 200, None).await.json();
    assert_eq!(o["rpId"], "auth.test");
    assert_eq!(o["allowCredentials"], json!([]), "names no credential");
    Ceremony::honest(&o, ORIGIN, false)
}

fn password_less(assertion: &Value) -> Call {
    post_json(SIGN_IN, json!({"credential": assertion}))
}

/// The token endpoint with a password and a passkey as the second factor.
fn with_password(name: &str, assertion: &Value) -> Call {
    post_form(
        "/api/v1/auth/token",
        &[("username", name), ("password", PASSWORD), ("passkey", &assertion.to_string())],
    )
}

fn amr(access_token: &str) -> Value {
    let part = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    claims["amr"].clone()
}

async fn refused(t: &TestServer, call: Call, what: &str) {
    let r = t.call(call).await;
    assert_eq!((r.status, r.json()["detail"].clone()), (401, json!(REFUSED)), "{what}");
}

/// An honest password-less sign-in works (the account is not locked, the
/// credential not spoiled by the attack before it).
async fn honest(t: &TestServer, cred: &mut Credential) {
    let c = sign_in_ceremony(t).await;
    let r = t.check(password_less(&sw::assertion(cred, &c)), 200, None).await;
    assert!(r.header_all("set-cookie").iter().any(|c| c.starts_with("access_token=")), "session cookies");
}

#[tokio::test]
async fn every_algorithm_registers_signs_in_and_is_managed() {
    let t = start(&[]).await;
    for (i, kind) in [Kind::Es256, Kind::EdDsa, Kind::Rs256].into_iter().enumerate() {
        let name = format!("user{i}");
        let token = t.user_token(&name).await;
        let o = creation_options(&t, &token).await;
        assert_eq!((o["rp"]["id"].as_str(), o["attestation"].as_str()), (Some("auth.test"), Some("none")));
        assert_eq!(
            o["pubKeyCredParams"],
            json!([{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -257}])
        );
        let (mut cred, reg) = enroll(&t, &token, kind).await;
        assert_eq!(reg["recovery_codes"].as_array().unwrap().len(), 10, "first factor: recovery codes");
        let alg = ["ES256", "EdDSA", "RS256"][i];
        assert_eq!(
            (reg["passkey"]["algorithm"].as_str(), reg["passkey"]["name"].as_str()),
            (Some(alg), Some("Passkey 1"))
        );
        let id = reg["passkey"]["id"].as_str().unwrap().to_owned();
        // The password alone is no longer enough; with the passkey it is, amr hwk.
        let r = t
            .check(post_form("/api/v1/auth/token", &[("username", &name), ("password", PASSWORD)]), 401, None)
            .await;
        assert_eq!(r.json()["mfa_required"], true);
        let c = sign_in_ceremony(&t).await;
        let r = t.check(with_password(&name, &sw::assertion(&mut cred, &c)), 200, None).await;
        let strong = r.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(amr(&strong), json!(["pwd", "hwk", "mfa"]), "{alg}");
        // Password-less, from the pages: the session cookies.
        honest(&t, &mut cred).await;
        // List and rename.
        let list = t.check(get(KEYS).bearer(&token), 200, None).await.json();
        assert_eq!((list.as_array().unwrap().len(), list[0]["id"].as_str()), (1, Some(id.as_str())));
        assert!(list[0]["last_used_at"].is_string(), "{list}");
        let path = format!("{KEYS}/{id}");
        let r = t
            .check(post_json(&path, json!({"name": "  Laptop "})).method("PATCH").bearer(&token), 200, None)
            .await;
        assert_eq!(r.json()["name"], "Laptop");
        t.check(post_json(&path, json!({"name": "\u{7}"})).method("PATCH").bearer(&token), 422, None).await;
        t.check(
            post_json(&format!("{KEYS}/0000000000000000"), json!({"name": "x"}))
                .method("PATCH")
                .bearer(&token),
            404,
            Some(json!({"detail": "Passkey not found"})),
        )
        .await;
        // Removing needs a session that used a second factor.
        t.check(
            delete(&path).bearer(&token),
            403,
            Some(json!({"detail": "Sign in with a second factor to remove a passkey"})),
        )
        .await;
        t.check(delete(&path).bearer(&strong), 204, None).await;
        assert_eq!(t.check(get(KEYS).bearer(&strong), 200, None).await.json(), json!([]));
        // Removed: it signs in no more, and the password alone does again.
        let c = sign_in_ceremony(&t).await;
        refused(&t, password_less(&sw::assertion(&mut cred, &c)), "removed credential").await;
        t.check(post_form("/api/v1/auth/token", &[("username", &name), ("password", PASSWORD)]), 200, None)
            .await;
    }
}

#[tokio::test]
async fn tampered_or_misdirected_assertions_are_refused() {
    let t = start(&["--max-failed-logins", "100"]).await;
    let token = t.user_token("alice").await;
    let (mut cred, _) = enroll(&t, &token, Kind::Es256).await;
    type Attack = (&'static str, fn(&mut Ceremony));
    let attacks: [Attack; 5] = [
        ("another origin", |c| c.origin = "https://evil.test".into()),
        ("another port", |c| c.origin = "https://auth.test:8443".into()),
        ("another rp id", |c| c.rp_id = "evil.test".into()),
        ("the registration ceremony's type", |c| c.kind = "webauthn.create"),
        ("no user verification (password-less)", |c| c.flags = UP),
    ];
    for (what, change) in attacks {
        let mut c = sign_in_ceremony(&t).await;
        change(&mut c);
        refused(&t, password_less(&sw::assertion(&mut cred, &c)), what).await;
        honest(&t, &mut cred).await;
    }
    let c = sign_in_ceremony(&t).await;
    let no_presence = Ceremony { flags: UV, ..c };
    refused(&t, password_less(&sw::assertion(&mut cred, &no_presence)), "no user presence").await;
    // Bytes changed after signing.
    type Tamper = (&'static str, fn(&mut sw::Parts));
    let tampering: [Tamper; 5] = [
        ("clientDataJSON", |p| p.client_data.push(b' ')),
        ("authenticator data", |p| p.auth_data[32] |= 0x08),
        ("signature", |p| *p.signature.last_mut().unwrap() ^= 1),
        ("user handle", |p| p.user_handle = vec![7; 32]),
        ("credential id", |p| p.credential_id[0] ^= 1),
    ];
    for (what, change) in tampering {
        let c = sign_in_ceremony(&t).await;
        let mut parts = sw::assert_parts(&mut cred, &c);
        change(&mut parts);
        refused(&t, password_less(&sw::to_json(&parts)), what).await;
    }
    // Signed by another key (of another algorithm) under this credential id.
    let c = sign_in_ceremony(&t).await;
    let mut parts = sw::assert_parts(&mut cred, &c);
    let other = Credential::new(Kind::EdDsa);
    let mut msg = parts.auth_data.clone();
    msg.extend(ring::digest::digest(&ring::digest::SHA256, &parts.client_data).as_ref());
    parts.signature = other.sign(&msg);
    refused(&t, password_less(&sw::to_json(&parts)), "another key's signature").await;
    honest(&t, &mut cred).await;
}

#[tokio::test]
async fn challenges_work_once_within_five_minutes_for_their_ceremony() {
    let t = start(&["--max-failed-logins", "100"]).await;
    let token = t.user_token("alice").await;
    let (mut cred, _) = enroll(&t, &token, Kind::EdDsa).await;
    // Replayed: the same answer twice.
    let c = sign_in_ceremony(&t).await;
    let a = sw::assertion(&mut cred, &c);
    t.check(password_less(&a), 200, None).await;
    refused(&t, password_less(&a), "replayed assertion").await;
    // The same challenge with a fresh signature and a higher counter.
    refused(&t, password_less(&sw::assertion(&mut cred, &c)), "replayed challenge").await;
    // A challenge spent by a refused answer is spent too.
    let c = sign_in_ceremony(&t).await;
    refused(
        &t,
        password_less(&sw::assertion(&mut cred, &Ceremony { origin: "https://x.test".into(), ..c.clone() })),
        "bad",
    )
    .await;
    refused(&t, password_less(&sw::assertion(&mut cred, &c)), "challenge spent by a refusal").await;
    // Expired.
    let c = sign_in_ceremony(&t).await;
    t.advance(301);
    refused(&t, password_less(&sw::assertion(&mut cred, &c)), "expired challenge").await;
    // Made up, and a registration challenge used to sign in.
    let c = sign_in_ceremony(&t).await;
    let made_up = Ceremony { challenge: sw::b64(&[9; 32]), ..c };
    refused(&t, password_less(&sw::assertion(&mut cred, &made_up)), "unknown challenge").await;
    let o = creation_options(&t, &token).await;
    let reg = Ceremony { kind: "webauthn.get", ..Ceremony::honest(&o, ORIGIN, true) };
    refused(&t, password_less(&sw::assertion(&mut cred, &reg)), "a registration challenge").await;
    honest(&t, &mut cred).await;
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused_and_audited() {
    let t = start(&[]).await;
    let (_, admin) = t.as_role("root", Role::SuperAdmin).await;
    let token = t.user_token("alice").await;
    let (mut cred, _) = enroll(&t, &token, Kind::Es256).await;
    honest(&t, &mut cred).await;
    honest(&t, &mut cred).await;
    // A clone of the authenticator, taken before those two sign-ins.
    cred.count = 0;
    let c = sign_in_ceremony(&t).await;
    refused(&t, password_less(&sw::assertion(&mut cred, &c)), "cloned authenticator").await;
    t.server.as_ref().unwrap().auth().flush_audit().unwrap();
    let log = t
        .check(get("/api/v1/admin/audit?event=passkey_counter_regression").bearer(&admin), 200, None)
        .await
        .json();
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert!(entries[0]["detail"].as_str().unwrap().contains("counter went back"), "{log}");
    assert_eq!(entries[0]["username"], "alice", "{log}");
    // The original, ahead of the stored counter, still works.
    cred.count = 10;
    honest(&t, &mut cred).await;
}

#[tokio::test]
async fn another_users_passkey_is_no_second_factor() {
    let t = start(&[]).await;
    let alice = t.user_token("alice").await;
    let bob = t.user_token("bob").await;
    let (mut a_cred, _) = enroll(&t, &alice, Kind::Es256).await;
    let (mut b_cred, _) = enroll(&t, &bob, Kind::Es256).await;
    let c = sign_in_ceremony(&t).await;
    let r = t.check(with_password("alice", &sw::assertion(&mut b_cred, &c)), 401, None).await;
    assert_eq!(r.json()["detail"], "Incorrect username or password", "like a wrong password");
    // Without user verification a second step still works (the password was one factor).
    let c = sign_in_ceremony(&t).await;
    let presence_only = Ceremony { flags: UP, ..c };
    t.check(with_password("alice", &sw::assertion(&mut a_cred, &presence_only)), 200, None).await;
    // Unreadable counts as a wrong second factor.
    let r = t
        .check(
            post_form(
                "/api/v1/auth/token",
                &[("username", "alice"), ("password", PASSWORD), ("passkey", "{")],
            ),
            401,
            None,
        )
        .await;
    assert_eq!(r.json()["detail"], "Incorrect username or password");
    // Bob cannot rename or remove Alice's passkey.
    let list = t.check(get(KEYS).bearer(&alice), 200, None).await.json();
    let path = format!("{KEYS}/{}", list[0]["id"].as_str().unwrap());
    t.check(post_json(&path, json!({"name": "mine"})).method("PATCH").bearer(&bob), 404, None).await;
}

#[tokio::test]
async fn registration_answers_are_checked() {
    let t = start(&[]).await;
    let alice = t.user_token("alice").await;
    let bob = t.user_token("bob").await;
    let post = |body: Value, token: &str| post_json(KEYS, json!({"credential": body})).bearer(token);
    type Case = (&'static str, fn(&mut Ceremony), &'static str);
    let cases: [Case; 4] = [
        ("origin", |c| c.origin = "https://evil.test".into(), "Passkey registration failed: wrong origin"),
        ("rp id", |c| c.rp_id = "evil.test".into(), "Passkey registration failed: made for another site"),
        ("presence", |c| c.flags = UV, "Passkey registration failed: the user was not present"),
        (
            "type",
            |c| c.kind = "webauthn.get",
            "Passkey registration failed: the authenticator's answer is invalid",
        ),
    ];
    for (what, change, detail) in cases {
        let o = creation_options(&t, &alice).await;
        let mut c = Ceremony::honest(&o, ORIGIN, true);
        change(&mut c);
        let body = sw::register(&mut Credential::new(Kind::Es256), &o, &c);
        let r = t.check(post(body, &alice), 400, None).await;
        assert_eq!(r.json()["detail"], detail, "{what}");
        // The challenge is spent: the honest answer to it fails too.
        let honest = sw::register(&mut Credential::new(Kind::Es256), &o, &Ceremony::honest(&o, ORIGIN, true));
        let r = t.check(post(honest, &alice), 400, None).await;
        assert!(r.json()["detail"].as_str().unwrap().contains("challenge"), "{what}");
    }
    // An algorithm not offered.
    let o = creation_options(&t, &alice).await;
    let body = sw::register(&mut Credential::new(Kind::Es384), &o, &Ceremony::honest(&o, ORIGIN, true));
    let r = t.check(post(body, &alice), 400, None).await;
    assert_eq!(
        r.json()["detail"],
        "Passkey registration failed: the authenticator's algorithm is not supported"
    );
    // Bob's challenge, answered by Alice.
    let o = creation_options(&t, &bob).await;
    let body = sw::register(&mut Credential::new(Kind::Es256), &o, &Ceremony::honest(&o, ORIGIN, true));
    t.check(post(body, &alice), 400, None).await;
    // Expired.
    let o = creation_options(&t, &alice).await;
    t.advance(301);
    let body = sw::register(&mut Credential::new(Kind::Es256), &o, &Ceremony::honest(&o, ORIGIN, true));
    t.check(post(body, &alice), 400, None).await;
    // The same credential twice (any user): a conflict.
    let (mut cred, _) = enroll(&t, &alice, Kind::Es256).await;
    let o = creation_options(&t, &bob).await;
    let body = sw::register(&mut cred, &o, &Ceremony::honest(&o, ORIGIN, true));
    t.check(post(body, &bob), 409, Some(json!({"detail": "This passkey is already registered"}))).await;
    t.check(post(json!({"type": "public-key"}), &alice), 422, None).await;
    assert_eq!(t.check(get(KEYS).bearer(&alice), 200, None).await.json().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refused_passkeys_count_toward_the_lockout_and_resets_remove_them() {
    let t = start(&[]).await;
    t.create("root", Role::SuperAdmin);
    let token = t.user_token("alice").await;
    let (mut cred, _) = enroll(&t, &token, Kind::Es256).await;
    for _ in 0..5 {
        let c = sign_in_ceremony(&t).await;
        let mut parts = sw::assert_parts(&mut cred, &c);
        *parts.signature.last_mut().unwrap() ^= 1;
        t.check(password_less(&sw::to_json(&parts)), 401, None).await;
    }
    let c = sign_in_ceremony(&t).await;
    let r = t.check(password_less(&sw::assertion(&mut cred, &c)), 401, None).await;
    assert!(r.header("retry-after").is_some(), "locked");
    t.advance(31 * 60);
    honest(&t, &mut cred).await;
    // The admin's reset takes the passkey away.
    let admin = t.login("root").await["access_token"].as_str().unwrap().to_owned();
    let id = t.server.as_ref().unwrap().auth().user_id_by_name("alice").unwrap().unwrap();
    t.check(post_json(&format!("/api/v1/admin/users/{id}/reset-mfa"), json!({})).bearer(&admin), 200, None)
        .await;
    let c = sign_in_ceremony(&t).await;
    refused(&t, password_less(&sw::assertion(&mut cred, &c)), "after a reset").await;
    t.check(post_form("/api/v1/auth/token", &[("username", "alice"), ("password", PASSWORD)]), 200, None)
        .await;
}
