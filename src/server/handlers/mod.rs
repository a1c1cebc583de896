//! Endpoint handlers, one file per resource. A handler decodes its input, makes one
//! domain call (on the blocking pool when it may block), and shapes the response.
//! The router has already authenticated and authorized the caller (`Req::caller`).
//! Shared here: the UserResponse DTO.

pub mod admin;
pub mod api_keys;
pub mod assets;
pub mod auth;
pub mod discovery;
pub mod health;
pub mod sessions;
pub mod setup;
pub mod ui;
pub mod users;
pub mod verify;

use crate::clock::rfc3339;
use crate::store::records::User;
use serde::Serialize;

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

impl From<&User> for UserResponse {
    fn from(u: &User) -> Self {
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
