//! What the operator may do from the command line (directly on the data directory,
//! or through the running server's admin socket): everything an admin may do over
//! HTTP, by username, without the role rules, plus what HTTP never offers —
//! granting super_admin, resetting a password, deleting a user.

use super::admin::{change, Actor, Target};
use super::{validation, Account, ApiKeyInfo, Auth, Ctx, Error};
use crate::store::records::{AuditEvent, Role};

impl Auth {
    /// `user set-role`: any role, including super_admin. Revokes the user's access tokens.
    pub fn set_role_by_name(&self, ctx: &Ctx, username: &str, role: Role) -> Result<Account, Error> {
        self.modify(ctx, Actor::Operator, Target::Name(username), AuditEvent::RoleChanged, change::role(role))
    }

    /// `user activate` / `user deactivate`.
    pub fn set_active_by_name(&self, ctx: &Ctx, username: &str, active: bool) -> Result<Account, Error> {
        self.modify(
            ctx,
            Actor::Operator,
            Target::Name(username),
            change::active_event(active),
            change::active(active),
        )
    }

    /// `user unlock`.
    pub fn unlock_by_name(&self, ctx: &Ctx, username: &str) -> Result<Account, Error> {
        self.modify(ctx, Actor::Operator, Target::Name(username), AuditEvent::AccountUnlocked, change::unlock)
    }

    /// `user revoke-sessions [--include-api-keys]`.
    pub fn revoke_sessions_by_name(
        &self,
        ctx: &Ctx,
        username: &str,
        include_api_keys: bool,
    ) -> Result<Account, Error> {
        self.revoke_everything(ctx, Actor::Operator, Target::Name(username), include_api_keys)
    }

    /// `user keys`: a user's API keys.
    pub fn keys_by_name(&self, username: &str) -> Result<(Account, Vec<ApiKeyInfo>), Error> {
        self.keys_of(Target::Name(username))
    }

    /// `user revoke-key`: revokes one of a user's API keys.
    pub fn revoke_key_by_name(&self, ctx: &Ctx, username: &str, key_id: &str) -> Result<ApiKeyInfo, Error> {
        self.revoke_key_of(ctx, Actor::Operator, Target::Name(username), key_id)
    }

    /// `user reset-password` (hashes): sets a new password (validated like any
    /// other), clears a lockout and revokes every session and token.
    pub fn reset_password(&self, ctx: &Ctx, username: &str, password: &str) -> Result<Account, Error> {
        validation::new_password("password", password).map_err(|e| Error::Invalid(vec![e]))?;
        let hash = self.passwords.hash(password)?;
        self.modify_in(ctx, Actor::Operator, Target::Name(username), AuditEvent::PasswordChanged, |tx, u| {
            u.password_hash.clone_from(&hash);
            self.note_hash_written(tx)?;
            change::unlock(u);
            change::revoke(u);
            Ok(format!("reset by the operator; all sessions revoked{}", Self::keys_left(tx, u.id)?))
        })
    }

    /// `user delete`: removes the account, its indexes, API keys and second
    /// factors. Its refresh sessions and tokens stop working because the user no
    /// longer exists; the audit log keeps its history.
    pub fn delete_user(&self, ctx: &Ctx, username: &str) -> Result<Account, Error> {
        self.store
            .write(|tx| {
                let Some(u) = tx.user_by_name(username)? else {
                    return Err(Error::NotFound("User not found"));
                };
                for (lookup, key) in tx.api_keys_of(u.id)? {
                    tx.delete_api_key(&lookup, &key)?;
                }
                // Second factors go too: no credential id is left pointing at a
                // user who no longer exists, and the dashboard's count stays right.
                self.delete_passkeys_in(tx, u.id)?;
                tx.delete_mfa(u.id)?;
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
            .map(Account::from)
    }

    /// A user by name, for `user show`.
    pub fn user_by_name(&self, username: &str) -> Result<Account, Error> {
        self.store
            .read(|r| r.user_by_name(username))?
            .map(Account::from)
            .ok_or(Error::NotFound("User not found"))
    }
}

impl Auth {
    /// The id of the user called `username` (case-insensitive), if there is one.
    pub fn user_id_by_name(&self, username: &str) -> Result<Option<u64>, Error> {
        Ok(self.store.read(|r| r.user_id_by_name(username))?)
    }
}
