//! JSON Web Tokens signed with Ed25519 (RFC 7519 + RFC 8037, `alg: "EdDSA"`).
//!
//! Verification is deliberately narrow: exactly three base64url segments, a header whose
//! `alg` is `EdDSA` and whose `kid` names a key in the [`Keyring`], a valid signature,
//! then the claims' `iss` and `exp`. Anything else (`alg: none`, HS256 keyed with the
//! public key, unknown `crit` extensions, oversized input) is refused before or instead
//! of any signature work. What the claims *mean* (access vs refresh, revocation) is
//! decided by the domain, not here.

use super::secrets::{b64url, b64url_decode, sha256};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Tokens longer than this are refused unparsed (a real one is about 600 bytes).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Which kind of token the claims describe (`type` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Short-lived bearer token.
    Access,
    /// Long-lived token exchanged at /auth/refresh, tracked server-side.
    Refresh,
}

/// The claims gatehouse issues. Unknown claims in a presented token are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Username.
    pub sub: String,
    /// Numeric user id.
    pub uid: u64,
    /// Access or refresh.
    #[serde(rename = "type")]
    pub kind: TokenKind,
    /// Unique token id.
    pub jti: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Role at issue time (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Granted OAuth2 scopes (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The user's token version at issue time (access tokens); a token whose `ver`
    /// differs from the stored one has been revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<u32>,
    /// The session (refresh family) an access token belongs to; revoking the
    /// session revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
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
    /// `alg` other than EdDSA, or a `crit` header.
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
    /// `iss` is not this server.
    #[error("wrong issuer")]
    Issuer,
    /// Signing failed (should not happen with a valid key).
    #[error("signing failed")]
    Signing,
}

/// Errors building a key from stored bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PKCS#8 document is not an Ed25519 key.
    #[error("stored signing key is not a valid Ed25519 PKCS#8 document")]
    Invalid,
    /// The system random source failed.
    #[error("could not generate a signing key")]
    Random,
}

/// A new Ed25519 private key as PKCS#8 v2 DER.
pub fn generate_pkcs8() -> Result<Vec<u8>, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|_| KeyError::Random)
}

/// The public half of a stored PKCS#8 key.
pub fn public_key(pkcs8: &[u8]) -> Result<PublicKey, KeyError> {
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::Invalid)?;
    let bytes = pair.public_key().as_ref().to_vec();
    Ok(PublicKey { kid: key_id(&bytes), bytes })
}

/// Key id of a public key: base64url of the first 12 bytes of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    b64url(&sha256(public_key)[..12])
}

/// Public half of a signing key, for JWKS and verification.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Key id.
    pub kid: String,
    /// Raw 32-byte Ed25519 public key.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.kid)
    }
}

