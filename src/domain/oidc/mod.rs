//! The OpenID Provider (SPEC §9): gatehouse signs people in to other tools with the
//! authorization-code flow, on the same accounts, sessions, keys and pages as its
//! own API.
//!
//! - [`clients`]: the registered relying parties and their secrets;
//! - [`browser`]: the signed-in browser, recognised by its session cookie;
//! - [`authorize`]: checking an authorization request and deciding what happens
//!   (sign in, consent, a code, or an error for the client);
//! - [`exchange`]: the token endpoint's grants for clients (code, refresh);
//! - [`id_token`], [`userinfo`]: what a client learns about the user;
//! - [`logout`]: RP-initiated logout;
//! - [`consent`]: what users allowed, and withdrawing it.
//!
//! Nothing here knows HTTP: requests arrive as plain strings, outcomes leave as
//! values the server renders (a redirect, a page, a JSON body).

pub mod authorize;
pub mod browser;
pub mod clients;
pub mod consent;
pub mod exchange;
pub mod id_token;
pub mod logout;
pub mod redirect_uri;
pub mod userinfo;

/// How long an authorization code may wait to be exchanged.
pub const CODE_TTL_SECS: i64 = 60;

/// The error codes of RFC 6749 (§4.1.2.1 for the authorization endpoint, §5.2 for
/// the token endpoint), OpenID Connect Core §3.1.2.6 and RFC 7009 §2.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// A parameter is missing, repeated, malformed or not allowed.
    InvalidRequest,
    /// Client authentication failed (401 at the token endpoint).
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, or not this client's.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// The scope is unknown or not allowed.
    InvalidScope,
    /// The user (or a rule about the user) refused.
    AccessDenied,
    /// `prompt=none`, and the user must sign in.
    LoginRequired,
    /// `prompt=none`, and the user must consent.
    ConsentRequired,
    /// The token type (hint) is not one this server revokes (RFC 7009).
    UnsupportedTokenType,
}

impl OAuthCode {
    /// The code as the RFCs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::AccessDenied => "access_denied",
            OAuthCode::LoginRequired => "login_required",
            OAuthCode::ConsentRequired => "consent_required",
            OAuthCode::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

/// `true` when `scopes` (space-separated or a list) includes `scope`.
pub(crate) fn has_scope(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope)
}
