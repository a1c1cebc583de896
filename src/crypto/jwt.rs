//! JSON Web Tokens (RFC 7519, JWS compact form) signed by the keys of a [`Keyring`],
//! for any claims type.
//!
//! Verification is deliberately narrow: exactly three base64url segments, a header
//! whose `alg` is one the keyring knows and whose `kid` names a key *of that
//! algorithm* (a key is never used with another algorithm), no `crit`, a valid
//! signature, then the registered claims ([`Registered`]): `iss` is ours, `exp` is
//! in the future, and neither `nbf` nor `iat` lies later than now (beyond
//! [`CLOCK_LEEWAY_SECS`] of clock skew). Anything else (`alg: none`, HS256 keyed
//! with a public key, oversized input) is refused before or instead of any
//! signature work. What the other claims *mean* is decided by the domain.

use super::keys::{Alg, KeyError, PublicKey, Signer};
use super::secrets::{b64url, b64url_decode};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Tokens longer than this are refused unparsed (a real one is about 600 bytes).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How far a token's `nbf` or `iat` may lie in the future before it is refused:
/// room for clocks that differ by a little (RFC 7519 §4.1.5 allows "some small
/// leeway"), not for a token minted with a clock an hour ahead.
pub const CLOCK_LEEWAY_SECS: i64 = 60;

/// The registered claims every verified token must carry, read from any claims type.
pub trait Registered {
    /// `iss`.
    fn issuer(&self) -> &str;
    /// `exp` (seconds).
    fn expires(&self) -> i64;
    /// `iat` (seconds).
    fn issued_at(&self) -> i64;
    /// `nbf` (seconds), when present.
    fn not_before(&self) -> Option<i64>;
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

/// Why a token was refused. The HTTP layer maps all of these to one 401; the
/// distinction is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url segments of JSON, too long, or missing claims.
    #[error("malformed token")]
    Malformed,
    /// An `alg` the keyring does not sign with, one that differs from the key's, or
    /// a `crit` header.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// `kid` missing or not one of ours.
    #[error("unknown signing key")]
    UnknownKey,
    /// Signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is later than now (beyond the clock leeway): not valid yet,
    /// or minted by a clock that is wrong.
    #[error("token not valid yet")]
    NotYetValid,
    /// `iss` is not this server.
    #[error("wrong issuer")]
    Issuer,
    /// No active key for the requested algorithm, or the claims did not encode.
    #[error("signing failed")]
    Signing,
}

