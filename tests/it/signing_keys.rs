//! Signing keys of every algorithm (SPEC §9, issue 14): RS256 and ES256 keys made on
//! demand beside EdDSA, published in the JWKS with kty/alg/use, verified by another
//! JWT library from the JWKS alone, and rotated (through the operator command) with
//! the same lead time and emergency withdrawal as EdDSA.

use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::crypto::jwt::Registered;
use gatehouse::domain::keys::Alg;
use gatehouse::ops::{execute, Request};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const JWKS: &str = "/.well-known/jwks.json";

/// Claims of the test's own: the keyring signs any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    iat: i64,
    exp: i64,
}

impl Registered for Claims {
    fn issuer(&self) -> &str {
        &self.iss
    }
    fn expires(&self) -> i64 {
        self.exp
    }
    fn issued_at(&self) -> i64 {
        self.iat
    }
    fn not_before(&self) -> Option<i64> {
        None
    }
}

fn header(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Verifies `token` with the `jsonwebtoken` crate, knowing nothing but the JWKS: the
/// key is found by `kid` and used with the algorithm its JWK names.
fn verify_elsewhere(jwks: &Value, token: &str, iss: &str) -> Result<Claims, String> {
    use jsonwebtoken::{jwk::KeyAlgorithm, Algorithm};
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let kid = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("kid not in JWKS")?;
    let alg = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        other => return Err(format!("unexpected JWK alg {other:?}")),
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[iss]);
    v.validate_exp = false; // the server runs on a pinned clock
    jsonwebtoken::decode::<Claims>(token, &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

/// The JWKS, as (alg, kid) pairs in the order published.
fn published(jwks: &Value) -> Vec<(String, String)> {
    let keys = jwks["keys"].as_array().unwrap();
    keys.iter()
        .map(|k| (k["alg"].as_str().unwrap().to_owned(), k["kid"].as_str().unwrap().to_owned()))
        .collect()
}

const ALGS: [Alg; 3] = [Alg::EdDSA, Alg::RS256, Alg::ES256];

#[tokio::test]
async fn every_algorithm_is_published_verified_elsewhere_and_rotated() {
    let t = TestServer::start().await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    let iss = format!("https://localhost:{}", t.client.addr.port());
    let claims = Claims { iss: iss.clone(), sub: "alice".into(), iat: T0, exp: T0 + 4 * 3600 };
    let sign = |alg| auth.keyring().sign(alg, &claims).unwrap();
    let ours = |token: &str| auth.keyring().verify::<Claims>(token, auth.clock().now_secs());
    assert_eq!(published(&t.call(get(JWKS)).await.json()).len(), 1, "EdDSA only until asked");

    // Made once, on demand; asking again (or for EdDSA) changes nothing.
    let created = auth.ensure_signing_keys(&[Alg::RS256, Alg::ES256]).unwrap();
    assert_eq!(created.iter().map(|(a, _)| *a).collect::<Vec<_>>(), [Alg::RS256, Alg::ES256]);
    assert!(auth.ensure_signing_keys(&[Alg::ES256, Alg::RS256, Alg::EdDSA]).unwrap().is_empty());
    let jwks = t.check(get(JWKS), 200, None).await.json();
    let mut members: Vec<(String, String, String)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let s = |m: &str| k[m].as_str().unwrap().to_owned();
            assert_eq!(k["use"], "sig");
            (s("alg"), s("kty"), k.get("crv").and_then(Value::as_str).unwrap_or("-").to_owned())
        })
        .collect();
    members.sort();
    let expect = [("ES256", "EC", "P-256"), ("EdDSA", "OKP", "Ed25519"), ("RS256", "RSA", "-")];
    assert_eq!(members, expect.map(|(a, k, c)| (a.into(), k.into(), c.into())));

    // A token of each algorithm verifies with nothing but the JWKS; a forgery does not.
    let first: Vec<String> = ALGS.iter().map(|a| sign(*a)).collect();
    for (alg, token) in ALGS.iter().zip(&first) {
        assert_eq!(header(token)["alg"], alg.as_str());
        assert_eq!(verify_elsewhere(&jwks, token, &iss).unwrap(), claims, "{alg}");
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD
            .encode(json!({"iss": iss, "sub": "admin", "iat": T0, "exp": T0 + 60}).to_string());
        parts[1] = &forged;
        assert!(verify_elsewhere(&jwks, &parts.join("."), &iss).is_err(), "{alg}");
    }
    // The tutorial API's own tokens stay EdDSA.
    let api = t.user_token("bob").await;
    assert_eq!(header(&api)["alg"], "EdDSA");
    assert_eq!(header(&api)["kid"], header(&first[0])["kid"]);

    // `keys rotate` renews every algorithm: published now, signing after the lead time.
    let r = execute(&auth, Request::KeysRotate { emergency: false, lead_minutes: 60 });
    assert!(r.ok, "{}", r.message);
    let new: Vec<(String, String)> = r.data["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["alg"].as_str().unwrap().to_owned(), k["kid"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(new.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["EdDSA", "RS256", "ES256"]);
    let jwks = t.call(get(JWKS)).await.json();
    assert_eq!(published(&jwks).len(), 6);
    for (alg, kid) in &new {
        assert!(published(&jwks).contains(&(alg.clone(), kid.clone())), "{alg} {kid} pre-published");
    }
    for (alg, token) in ALGS.iter().zip(&first) {
        assert_eq!(
            header(&sign(*alg))["kid"],
            header(token)["kid"],
            "{alg}: the old key signs within the lead"
        );
    }
    let list = execute(&auth, Request::KeysList);
    assert!(list.message.lines().next().unwrap().contains(" ALG "), "{}", list.message);
    let rows: Vec<(&str, &str)> = list
        .data
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["alg"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    for alg in ALGS {
        let of = |state| rows.iter().filter(|(a, s)| *a == alg.as_str() && *s == state).count();
        assert_eq!((of("active"), of("pending")), (1, 1), "{alg}: {rows:?}");
    }

    t.advance(3600);
    let jwks = t.call(get(JWKS)).await.json();
    for ((alg, token), (_, new_kid)) in ALGS.iter().zip(&first).zip(&new) {
        let fresh = sign(*alg);
        assert_eq!(header(&fresh)["kid"], new_kid.as_str(), "{alg}: the new key signs after the lead");
        assert!(verify_elsewhere(&jwks, &fresh, &iss).is_ok(), "{alg}");
        // The retired key is still published and still verifies its tokens.
        assert!(verify_elsewhere(&jwks, token, &iss).is_ok(), "{alg} retired");
        assert!(ours(token).is_ok(), "{alg} retired");
    }

    // Emergency: a new key of every algorithm signs at once; every older key of every
    // algorithm leaves the JWKS and its tokens stop verifying.
    let before: Vec<String> = ALGS.iter().map(|a| sign(*a)).collect();
    let r = execute(&auth, Request::KeysRotate { emergency: true, lead_minutes: 60 });
    assert!(r.ok, "{}", r.message);
    let third: Vec<String> =
        r.data["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    let jwks = t.call(get(JWKS)).await.json();
    let mut kids: Vec<String> = published(&jwks).into_iter().map(|(_, kid)| kid).collect();
    kids.sort();
    let mut expected = third.clone();
    expected.sort();
    assert_eq!(kids, expected);
    for token in first.iter().chain(&before) {
        assert_eq!(verify_elsewhere(&jwks, token, &iss), Err("kid not in JWKS".into()));
        assert!(ours(token).is_err());
    }
    for (alg, kid) in ALGS.iter().zip(&third) {
        let fresh = sign(*alg);
        assert_eq!(header(&fresh)["kid"], kid.as_str());
        assert!(verify_elsewhere(&jwks, &fresh, &iss).is_ok() && ours(&fresh).is_ok(), "{alg}");
    }
    let list = auth.list_signing_keys().unwrap();
    assert_eq!(list.iter().filter(|k| k.state == "revoked").count(), 6, "{list:?}");
    t.check(get("/api/v1/users/me").bearer(&api), 401, None).await;
}

#[tokio::test]
async fn keys_made_on_demand_are_stored_and_survive_a_restart() {
    let mut t = TestServer::start().await;
    let auth = t.server.as_ref().unwrap().auth().clone();
    let created = auth.ensure_signing_keys(&[Alg::ES256, Alg::RS256, Alg::ES256]).unwrap();
    assert_eq!(created.len(), 2, "each algorithm once: {created:?}");
    let kids =
        |auth: &gatehouse::domain::Auth| ALGS.map(|a| auth.keyring().active_kid(a).unwrap().to_owned());
    let before = kids(&auth);
    t.server.take().unwrap().shutdown().await;
    drop(auth);
    let server =
        gatehouse::app::start(config(&t.dir.path().join("data"), &[]), t.clock.clone()).await.unwrap();
    assert_eq!(kids(server.auth()), before);
    assert!(server.auth().ensure_signing_keys(&[Alg::RS256, Alg::ES256]).unwrap().is_empty());
    let list = server.auth().list_signing_keys().unwrap();
    let algs: Vec<(Alg, &str)> = list.iter().map(|k| (k.alg, k.state)).collect();
    assert_eq!(algs, [(Alg::EdDSA, "active"), (Alg::RS256, "active"), (Alg::ES256, "active")]);
    server.shutdown().await;
}
