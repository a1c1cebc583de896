//! What the operator may do from the command line (directly on the data directory,
//! or through the running server's admin socket): everything an admin may do over
//! HTTP, by username, without the role rules, plus what HTTP never offers —
//! granting super_admin, resetting a password, deleting a user.

use super::admin::{change, Actor, Target};
use super::{validation, Auth, Ctx, Error};
use crate::store::records::{AuditEvent, Role, User};

impl Auth {
    /// `user set-role`: any role, including super_admin. Revokes the user's access tokens.
    pub fn set_role_by_name(&self, ctx: &Ctx, username: &str, role: Role) -> Result<User, Error> {
        self.modify(ctx, Actor::Operator, Target::Name(username), AuditEvent::RoleChanged, change::role(role))
    }

    /// `user activate` / `user deactivate`.
    pub fn set_active_by_name(&self, ctx: &Ctx, username: &str, active: bool) -> Result<User, Error> {
        self.modify(
            ctx,
            Actor::Operator,
            Target::Name(username),
            change::active_event(active),
            change::active(active),
        )
    }

    /// `user unlock`.
    pub fn unlock_by_name(&self, ctx: &Ctx, username: &str) -> Result<User, Error> {
        self.modify(ctx, Actor::Operator, Target::Name(username), AuditEvent::AccountUnlocked, change::unlock)
    }

    /// `user revoke-sessions`.
    pub fn revoke_sessions_by_name(&self, ctx: &Ctx, username: &str) -> Result<User, Error> {
        self.modify(ctx, Actor::Operator, Target::Name(username), AuditEvent::TokenRevoked, change::revoke)
    }

    /// `user reset-password` (hashes): sets a new password (validated like any
    /// other), clears a lockout and revokes every session and token.
    pub fn reset_password(&self, ctx: &Ctx, username: &str, password: &str) -> Result<User, Error> {
        validation::new_password("password", password).map_err(|e| Error::Invalid(vec![e]))?;
        let hash = self.passwords.hash(password)?;
        self.modify(ctx, Actor::Operator, Target::Name(username), AuditEvent::PasswordChanged, |u| {
            u.password_hash = hash;
            change::unlock(u);
            change::revoke(u);
            "reset by the operator; all sessions revoked".into()
        })
    }

    /// `user delete`: removes the account, its indexes and API keys. Its refresh
    /// sessions and tokens stop working because the user no longer exists; the
    /// audit log keeps its history.
    pub fn delete_user(&self, ctx: &Ctx, username: &str) -> Result<User, Error> {
        self.store.write(|tx| {
            let Some(u) = tx.user_by_name(username)? else { return Err(Error::NotFound("User not found")) };
            for (lookup, key) in tx.api_keys_of(u.id)? {
                tx.delete_api_key(&lookup, &key)?;
            }
            tx.delete_user(&u)?;
            let rec = self.audit_record(
                ctx,
                AuditEvent::AccountDeactivated,
                Some(&u),
                Some("deleted by the operator".into()),
            );
            tx.append_audit(&rec)?;
            Ok(u)
        })
    }

    /// A user by name, for `user show`.
    pub fn user_by_name(&self, username: &str) -> Result<User, Error> {
        self.store.read(|r| r.user_by_name(username))?.ok_or(Error::NotFound("User not found"))
    }
}
