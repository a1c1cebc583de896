//! Who is calling, and whether they may do what an endpoint demands.
//!
//! A [`Principal`] comes from an access token or an API key. An endpoint's demands
//! are a [`Rule`] (role, minimum role or permissions: the tutorial's three checks)
//! and optionally an OAuth2 scope. The router holds one table of these per route;
//! handlers never check roles themselves.

use super::roles::{has_permission, level, scope_allowed, Permission};
use super::{Account, Error};
use crate::store::records::{Role, User};

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A Bearer access token (its id and expiry, for logout).
    Access {
        /// Token id.
        jti: String,
        /// Expiry, seconds.
        exp: i64,
        /// The session it belongs to (tokens issued before sessions existed have none).
        sid: Option<String>,
        /// How the sign-in was proved (RFC 8176 values; empty for tokens from
        /// before they carried it).
        amr: Vec<String>,
    },
    /// An enrollment token: its holder may only enroll a second factor.
    Enrollment {
        /// Token id.
        jti: String,
    },
    /// An API key (its public id).
    ApiKey {
        /// Key id.
        id: String,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user, as stored now (the domain's own: layers above see [`Account`]).
    pub(super) user: User,
    /// Scopes this credential carries, already narrowed to what the user's current
    /// role allows.
    pub scopes: Vec<String>,
    /// The credential used.
    pub credential: Credential,
}

/// What an endpoint demands of an authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any active user.
    Any,
    /// One of these roles (the tutorial's `require_role`).
    Roles(&'static [Role]),
    /// This role or a higher one (`require_minimum_role`).
    MinRole(Role),
    /// Every one of these permissions (`require_permission`).
    Permissions(&'static [Permission]),
    /// A credential holding this scope, or a user with one of these roles.
    ScopeOrRoles(&'static str, &'static [Role]),
}

/// The CSRF token of a cookie session whose access token has id `access_jti`:
/// derived from it (see `crypto::secrets::csrf_token_for`), so it needs no storage
/// and changes with every refresh.
pub fn csrf_token(access_jti: &str) -> String {
    crate::crypto::secrets::csrf_token_for(access_jti)
}

/// Whether `presented` is the CSRF token of `access_jti` (constant time).
pub fn csrf_token_matches(access_jti: &str, presented: &str) -> bool {
    let want = csrf_token(access_jti);
    crate::crypto::secrets::constant_time_eq(presented.trim().as_bytes(), want.as_bytes())
}

/// admin and super_admin, the tutorial's admin endpoints' roles.
pub const ADMINS: &[Role] = &[Role::Admin, Role::SuperAdmin];

impl Principal {
    /// Builds a principal, keeping only the scopes the user's role still allows.
    pub(super) fn new(user: User, scopes: &[String], credential: Credential) -> Self {
        let scopes = scopes.iter().filter(|s| scope_allowed(user.role, s)).cloned().collect();
        Self { user, scopes, credential }
    }

    /// Checks `rule`, then `scope`. Failures name what is missing (403).
    pub fn authorize(&self, rule: Rule, scope: Option<&'static str>) -> Result<(), Error> {
        let role = self.user.role;
        match rule {
            Rule::Any => {}
            Rule::Roles(roles) => {
                if !roles.contains(&role) {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    return Err(Error::Forbidden(format!(
                        "Insufficient permissions. Required role: {}",
                        names.join(", ")
                    )));
                }
            }
            Rule::MinRole(min) => {
                if level(role) < level(min) {
                    return Err(Error::Forbidden(format!("Minimum role required: {}", min.as_str())));
                }
            }
            Rule::ScopeOrRoles(needed, roles) => {
                if !roles.contains(&role) && !self.scopes.iter().any(|s| s == needed) {
                    return Err(Error::MissingScope(needed));
                }
            }
            Rule::Permissions(perms) => {
                let missing: Vec<&str> =
                    perms.iter().filter(|p| !has_permission(role, **p)).map(|p| p.as_str()).collect();
                if !missing.is_empty() {
                    return Err(Error::Forbidden(format!("Missing permissions: {}", missing.join(", "))));
                }
            }
        }
        if let Some(s) = scope {
            if !self.scopes.iter().any(|have| have == s) {
                return Err(Error::MissingScope(s));
            }
        }
        Ok(())
    }

    /// The caller's account id.
    pub fn id(&self) -> u64 {
        self.user.id
    }

    /// The caller's username.
    pub fn username(&self) -> &str {
        &self.user.username
    }

    /// The caller's role now.
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The caller's account, as the layers above the domain see it.
    pub fn account(&self) -> Account {
        Account::from(&self.user)
    }

    /// The access token's id and expiry, when the caller used one.
    pub fn access_token(&self) -> Option<(&str, i64)> {
        match &self.credential {
            Credential::Access { jti, exp, .. } => Some((jti, *exp)),
            Credential::ApiKey { .. } | Credential::Enrollment { .. } => None,
        }
    }

    /// The session of the access token used, if any.
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Access { sid, .. } => sid.as_deref(),
            Credential::ApiKey { .. } | Credential::Enrollment { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, scopes: &[&str]) -> Principal {
        let user = User {
            id: 1,
            username: "u".into(),
            email: "u@example.com".into(),
            full_name: None,
            password_hash: String::new(),
            role,
            is_active: true,
            is_verified: false,
            created_at: 0,
            updated_at: 0,
            last_login: None,
            failed_logins: 0,
            locked_until: None,
            token_version: 0,
            session_epoch: 0,
        };
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        Principal::new(user, &scopes, Credential::ApiKey { id: "k".into() })
    }

    fn detail(r: Result<(), Error>) -> String {
        match r {
            Err(Error::Forbidden(d)) => d,
            Err(Error::MissingScope(s)) => format!("scope {s}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn tutorial_checks_name_what_is_missing() {
        let user = who(Role::User, &[]);
        assert_eq!(
            detail(user.authorize(Rule::Roles(ADMINS), None)),
            "Insufficient permissions. Required role: admin, super_admin"
        );
        assert_eq!(
            detail(user.authorize(Rule::MinRole(Role::Moderator), None)),
            "Minimum role required: moderator"
        );
        assert_eq!(
            detail(user.authorize(Rule::Permissions(&[Permission::ManageRoles, Permission::ReadPost]), None)),
            "Missing permissions: manage:roles"
        );
        assert!(who(Role::Admin, &[]).authorize(Rule::MinRole(Role::Moderator), None).is_ok());
        assert!(who(Role::Admin, &[]).authorize(Rule::Permissions(&[Permission::ManageRoles]), None).is_ok());
    }

    #[test]
    fn scopes_are_checked_and_narrowed_to_the_role() {
        let p = who(Role::User, &["profile:read", "admin"]);
        assert_eq!(p.scopes, ["profile:read"], "a user cannot hold admin even if a credential says so");
        assert!(p.authorize(Rule::Any, Some("profile:read")).is_ok());
        assert_eq!(detail(p.authorize(Rule::Any, Some("profile:write"))), "scope profile:write");
    }
}
