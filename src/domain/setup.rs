//! The first-run setup: while no admin or super_admin exists, the server prints a
//! one-time code on its console; whoever presents it (the setup page) creates the
//! first super_admin over HTTP. Once any admin exists the code is forgotten for
//! good, even if every admin is later removed (a restart prints a fresh one then).
//! Codes are compared in constant time, without case, dashes or spaces.

use super::users::NewUser;
use super::{Account, AuditEvent, Auth, Ctx, Error, Role};
use crate::crypto::secrets::{constant_time_eq, setup_code};
use std::sync::PoisonError;

/// The 409 once setup is over (or was never open).
pub const SETUP_DONE: &str = "Setup is already complete";

/// Codes as read off a console: letters and digits, upper case.
fn normalise(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

impl Auth {
    /// Makes a setup code when there is no administrator (at start-up); returns it
    /// for the console, or `None` when setup is not needed.
    pub fn open_setup(&self) -> Result<Option<String>, Error> {
        if self.admin_count()? > 0 {
            return Ok(None);
        }
        let code = setup_code().map_err(|e| Error::Internal(format!("setup code: {e}")))?;
        *self.setup_code.lock().unwrap_or_else(PoisonError::into_inner) = Some(code.clone());
        Ok(Some(code))
    }

    /// The code, while setup is open.
    pub fn setup_code(&self) -> Option<String> {
        self.setup_code.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether setup is still needed; forgets the code once an admin exists.
    pub fn setup_required(&self) -> Result<bool, Error> {
        let required = self.admin_count()? == 0;
        if !required {
            self.close_setup();
        }
        Ok(required)
    }

    fn close_setup(&self) {
        *self.setup_code.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Creates the first super_admin (hashes: call with a hashing permit) if `code`
    /// is the setup code and no admin exists yet (checked again in the inserting
    /// transaction, so of racing requests one wins). A wrong code is audited.
    pub fn first_admin_with_code(&self, ctx: &Ctx, code: &str, req: &NewUser) -> Result<Account, Error> {
        let Some(expected) = self.setup_code() else { return Err(Error::Conflict(SETUP_DONE)) };
        if !constant_time_eq(normalise(code).as_bytes(), normalise(&expected).as_bytes()) {
            let why = "POST /api/v1/setup: wrong setup code".to_owned();
            self.audit_later(self.audit_record(ctx, AuditEvent::UnauthorizedAccess, None, Some(why)));
            return Err(Error::Forbidden("Invalid setup code".into()));
        }
        let created = self.create_first_admin(ctx, req);
        if matches!(&created, Ok(_) | Err(Error::Conflict(SETUP_DONE))) {
            self.close_setup();
        }
        created
    }

    /// The first-run setup: creates a super_admin only while there is no admin or
    /// super_admin at all. The check and the insert are one transaction, so two
    /// setups racing end with one admin and one 409.
    fn create_first_admin(&self, ctx: &Ctx, req: &NewUser) -> Result<Account, Error> {
        const DONE: Error = Error::Conflict(SETUP_DONE);
        if self.admin_count()? > 0 {
            return Err(DONE);
        }
        let detail = Some("first super_admin, created with the setup code".to_owned());
        self.create_user_unless(ctx, req, Role::SuperAdmin, detail, |tx| {
            let s = tx.stats()?;
            if s.by_role[Role::Admin.index()] + s.by_role[Role::SuperAdmin.index()] > 0 {
                return Err(DONE);
            }
            Ok(())
        })
    }
}
