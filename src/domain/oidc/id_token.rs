//! ID tokens (OpenID Connect Core §2): who signed in, to which client, when and
//! how, signed with the client's algorithm (RS256 unless it asked otherwise).
//! `sub` is the account's numeric id, which is never reused, so it is stable and
//! never reassigned (a username could come back after an account is deleted).

use crate::crypto::jwt::Registered;
use crate::crypto::keys::Alg;
use crate::crypto::secrets::{b64url, sha256, sha512};
use serde::{Deserialize, Serialize};

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// The account's id, as a string.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Expires (seconds).
    pub exp: i64,
    /// Issued (seconds).
    pub iat: i64,
    /// When the user authenticated (seconds).
    pub auth_time: i64,
    /// The authorization request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the user authenticated.
    pub amr: Vec<String>,
    /// Authorized party: the client.
    pub azp: String,
    /// Half the hash of the access token issued with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// gatehouse's session the sign-in belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `profile`: the display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `profile`: the username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `email`: the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email`: whether it was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Registered for IdClaims {
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

/// `at_hash`: base64url of the left half of the hash of `access_token` with the
/// hash of the token's algorithm (SHA-256 for RS256/ES256; SHA-512 for EdDSA,
/// Ed25519's hash).
pub fn at_hash(alg: Alg, access_token: &str) -> String {
    match alg {
        Alg::EdDSA => b64url(&sha512(access_token.as_bytes())[..32]),
        Alg::RS256 | Alg::ES256 => b64url(&sha256(access_token.as_bytes())[..16]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_half_the_hash() {
        // OpenID Connect Core's example (A.3/A.4): access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // with RS256 has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(at_hash_sha256(token), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Alg::RS256, token), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Alg::ES256, token), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Alg::EdDSA, "x").len(), 43);
    }

    fn at_hash_sha256(t: &str) -> String {
        b64url(&sha256(t.as_bytes())[..16])
    }
}
