//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims an access token's
//! scopes allow. The token is checked exactly as every API request's is
//! (revocation included), and must carry `openid`.

use super::authorize::secs;
use super::has_scope;
use crate::domain::access::Principal;
use crate::domain::Error;
use serde::Serialize;

/// UserInfo claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// The account's id (the ID token's `sub`).
    pub sub: String,
    /// `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `profile`: the username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `profile`: last change, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's role.
    pub role: String,
}

/// The claims `who` (authenticated by an access token with `openid`) may see.
pub fn userinfo(who: &Principal) -> Result<UserInfo, Error> {
    if !has_scope(&who.scopes, "openid") {
        return Err(Error::MissingScope("openid"));
    }
    let u = who.account();
    let profile = has_scope(&who.scopes, "profile");
    let email = has_scope(&who.scopes, "email");
    Ok(UserInfo {
        sub: u.id.to_string(),
        name: profile.then(|| u.full_name.clone().unwrap_or_else(|| u.username.clone())),
        preferred_username: profile.then(|| u.username.clone()),
        updated_at: profile.then(|| secs(u.updated_at)),
        email: email.then(|| u.email.clone()),
        email_verified: email.then_some(u.is_verified),
        role: u.role.as_str().to_owned(),
    })
}
