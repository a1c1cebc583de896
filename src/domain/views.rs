//! What the layers above the domain see of stored things: plain values without
//! what only the domain needs (a password hash, revocation epochs, key digests), so
//! the server and the operator commands never depend on the storage format.

use crate::clock::Micros;
use crate::crypto::bcrypt_hash::looks_like_bcrypt;
use crate::store::records::{ApiKeyRecord, AuditEvent, AuditRecord, Role, SessionRecord, User};

/// An account: everything but its password hash and revocation epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Numeric id, never reused.
    pub id: u64,
    /// Lower-case username.
    pub username: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Role.
    pub role: Role,
    /// False once deactivated.
    pub is_active: bool,
    /// Email verified (set by an operator; gatehouse sends no mail).
    pub is_verified: bool,
    /// Created.
    pub created_at: Micros,
    /// Last changed.
    pub updated_at: Micros,
    /// Last successful sign-in.
    pub last_login: Option<Micros>,
    /// Consecutive failed sign-ins.
    pub failed_logins: u32,
    /// Sign-ins are refused until then.
    pub locked_until: Option<Micros>,
    /// The password hash is an imported bcrypt one (replaced by scrypt at the next
    /// sign-in).
    pub bcrypt_hash: bool,
}

impl From<&User> for Account {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role,
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login: u.last_login,
            failed_logins: u.failed_logins,
            locked_until: u.locked_until,
            bcrypt_hash: looks_like_bcrypt(&u.password_hash),
        }
    }
}

impl From<User> for Account {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            role: u.role,
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login: u.last_login,
            failed_logins: u.failed_logins,
            bcrypt_hash: looks_like_bcrypt(&u.password_hash),
            locked_until: u.locked_until,
        }
    }
}

/// An API key's metadata; never the key or its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// Public id (to list and delete it).
    pub id: String,
    /// Its owner's label.
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    /// The scopes it acts with now.
    pub scopes: Vec<String>,
    /// Created.
    pub created_at: Micros,
    /// Refused from then on.
    pub expires_at: Option<Micros>,
    /// Last used (updated at most once a minute).
    pub last_used: Option<Micros>,
    /// The tutorial's single generated key.
    pub legacy: bool,
}

impl ApiKeyInfo {
    /// The view of `k`, whose owner has `role` (a key stored without scopes acts
    /// with whatever the role allows).
    pub(super) fn of(k: &ApiKeyRecord, role: Role) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone().unwrap_or_else(|| super::roles::allowed_scopes(role)),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used: k.last_used,
            legacy: k.legacy,
        }
    }
}

/// One audit-log entry (never a password, token or key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: Micros,
    /// What.
    pub event: AuditEvent,
    /// Whose account, when known.
    pub user_id: Option<u64>,
    /// Their username (or the name tried, for a failed login).
    pub username: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The reason, the route, the change.
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        Self {
            at: r.at,
            event: r.event,
            user_id: r.user_id,
            username: r.username,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        }
    }
}

/// One of a user's sessions (a sign-in and the refreshes descending from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id (the access tokens' `sid`).
    pub id: String,
    /// Signed in.
    pub created_at: Micros,
    /// Last sign-in or refresh.
    pub last_used: Micros,
    /// Expiry of its newest refresh token, in seconds.
    pub expires_at: i64,
    /// Client address at the last use.
    pub ip: Option<String>,
    /// User-Agent at the last use.
    pub user_agent: Option<String>,
    /// Whether it is the caller's own session.
    pub current: bool,
}

impl SessionInfo {
    pub(super) fn of(r: SessionRecord, current: bool) -> Self {
        Self {
            id: r.id,
            created_at: r.created_at,
            last_used: r.last_used,
            expires_at: r.expires_at,
            ip: r.ip,
            user_agent: r.user_agent,
            current,
        }
    }
}