/// The active signing key and every public key still accepted.
pub struct Keyring {
    signer: Ed25519KeyPair,
    signer_kid: String,
    verifiers: HashMap<String, Vec<u8>>,
    issuer: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("signer_kid", &self.signer_kid)
            .field("verifiers", &self.verifiers.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl Keyring {
    /// Builds a keyring that signs with `active_pkcs8` and also accepts `others`.
    pub fn new(active_pkcs8: &[u8], others: &[PublicKey], issuer: &str) -> Result<Self, KeyError> {
        let signer = Ed25519KeyPair::from_pkcs8(active_pkcs8).map_err(|_| KeyError::Invalid)?;
        let public = signer.public_key().as_ref().to_vec();
        let signer_kid = key_id(&public);
        let mut verifiers: HashMap<String, Vec<u8>> =
            others.iter().map(|k| (k.kid.clone(), k.bytes.clone())).collect();
        verifiers.insert(signer_kid.clone(), public);
        Ok(Self { signer, signer_kid, verifiers, issuer: issuer.to_owned() })
    }

    /// The issuer written into and required of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Id of the key that signs new tokens.
    pub fn active_kid(&self) -> &str {
        &self.signer_kid
    }

    /// Every accepted public key.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = self
            .verifiers
            .iter()
            .map(|(kid, bytes)| PublicKey { kid: kid.clone(), bytes: bytes.clone() })
            .collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        keys
    }

    /// Signs `claims` with the active key.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(self.signer_kid.clone()),
            crit: None,
        };
        let h = serde_json::to_vec(&header).map_err(|_| TokenError::Signing)?;
        let c = serde_json::to_vec(claims).map_err(|_| TokenError::Signing)?;
        let mut token = format!("{}.{}", b64url(&h), b64url(&c));
        let sig = self.signer.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64url(sig.as_ref()));
        Ok(token)
    }

    /// Verifies signature, algorithm, key id, issuer and expiry, and returns the claims.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, TokenError> {
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
        if header.alg != "EdDSA" || header.crit.is_some() {
            return Err(TokenError::Algorithm);
        }
        let key =
            header.kid.as_deref().and_then(|kid| self.verifiers.get(kid)).ok_or(TokenError::UnknownKey)?;
        let sig = b64url_decode(s64).ok_or(TokenError::Malformed)?;
        let signed_len = h64.len() + 1 + c64.len();
        let signed = token.get(..signed_len).ok_or(TokenError::Malformed)?;
        UnparsedPublicKey::new(&ED25519, key)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims =
            b64url_decode(c64).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)?;
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer);
        }
        if claims.exp <= now_secs {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn ring_with_key() -> (Keyring, Vec<u8>) {
        let pkcs8 = generate_pkcs8().unwrap();
        (Keyring::new(&pkcs8, &[], "gatehouse-test").unwrap(), pkcs8)
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            uid: 7,
            kind: TokenKind::Access,
            jti: "j-1".into(),
            iat: NOW,
            exp: NOW + 1800,
            iss: "gatehouse-test".into(),
            role: Some("user".into()),
            scopes: Some(vec!["profile:read".into()]),
            ver: Some(0),
            sid: Some("s-1".into()),
        }
    }

    fn segments(t: &str) -> Vec<String> {
        t.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn round_trip_and_header() {
        let (k, _) = ring_with_key();
        let t = k.sign(&claims()).unwrap();
        assert_eq!(k.verify(&t, NOW).unwrap(), claims());
        let header: serde_json::Value =
            serde_json::from_slice(&b64url_decode(&segments(&t)[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], k.active_kid());
    }

    #[test]
    fn tampered_payload_is_refused() {
        let (k, _) = ring_with_key();
        let t = k.sign(&claims()).unwrap();
        let s = segments(&t);
        let mut c = claims();
        c.role = Some("super_admin".into());
        let forged = format!("{}.{}.{}", s[0], b64url(&serde_json::to_vec(&c).unwrap()), s[2]);
        assert_eq!(k.verify(&forged, NOW), Err(TokenError::Signature));
    }

    #[test]
    fn tampered_signature_is_refused() {
        let (k, _) = ring_with_key();
        let t = k.sign(&claims()).unwrap();
        let mut bytes = t.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(bytes).unwrap();
        assert!(matches!(k.verify(&t, NOW), Err(TokenError::Signature | TokenError::Malformed)));
    }

    #[test]
    fn alg_none_and_hs256_are_refused() {
        let (k, _) = ring_with_key();
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        let none = b64url(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(k.verify(&format!("{none}.{body}."), NOW), Err(TokenError::Algorithm));
        // HS256 "signed" with the public key bytes: the classic key-confusion attack.
        let kid = k.active_kid().to_owned();
        let hs = b64url(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
        let signing_input = format!("{hs}.{body}");
        let pk = &k.public_keys()[0].bytes;
        let mac =
            ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pk), signing_input.as_bytes());
        let t = format!("{signing_input}.{}", b64url(mac.as_ref()));
        assert_eq!(k.verify(&t, NOW), Err(TokenError::Algorithm));
    }

    #[test]
    fn unknown_kid_and_other_key_are_refused() {
        let (k1, _) = ring_with_key();
        let (k2, _) = ring_with_key();
        let t = k2.sign(&claims()).unwrap();
        assert_eq!(k1.verify(&t, NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn retired_key_still_verifies_when_listed() {
        let (old, _) = ring_with_key();
        let t = old.sign(&claims()).unwrap();
        let pkcs8 = generate_pkcs8().unwrap();
        let newer = Keyring::new(&pkcs8, &old.public_keys(), "gatehouse-test").unwrap();
        assert_eq!(newer.verify(&t, NOW).unwrap().sub, "alice");
    }

    #[test]
    fn expiry_is_exclusive() {
        let (k, _) = ring_with_key();
        let t = k.sign(&claims()).unwrap();
        assert!(k.verify(&t, NOW + 1799).is_ok());
        assert_eq!(k.verify(&t, NOW + 1800), Err(TokenError::Expired));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let (k, pkcs8) = ring_with_key();
        let t = k.sign(&claims()).unwrap();
        let other = Keyring::new(&pkcs8, &[], "someone-else").unwrap();
        assert_eq!(other.verify(&t, NOW), Err(TokenError::Issuer));
    }

    #[test]
    fn malformed_inputs() {
        let (k, _) = ring_with_key();
        for bad in ["", ".", "..", "a.b.c", "a.b.c.d", "eyJ.eyJ.", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert!(k.verify(bad, NOW).is_err(), "{bad:.20}");
        }
        let t = k.sign(&claims()).unwrap();
        assert_eq!(k.verify(&format!("{t}.x"), NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn crit_header_is_refused() {
        let (k, _) = ring_with_key();
        let kid = k.active_kid().to_owned();
        let h = b64url(format!(r#"{{"alg":"EdDSA","kid":"{kid}","crit":["exp"]}}"#).as_bytes());
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        assert_eq!(k.verify(&format!("{h}.{body}.AAAA"), NOW), Err(TokenError::Algorithm));
    }
}