/// The keys that sign new tokens (one per algorithm) and every public key still
/// accepted, by key id.
pub struct Keyring {
    signers: HashMap<Alg, (String, Signer)>,
    verifiers: HashMap<String, PublicKey>,
    issuer: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signing: Vec<(&str, &str)> =
            self.signers.iter().map(|(a, (kid, _))| (a.as_str(), kid.as_str())).collect();
        f.debug_struct("Keyring")
            .field("signing", &signing)
            .field("verifiers", &self.verifiers.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl Keyring {
    /// A keyring that signs with `active` (at most one PKCS#8 key per algorithm)
    /// and also accepts `others`.
    pub fn new(issuer: &str, active: &[(Alg, &[u8])], others: &[PublicKey]) -> Result<Self, KeyError> {
        let mut verifiers: HashMap<String, PublicKey> =
            others.iter().map(|k| (k.kid.clone(), k.clone())).collect();
        let mut signers = HashMap::new();
        for (alg, pkcs8) in active {
            let signer = Signer::load(*alg, pkcs8)?;
            let public = signer.public();
            signers.insert(*alg, (public.kid.clone(), signer));
            verifiers.insert(public.kid.clone(), public);
        }
        Ok(Self { signers, verifiers, issuer: issuer.to_owned() })
    }

    /// The issuer written into and required of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Id of the key that signs new `alg` tokens.
    pub fn active_kid(&self, alg: Alg) -> Option<&str> {
        self.signers.get(&alg).map(|(kid, _)| kid.as_str())
    }

    /// Every accepted public key, by key id.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = self.verifiers.values().cloned().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        keys
    }

    /// Signs `claims` with the active `alg` key (header `alg`, `typ: "JWT"`, `kid`).
    pub fn sign<C: Serialize>(&self, alg: Alg, claims: &C) -> Result<String, TokenError> {
        let (kid, signer) = self.signers.get(&alg).ok_or(TokenError::Signing)?;
        let header =
            Header { alg: alg.as_str().into(), typ: Some("JWT".into()), kid: Some(kid.clone()), crit: None };
        let h = serde_json::to_vec(&header).map_err(|_| TokenError::Signing)?;
        let c = serde_json::to_vec(claims).map_err(|_| TokenError::Signing)?;
        let mut token = format!("{}.{}", b64url(&h), b64url(&c));
        let sig = signer.sign(token.as_bytes()).map_err(|_| TokenError::Signing)?;
        token.push('.');
        token.push_str(&b64url(&sig));
        Ok(token)
    }

    /// Verifies the header, the signature and the registered claims, and returns
    /// the claims.
    pub fn verify<C: DeserializeOwned + Registered>(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<C, TokenError> {
        let claims: C = self.verify_unchecked_times(token)?;
        check_times(&claims, &self.issuer, now_secs)?;
        Ok(claims)
    }
}

impl Keyring {
    /// Like [`Keyring::verify`], but a token past its `exp` (or before its `nbf`)
    /// is still accepted: for a hint of who someone was (an OpenID `id_token_hint`),
    /// never as a credential.
    pub fn verify_expired_ok<C: DeserializeOwned + Registered>(&self, token: &str) -> Result<C, TokenError> {
        let claims: C = self.verify_unchecked_times(token)?;
        if claims.issuer() != self.issuer {
            return Err(TokenError::Issuer);
        }
        Ok(claims)
    }

    /// The header (alg, kid, no `crit`) and the signature, then the claims decoded;
    /// the times are the caller's to check.
    fn verify_unchecked_times<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(c64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header =
            b64url_decode(h64).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)?;
        let alg = Alg::parse(&header.alg).ok_or(TokenError::Algorithm)?;
        if header.crit.is_some() {
            return Err(TokenError::Algorithm);
        }
        let key =
            header.kid.as_deref().and_then(|kid| self.verifiers.get(kid)).ok_or(TokenError::UnknownKey)?;
        if key.alg != alg {
            return Err(TokenError::Algorithm);
        }
        let sig = b64url_decode(s64).ok_or(TokenError::Malformed)?;
        let signed = token.get(..h64.len() + 1 + c64.len()).ok_or(TokenError::Malformed)?;
        verify_signature(key, signed.as_bytes(), &sig)?;
        b64url_decode(c64).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)
    }
}

fn verify_signature(key: &PublicKey, message: &[u8], sig: &[u8]) -> Result<(), TokenError> {
    // The key's own algorithm, never the header's: `verify` has already refused a
    // header that names another.
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match key.alg {
        Alg::EdDSA => &ED25519,
        Alg::RS256 => &RSA_PKCS1_2048_8192_SHA256,
        Alg::ES256 => &ECDSA_P256_SHA256_FIXED,
    };
    UnparsedPublicKey::new(algorithm, &key.bytes).verify(message, sig).map_err(|_| TokenError::Signature)
}

