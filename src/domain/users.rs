//! Accounts: registration, the caller's own profile, self-deactivation, and the
//! operator's `user add`.

use super::access::Principal;
use super::validation::{self, FieldError};
use super::{Account, Auth, Ctx, Error};
use crate::store::records::{AuditEvent, Role, User};
use crate::store::StoreError;

/// A registration request, as decoded from the body.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Requested username (any case).
    pub username: String,
    /// Email.
    pub email: String,
    /// Password (never logged: the HTTP layer keeps it out of spans).
    pub password: String,
    /// Optional display name.
    pub full_name: Option<String>,
}

/// A profile update (PUT /users/me): absent fields are left alone.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// New display name.
    pub full_name: Option<String>,
    /// New email.
    pub email: Option<String>,
}

/// Checks every field and returns them normalised, or every problem at once
/// (Pydantic reports all invalid fields, in declaration order).
pub fn validate_new(u: &NewUser) -> Result<(String, String), Error> {
    let mut errors: Vec<FieldError> = Vec::new();
    let username = validation::username(&u.username).map_err(|e| errors.push(e)).ok();
    let email = validation::email("email", &u.email).map_err(|e| errors.push(e)).ok();
    if let Err(e) = validation::new_password("password", &u.password) {
        errors.push(e);
    }
    if let Some(Err(e)) = u.full_name.as_deref().map(validation::full_name) {
        errors.push(e);
    }
    match (username, email) {
        (Some(n), Some(e)) if errors.is_empty() => Ok((n, e)),
        _ => Err(Error::Invalid(errors)),
    }
}

impl Auth {
    /// Registers a `user` (hashes: call with a hashing permit).
    pub fn register(&self, ctx: &Ctx, req: &NewUser) -> Result<Account, Error> {
        self.create_user(ctx, req, Role::User)
    }

    /// Creates an account with any role: registration, and the operator's CLI (the
    /// only way to create a super_admin).
    pub fn create_user(&self, ctx: &Ctx, req: &NewUser, role: Role) -> Result<Account, Error> {
        self.create_user_unless(ctx, req, role, None, |_| Ok(()))
    }

    /// How many admins and super_admins exist (from the maintained counters).
    pub fn admin_count(&self) -> Result<u64, Error> {
        let s = self.store.read(|r| r.stats())?;
        Ok(s.by_role[Role::Admin.index()] + s.by_role[Role::SuperAdmin.index()])
    }

    pub(super) fn create_user_unless(
        &self,
        ctx: &Ctx,
        req: &NewUser,
        role: Role,
        detail: Option<String>,
        refuse: impl Fn(&dyn crate::store::Writes) -> Result<(), Error>,
    ) -> Result<Account, Error> {
        let (username, email) = validate_new(req)?;
        // Cheap duplicate check before the expensive hash; the insert re-checks
        // atomically, so a race still ends in one 409.
        self.store.read(|r| {
            if r.user_id_by_name(&username)?.is_some() {
                return Err(Error::Conflict("Username already registered"));
            }
            if r.user_id_by_email(&email)?.is_some() {
                return Err(Error::Conflict("Email already registered"));
            }
            Ok(())
        })?;
        let password_hash = self.passwords.hash(&req.password)?;
        let now = self.clock.now_micros();
        let user = User {
            id: 0,
            username,
            email,
            full_name: req.full_name.clone(),
            password_hash,
            role,
            is_active: true,
            is_verified: false,
            created_at: now,
            updated_at: now,
            last_login: None,
            failed_logins: 0,
            locked_until: None,
            token_version: 0,
            session_epoch: 0,
        };
        self.store
            .write(|tx| {
                refuse(tx)?;
                let u = tx.insert_user(user.clone())?;
                self.note_hash_written(tx)?;
                let detail = detail
                    .clone()
                    .or_else(|| (role != Role::User).then(|| format!("role {}", role.as_str())));
                tx.append_audit(&self.audit_record(ctx, AuditEvent::UserRegistered, Some(&u), detail))?;
                Ok(u)
            })
            .map(Account::from)
    }

    /// Updates the caller's display name and/or email.
    pub fn update_profile(&self, who: &Principal, update: &ProfileUpdate) -> Result<Account, Error> {
        let mut errors = Vec::new();
        let email = match update.email.as_deref() {
            Some(e) => validation::email("email", e).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        if let Some(Err(e)) = update.full_name.as_deref().map(validation::full_name) {
            errors.push(e);
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        self.store
            .write(|tx| {
                let mut u = Self::user_or_internal(tx.user(who.user.id)?, who.user.id)?;
                if let Some(name) = &update.full_name {
                    u.full_name = Some(name.clone());
                }
                if let Some(e) = &email {
                    u.email.clone_from(e);
                }
                u.updated_at = self.clock.now_micros();
                tx.update_user(&u).map_err(|e| match e {
                    StoreError::Duplicate(_) => Error::Conflict("Email already in use"),
                    other => other.into(),
                })?;
                Ok(u)
            })
            .map(Account::from)
    }

    /// Deactivates the caller's account (DELETE /users/me): logins fail from now on
    /// and every token and session they hold is revoked.
    pub fn deactivate_self(&self, ctx: &Ctx, who: &Principal) -> Result<(), Error> {
        self.store.write(|tx| {
            let mut u = Self::user_or_internal(tx.user(who.user.id)?, who.user.id)?;
            u.is_active = false;
            u.token_version = u.token_version.wrapping_add(1);
            u.session_epoch = u.session_epoch.wrapping_add(1);
            u.updated_at = self.clock.now_micros();
            tx.update_user(&u)?;
            let rec =
                self.audit_record(ctx, AuditEvent::AccountDeactivated, Some(&u), Some("by the user".into()));
            tx.append_audit(&rec)?;
            Ok(())
        })
    }
}
