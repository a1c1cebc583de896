//! Administration: the tutorial's user list, role change and dashboard, and the
//! extensions an operator needs (deactivate/reactivate, unlock, revoke sessions,
//! search). Who may call each is decided by the router's table; the rules about
//! *whom* they may act on (not yourself, not a super_admin) are here.

use super::access::Principal;
use super::{Account, Auth, Ctx, Error};
use crate::store::records::{AuditEvent, Role, Stats, User};
use crate::store::Writes;

/// Who is changing a user: an admin over HTTP, or the operator on the command line.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// An authenticated admin (may not touch super_admins unless one).
    Admin(&'a Principal),
    /// The operator (CLI or admin socket): no role rules.
    Operator,
}

/// Which user.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// By id.
    Id(u64),
    /// By username (case-insensitive).
    Name(&'a str),
}

/// The changes an admin or the operator makes to a user, shared by both paths.
/// Each returns the audit entry's detail.
pub(super) mod change {
    use crate::store::records::{AuditEvent, Role, User};

    /// New role; a different role revokes the user's access tokens.
    pub fn role(role: Role) -> impl Fn(&mut User) -> String {
        move |u| {
            let detail = format!("{} -> {}", u.role.as_str(), role.as_str());
            if u.role != role {
                u.role = role;
                u.token_version = u.token_version.wrapping_add(1);
            }
            detail
        }
    }

    /// The audit event for (re)activation.
    pub fn active_event(active: bool) -> AuditEvent {
        if active {
            AuditEvent::AccountReactivated
        } else {
            AuditEvent::AccountDeactivated
        }
    }

    /// Activation; deactivating revokes everything, reactivating clears a lockout.
    pub fn active(active: bool) -> impl Fn(&mut User) -> String {
        move |u| {
            if u.is_active != active {
                u.is_active = active;
                revoke(u);
            }
            if active {
                u.failed_logins = 0;
                u.locked_until = None;
            }
            String::new()
        }
    }

    /// Clears a lockout.
    pub fn unlock(u: &mut User) -> String {
        let detail = format!("{} failed logins cleared", u.failed_logins);
        u.failed_logins = 0;
        u.locked_until = None;
        detail
    }

    /// Revokes every access token and refresh session.
    pub fn revoke(u: &mut User) -> String {
        u.token_version = u.token_version.wrapping_add(1);
        u.session_epoch = u.session_epoch.wrapping_add(1);
        "all sessions and access tokens".into()
    }
}

/// Refuses an admin who is not a super_admin acting on a super_admin.
pub(super) fn protect(actor: Actor<'_>, target: &User) -> Result<(), Error> {
    match actor {
        Actor::Admin(p) if target.role == Role::SuperAdmin && p.user.role != Role::SuperAdmin => {
            Err(Error::Forbidden(PROTECTED.into()))
        }
        _ => Ok(()),
    }
}

/// Who acted, for an audit entry's detail.
pub(super) fn actor_text(actor: Actor<'_>) -> String {
    match actor {
        Actor::Admin(p) => format!("by {} (id {})", p.user.username, p.user.id),
        Actor::Operator => "by the operator".to_owned(),
    }
}

/// `1 API key`, `2 API keys`.
pub(super) fn api_keys(n: usize) -> String {
    if n == 1 {
        "1 API key".to_owned()
    } else {
        format!("{n} API keys")
    }
}

/// Largest page the admin list returns (`limit` above it is a 422).
pub const MAX_PAGE: u64 = 100;

const SUPER_ADMIN_ONLY_CLI: &str = "SUPER_ADMIN role can only be assigned via database";
const PROTECTED: &str = "Cannot modify a SUPER_ADMIN user";

impl Auth {
    /// GET /admin/users: a page in id order.
    pub fn list_users(&self, skip: u64, limit: u64) -> Result<Vec<Account>, Error> {
        let limit = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        Ok(self.store.read(|r| r.users_page(skip, limit))?.users.into_iter().map(Account::from).collect())
    }