fn check_times(c: &impl Registered, issuer: &str, now_secs: i64) -> Result<(), TokenError> {
    if c.issuer() != issuer {
        return Err(TokenError::Issuer);
    }
    if c.expires() <= now_secs {
        return Err(TokenError::Expired);
    }
    let latest = now_secs.saturating_add(CLOCK_LEEWAY_SECS);
    if c.issued_at() > latest || c.not_before().is_some_and(|nbf| nbf > latest) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::generate;

    const NOW: i64 = 1_800_000_000;

    /// A claims type of the test's own: the keyring signs and verifies any.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        role: Option<String>,
        iat: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nbf: Option<i64>,
        exp: i64,
        iss: String,
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
            self.nbf
        }
    }

    fn ring_with_key() -> (Keyring, Vec<u8>) {
        let pkcs8 = generate(Alg::EdDSA).unwrap();
        (Keyring::new("gatehouse-test", &[(Alg::EdDSA, &pkcs8)], &[]).unwrap(), pkcs8)
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            role: Some("user".into()),
            iat: NOW,
            nbf: None,
            exp: NOW + 1800,
            iss: "gatehouse-test".into(),
        }
    }

    fn segments(t: &str) -> Vec<String> {
        t.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn round_trip_and_header() {
        let (k, _) = ring_with_key();
        let t = k.sign(Alg::EdDSA, &claims()).unwrap();
        assert_eq!(k.verify::<Claims>(&t, NOW).unwrap(), claims());
        let header: serde_json::Value =
            serde_json::from_slice(&b64url_decode(&segments(&t)[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], k.active_kid(Alg::EdDSA).unwrap());
    }

    #[test]
    fn tampered_payload_is_refused() {
        let (k, _) = ring_with_key();
        let t = k.sign(Alg::EdDSA, &claims()).unwrap();
        let s = segments(&t);
        let mut c = claims();
        c.role = Some("super_admin".into());
        let forged = format!("{}.{}.{}", s[0], b64url(&serde_json::to_vec(&c).unwrap()), s[2]);
        assert_eq!(k.verify::<Claims>(&forged, NOW), Err(TokenError::Signature));
    }

    #[test]
    fn tampered_signature_is_refused() {
        let (k, _) = ring_with_key();
        let t = k.sign(Alg::EdDSA, &claims()).unwrap();
        let mut bytes = t.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(bytes).unwrap();
        assert!(matches!(k.verify::<Claims>(&t, NOW), Err(TokenError::Signature | TokenError::Malformed)));
    }

    #[test]
    fn alg_none_and_hs256_are_refused() {
        let (k, _) = ring_with_key();
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        let none = b64url(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(k.verify::<Claims>(&format!("{none}.{body}."), NOW), Err(TokenError::Algorithm));
        // HS256 "signed" with the public key bytes: the classic key-confusion attack.
        let kid = k.active_kid(Alg::EdDSA).unwrap().to_owned();
        let hs = b64url(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
        let signing_input = format!("{hs}.{body}");
        let pk = &k.public_keys()[0].bytes;
        let mac =
            ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pk), signing_input.as_bytes());
        let t = format!("{signing_input}.{}", b64url(mac.as_ref()));
        assert_eq!(k.verify::<Claims>(&t, NOW), Err(TokenError::Algorithm));
    }

    #[test]
    fn unknown_kid_and_other_key_are_refused() {
        let (k1, _) = ring_with_key();
        let (k2, _) = ring_with_key();
        let t = k2.sign(Alg::EdDSA, &claims()).unwrap();
        assert_eq!(k1.verify::<Claims>(&t, NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn retired_key_still_verifies_when_listed() {
        let (old, _) = ring_with_key();
        let t = old.sign(Alg::EdDSA, &claims()).unwrap();
        let pkcs8 = generate(Alg::EdDSA).unwrap();
        let newer = Keyring::new("gatehouse-test", &[(Alg::EdDSA, &pkcs8)], &old.public_keys()).unwrap();
        assert_eq!(newer.verify::<Claims>(&t, NOW).unwrap().sub, "alice");
    }

    #[test]
    fn expiry_is_exclusive() {
        let (k, _) = ring_with_key();
        let t = k.sign(Alg::EdDSA, &claims()).unwrap();
        assert!(k.verify::<Claims>(&t, NOW + 1799).is_ok());
        assert_eq!(k.verify::<Claims>(&t, NOW + 1800), Err(TokenError::Expired));
    }

    #[test]
    fn future_nbf_and_iat_are_refused_beyond_the_leeway() {
        let (k, _) = ring_with_key();
        let at = |c: &Claims, now| k.verify::<Claims>(&k.sign(Alg::EdDSA, c).unwrap(), now);
        let mut c = claims();
        c.nbf = Some(NOW + 3600);
        c.exp = NOW + 7200;
        assert_eq!(at(&c, NOW), Err(TokenError::NotYetValid));
        assert!(at(&c, NOW + 3600 - CLOCK_LEEWAY_SECS).is_ok(), "valid from nbf, less the leeway");
        c.nbf = Some(NOW + CLOCK_LEEWAY_SECS);
        assert!(at(&c, NOW).is_ok(), "a small skew is tolerated");
        c.nbf = Some(NOW + CLOCK_LEEWAY_SECS + 1);
        assert_eq!(at(&c, NOW), Err(TokenError::NotYetValid));
        let mut c = claims();
        c.iat = NOW + 3600;
        c.exp = NOW + 7200;
        assert_eq!(at(&c, NOW), Err(TokenError::NotYetValid));
        c.iat = NOW + CLOCK_LEEWAY_SECS;
        assert!(at(&c, NOW).is_ok());
        // nbf is read from the wire even though gatehouse never writes it.
        let mut c = claims();
        c.nbf = Some(NOW - 10);
        assert_eq!(at(&c, NOW).unwrap().nbf, Some(NOW - 10));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let (k, pkcs8) = ring_with_key();
        let t = k.sign(Alg::EdDSA, &claims()).unwrap();
        let other = Keyring::new("someone-else", &[(Alg::EdDSA, &pkcs8)], &[]).unwrap();
        assert_eq!(other.verify::<Claims>(&t, NOW), Err(TokenError::Issuer));
    }

    #[test]
    fn malformed_inputs() {
        let (k, _) = ring_with_key();
        for bad in ["", ".", "..", "a.b.c", "a.b.c.d", "eyJ.eyJ.", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert!(k.verify::<Claims>(bad, NOW).is_err(), "{bad:.20}");
        }
        let t = k.sign(Alg::EdDSA, &claims()).unwrap();
        assert_eq!(k.verify::<Claims>(&format!("{t}.x"), NOW), Err(TokenError::Malformed));
    }

    /// One PKCS#8 key of each algorithm, generated once (RSA takes a while).
    fn pkcs8_of(alg: Alg) -> &'static [u8] {
        static KEYS: std::sync::OnceLock<Vec<(Alg, Vec<u8>)>> = std::sync::OnceLock::new();
        let keys = KEYS.get_or_init(|| Alg::ALL.iter().map(|a| (*a, generate(*a).unwrap())).collect());
        keys.iter().find(|(a, _)| *a == alg).map(|(_, k)| k.as_slice()).unwrap()
    }

    /// A keyring signing with a key of every algorithm.
    fn ring_with_all() -> Keyring {
        let active: Vec<(Alg, &[u8])> = Alg::ALL.iter().map(|a| (*a, pkcs8_of(*a))).collect();
        Keyring::new("gatehouse-test", &active, &[]).unwrap()
    }

    /// A token with exactly this header, signed by the `by` key whatever the header says.
    fn signed_as(header: &str, by: Alg) -> String {
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        let input = format!("{}.{body}", b64url(header.as_bytes()));
        let sig = Signer::load(by, pkcs8_of(by)).unwrap().sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(&sig))
    }

    #[test]
    fn every_algorithm_round_trips_with_its_own_key() {
        let k = ring_with_all();
        for (alg, sig_len) in [(Alg::EdDSA, 64), (Alg::RS256, 256), (Alg::ES256, 64)] {
            let t = k.sign(alg, &claims()).unwrap();
            assert_eq!(k.verify::<Claims>(&t, NOW).unwrap(), claims(), "{alg}");
            let s = segments(&t);
            let header: serde_json::Value = serde_json::from_slice(&b64url_decode(&s[0]).unwrap()).unwrap();
            assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some(alg.as_str()), Some("JWT")));
            assert_eq!(header["kid"], k.active_kid(alg).unwrap());
            assert_eq!(b64url_decode(&s[2]).unwrap().len(), sig_len, "{alg}");
        }
        let kids: std::collections::HashSet<&str> =
            Alg::ALL.iter().filter_map(|a| k.active_kid(*a)).collect();
        assert_eq!(kids.len(), 3);
        assert_eq!(k.public_keys().len(), 3);
    }

    #[test]
    fn tampering_is_refused_for_every_algorithm() {
        let k = ring_with_all();
        for alg in Alg::ALL {
            let s = segments(&k.sign(alg, &claims()).unwrap());
            let mut c = claims();
            c.role = Some("super_admin".into());
            let forged = format!("{}.{}.{}", s[0], b64url(&serde_json::to_vec(&c).unwrap()), s[2]);
            assert_eq!(k.verify::<Claims>(&forged, NOW), Err(TokenError::Signature), "{alg} payload");
            let mut sig = b64url_decode(&s[2]).unwrap();
            let middle = sig.len() / 2;
            sig[middle] ^= 1;
            for bad in [sig.clone(), sig[..sig.len() - 1].to_vec(), Vec::new()] {
                let t = format!("{}.{}.{}", s[0], s[1], b64url(&bad));
                assert_eq!(k.verify::<Claims>(&t, NOW), Err(TokenError::Signature), "{alg} signature");
            }
        }
    }

    #[test]
    fn a_key_verifies_only_with_its_own_algorithm() {
        let k = ring_with_all();
        for key_alg in Alg::ALL {
            let kid = k.active_kid(key_alg).unwrap();
            let own = format!(r#"{{"alg":"{key_alg}","kid":"{kid}"}}"#);
            assert!(k.verify::<Claims>(&signed_as(&own, key_alg), NOW).is_ok(), "{key_alg}");
            for header_alg in Alg::ALL.into_iter().filter(|a| *a != key_alg) {
                let header = format!(r#"{{"alg":"{header_alg}","typ":"JWT","kid":"{kid}"}}"#);
                // Signed as the header says, by another algorithm's key, naming this kid...
                let t = signed_as(&header, header_alg);
                assert_eq!(
                    k.verify::<Claims>(&t, NOW),
                    Err(TokenError::Algorithm),
                    "{header_alg} on {key_alg}"
                );
                // ...or by the named key itself under another algorithm's name.
                let t = signed_as(&header, key_alg);
                assert_eq!(
                    k.verify::<Claims>(&t, NOW),
                    Err(TokenError::Algorithm),
                    "{header_alg} on {key_alg}"
                );
            }
        }
    }

    #[test]
    fn hs256_keyed_with_any_public_key_is_refused() {
        let k = ring_with_all();
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        for public in k.public_keys() {
            let kid = &public.kid;
            let jwk = serde_json::to_vec(&public.jwk()).unwrap();
            for alg in ["HS256", "HS384", "HS512"] {
                // The public key as ring holds it (RSA: the DER), and its JWK.
                for secret in [public.bytes.as_slice(), jwk.as_slice()] {
                    let h = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
                    let input = format!("{h}.{body}");
                    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                    let mac = ring::hmac::sign(&key, input.as_bytes());
                    let t = format!("{input}.{}", b64url(mac.as_ref()));
                    assert_eq!(
                        k.verify::<Claims>(&t, NOW),
                        Err(TokenError::Algorithm),
                        "{alg} with {public:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn another_library_verifies_every_algorithm_from_the_jwk_alone() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let k = ring_with_all();
        for (alg, theirs) in
            [(Alg::EdDSA, Algorithm::EdDSA), (Alg::RS256, Algorithm::RS256), (Alg::ES256, Algorithm::ES256)]
        {
            let token = k.sign(alg, &claims()).unwrap();
            let public = k.public_keys().into_iter().find(|p| p.alg == alg).unwrap();
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(serde_json::to_value(public.jwk()).unwrap()).unwrap();
            let key = DecodingKey::from_jwk(&jwk).unwrap();
            let mut v = Validation::new(theirs);
            v.set_issuer(&["gatehouse-test"]);
            v.validate_exp = false;
            assert_eq!(jsonwebtoken::decode::<Claims>(&token, &key, &v).unwrap().claims, claims(), "{alg}");
            let s = segments(&token);
            let forged = format!(
                "{}.{}.{}",
                s[0],
                b64url(br#"{"sub":"admin","iss":"gatehouse-test","exp":1,"iat":1}"#),
                s[2]
            );
            assert!(jsonwebtoken::decode::<Claims>(&forged, &key, &v).is_err(), "{alg}");
        }
    }

    #[test]
    fn crit_header_is_refused() {
        let (k, _) = ring_with_key();
        let kid = k.active_kid(Alg::EdDSA).unwrap().to_owned();
        let h = b64url(format!(r#"{{"alg":"EdDSA","kid":"{kid}","crit":["exp"]}}"#).as_bytes());
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        assert_eq!(k.verify::<Claims>(&format!("{h}.{body}.AAAA"), NOW), Err(TokenError::Algorithm));
    }
}
