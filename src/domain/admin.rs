//! Administration: the tutorial's user list, role change and dashboard, and the
//! extensions an operator needs (deactivate/reactivate, unlock, revoke sessions,
//! search). Who may call each is decided by the router's table; the rules about
//! *whom* they may act on (not yourself, not a super_admin) are here.

use super::access::Principal;
use super::{Auth, Error};
use crate::store::records::{Role, Stats, User};

/// Largest page the admin list returns (`limit` above it is a 422).
pub const MAX_PAGE: u64 = 100;

const SUPER_ADMIN_ONLY_CLI: &str = "SUPER_ADMIN role can only be assigned via database";
const PROTECTED: &str = "Cannot modify a SUPER_ADMIN user";

impl Auth {
    /// GET /admin/users: a page in id order.
    pub fn list_users(&self, skip: u64, limit: u64) -> Result<Vec<User>, Error> {
        let limit = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        Ok(self.store.read(|r| r.users_page(skip, limit))?.users)
    }

    /// Users whose username or email starts with `prefix`.
    pub fn search_users(&self, prefix: &str, limit: u64) -> Result<Vec<User>, Error> {
        let limit = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        self.store.read(|r| {
            let mut out = Vec::new();
            for id in r.search_users(prefix, limit)? {
                if let Some(u) = r.user(id)? {
                    out.push(u);
                }
            }
            Ok(out)
        })
    }

    /// GET /admin/dashboard: the counters kept with every user change.
    pub fn dashboard(&self) -> Result<Stats, Error> {
        Ok(self.store.read(|r| r.stats())?)
    }

    /// PUT /admin/users/{id}/role, with the tutorial's rules in its order: not your
    /// own role (400), never super_admin (403), the user must exist (404), a
    /// super_admin cannot be changed (403). The user's access tokens are revoked.
    pub fn change_role(&self, actor: &Principal, target: u64, role: Role) -> Result<User, Error> {
        if target == actor.user.id {
            return Err(Error::BadRequest("Cannot change your own role"));
        }
        if role == Role::SuperAdmin {
            return Err(Error::Forbidden(SUPER_ADMIN_ONLY_CLI.into()));
        }
        self.modify(actor, target, |u| {
            if u.role != role {
                u.role = role;
                u.token_version = u.token_version.wrapping_add(1);
            }
        })
    }

    /// Deactivates (`false`) or reactivates (`true`) another user. Deactivation
    /// revokes every token and session the user holds.
    pub fn set_active(&self, actor: &Principal, target: u64, active: bool) -> Result<User, Error> {
        if target == actor.user.id {
            return Err(Error::BadRequest("Cannot change your own account status here"));
        }
        self.modify(actor, target, |u| {
            if u.is_active != active {
                u.is_active = active;
                u.token_version = u.token_version.wrapping_add(1);
                u.session_epoch = u.session_epoch.wrapping_add(1);
            }
            if active {
                u.failed_logins = 0;
                u.locked_until = None;
            }
        })
    }

    /// Clears a lockout and the failure counter.
    pub fn unlock(&self, actor: &Principal, target: u64) -> Result<User, Error> {
        self.modify(actor, target, |u| {
            u.failed_logins = 0;
            u.locked_until = None;
        })
    }

    /// Revokes every access token and refresh session of a user.
    pub fn revoke_sessions(&self, actor: &Principal, target: u64) -> Result<User, Error> {
        self.modify(actor, target, |u| {
            u.token_version = u.token_version.wrapping_add(1);
            u.session_epoch = u.session_epoch.wrapping_add(1);
        })
    }

    /// Loads `target`, refuses to touch a super_admin unless the actor is one, applies
    /// `change` and stores the result, all in one transaction.
    fn modify(&self, actor: &Principal, target: u64, change: impl FnOnce(&mut User)) -> Result<User, Error> {
        self.store.write(|tx| {
            let Some(mut u) = tx.user(target)? else {
                return Err(Error::NotFound("User not found"));
            };
            if u.role == Role::SuperAdmin && actor.user.role != Role::SuperAdmin {
                return Err(Error::Forbidden(PROTECTED.into()));
            }
            change(&mut u);
            u.updated_at = self.clock.now_micros();
            tx.update_user(&u)?;
            Ok(u)
        })
    }

    /// The operator's `user set-role`: any role, including super_admin, no HTTP rules.
    pub fn set_role_by_name(&self, username: &str, role: Role) -> Result<User, Error> {
        self.store.write(|tx| {
            let Some(mut u) = tx.user_by_name(username)? else {
                return Err(Error::NotFound("User not found"));
            };
            if u.role != role {
                u.role = role;
                u.token_version = u.token_version.wrapping_add(1);
                u.updated_at = self.clock.now_micros();
                tx.update_user(&u)?;
            }
            Ok(u)
        })
    }
}