    /// Users whose username or email starts with `prefix`.
    pub fn search_users(&self, prefix: &str, limit: u64) -> Result<Vec<Account>, Error> {
        let limit = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        self.store.read(|r| {
            let mut out = Vec::new();
            for id in r.search_users(prefix, limit)? {
                if let Some(u) = r.user(id)? {
                    out.push(Account::from(u));
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
    pub fn change_role(
        &self,
        ctx: &Ctx,
        actor: &Principal,
        target: u64,
        role: Role,
    ) -> Result<Account, Error> {
        if target == actor.id() {
            return Err(Error::BadRequest("Cannot change your own role"));
        }
        if role == Role::SuperAdmin {
            return Err(Error::Forbidden(SUPER_ADMIN_ONLY_CLI.into()));
        }
        self.modify(ctx, Actor::Admin(actor), Target::Id(target), AuditEvent::RoleChanged, change::role(role))
    }

    /// Deactivates (`false`) or reactivates (`true`) another user. Deactivation
    /// revokes every token and session the user holds.
    pub fn set_active(
        &self,
        ctx: &Ctx,
        actor: &Principal,
        target: u64,
        active: bool,
    ) -> Result<Account, Error> {
        if target == actor.id() {
            return Err(Error::BadRequest("Cannot change your own account status here"));
        }
        self.modify(
            ctx,
            Actor::Admin(actor),
            Target::Id(target),
            change::active_event(active),
            change::active(active),
        )
    }

    /// Clears a lockout and the failure counter.
    pub fn unlock(&self, ctx: &Ctx, actor: &Principal, target: u64) -> Result<Account, Error> {
        self.modify(ctx, Actor::Admin(actor), Target::Id(target), AuditEvent::AccountUnlocked, change::unlock)
    }

    /// Revokes every access token and refresh session of a user, and with
    /// `include_api_keys` every API key too (each audited); otherwise the entry says
    /// how many keys still work.
    pub fn revoke_sessions(
        &self,
        ctx: &Ctx,
        actor: &Principal,
        target: u64,
        include_api_keys: bool,
    ) -> Result<Account, Error> {
        self.revoke_everything(ctx, Actor::Admin(actor), Target::Id(target), include_api_keys)
    }

    /// [`Auth::revoke_sessions`] for an admin or the operator.
    pub(super) fn revoke_everything(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        target: Target<'_>,
        include_api_keys: bool,
    ) -> Result<Account, Error> {
        let by = actor_text(actor);
        self.modify_in(ctx, actor, target, AuditEvent::TokenRevoked, |tx, u| {
            let what = change::revoke(u);
            if include_api_keys {
                let n = self.revoke_all_keys_in(tx, ctx, u, &by)?;
                return Ok(format!("{what}, and {}", api_keys(n)));
            }
            Ok(format!("{what}{}", Self::keys_left(tx, u.id)?))
        })
    }

    /// Loads `target`, refuses to touch a super_admin unless the actor is one (or the
    /// operator), applies `change` and stores the result with an audit entry naming
    /// the actor, all in one transaction. `change` returns the entry's detail.
    pub(super) fn modify(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        target: Target<'_>,
        event: AuditEvent,
        change: impl Fn(&mut User) -> String,
    ) -> Result<Account, Error> {
        self.modify_in(ctx, actor, target, event, |_, u| Ok(change(u)))
    }

    /// [`Auth::modify`] whose change may also write in the transaction.
    pub(super) fn modify_in(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        target: Target<'_>,
        event: AuditEvent,
        change: impl Fn(&mut dyn Writes, &mut User) -> Result<String, Error>,
    ) -> Result<Account, Error> {
        self.store
            .write(|tx| {
                let found = match target {
                    Target::Id(id) => tx.user(id)?,
                    Target::Name(name) => tx.user_by_name(name)?,
                };
                let Some(mut u) = found else { return Err(Error::NotFound("User not found")) };
                protect(actor, &u)?;
                let what = change(tx, &mut u)?;
                u.updated_at = self.clock.now_micros();
                tx.update_user(&u)?;
                let by = actor_text(actor);
                let detail = if what.is_empty() { by } else { format!("{what}; {by}") };
                tx.append_audit(&self.audit_record(ctx, event, Some(&u), Some(detail)))?;
                Ok(u)
            })
            .inspect(|_| {
                if matches!(
                    event,
                    AuditEvent::RoleChanged | AuditEvent::AccountDeactivated | AuditEvent::TokenRevoked
                ) {
                    super::counters::Counters::bump(&self.counters.revocations);
                }
            })
            .map(Account::from)
    }
}
