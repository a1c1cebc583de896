//! The claims gatehouse puts in the tokens it issues, and how it reads them back.
//! Signing and verifying is `crypto::jwt`'s (for any claims type); what the claims
//! mean (access vs refresh, revocation, who) is decided here and in `sessions.rs`.

use crate::crypto::jwt::Registered;
use serde::{Deserialize, Serialize};

/// Which kind of token the claims describe (`type` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Short-lived bearer token.
    Access,
    /// Long-lived token exchanged at /auth/refresh, tracked server-side.
    Refresh,
    /// Ten-minute token that only lets its holder enroll a second factor (see
    /// `mfa::policy`).
    Enroll,
}

/// The claims of gatehouse's access and refresh tokens (SPEC §2). Unknown claims in
/// a presented token are ignored; optional ones are left out when absent.
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
    /// Not valid before (seconds). gatehouse never sets it, but a presented token
    /// that carries it is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expires at (seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience: the client an access token was issued to (absent for the API's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
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
    /// How the user authenticated (RFC 8176 values: `pwd`, `otp`, `hwk`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
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
