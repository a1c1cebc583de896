//! Endpoint handlers, one file per resource. A handler decodes its input, makes one
//! domain call (on the blocking pool when it may block), and shapes the response.
//! The router has already authenticated and authorized the caller (`Req::caller`).
//! Shared here: the UserResponse DTO and the `include_api_keys` query flag.

pub mod admin;
pub mod admin_clients;
pub mod api_keys;
pub mod assets;
pub mod auth;
pub mod client_token;
pub mod discovery;
pub mod health;
pub mod mfa;
pub mod oidc;
pub mod oidc_pages;
pub mod passkeys;
pub mod sessions;
pub mod setup;
pub mod ui;
pub mod users;
pub mod verify;
pub mod webauthn_json;

use crate::clock::rfc3339;
use crate::domain::Account;
use crate::server::error::{ApiError, Invalid};
use crate::server::extract::{query, query_param};
use crate::server::request::Req;
use serde::Serialize;

/// `?include_api_keys=`: whether a revocation of every session takes the user's API
/// keys along. Absent is false; values as FastAPI reads a bool, else 422.
pub fn include_api_keys(req: &Req) -> Result<bool, ApiError> {
    let Some(v) = query_param(&query(&req.head), "include_api_keys") else { return Ok(false) };
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(ApiError::Validation(vec![Invalid {
            loc: vec!["query".into(), "include_api_keys".into()],
            msg: "Input should be a valid boolean, unable to interpret input".into(),
            kind: "bool_parsing".into(),
        }])),
    }
}

/// The tutorial's UserResponse (never includes the password hash).
#[derive(Debug, Serialize)]
pub struct UserResponse {
    id: u64,
    username: String,
    email: String,
    full_name: Option<String>,
    role: &'static str,
    is_active: bool,
    is_verified: bool,
    created_at: String,
}

impl From<&Account> for UserResponse {
    fn from(u: &Account) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role.as_str(),
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: rfc3339(u.created_at),
        }
    }
}
