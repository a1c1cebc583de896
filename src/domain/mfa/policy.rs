//! Who must have a second factor, how they enroll before they get a session, and
//! how admins and the operator clear a user's factors.
//!
//! A holder of a role named by `--require-mfa` who has no factor yet gets, for
//! their correct password, an *enrollment token* instead of a session: a signed,
//! ten-minute token of its own kind (`"type": "enroll"`) that only the enrollment
//! endpoints accept (the routes' `Enrolling` access), and that
//! [`Auth::authenticate`] refuses everywhere else. After enrolling they sign in
//! again, this time with the code.

use crate::domain::access::{Credential, Principal};
use crate::domain::admin::{Actor, Target};
use crate::domain::claims::{Claims, TokenKind};
use crate::domain::{Account, Auth, Ctx, Error};
use crate::store::records::{AuditEvent, Role, User};

/// Lifetime of an enrollment token.
pub const ENROLLMENT_TTL_SECS: i64 = 10 * 60;

/// The detail of the answer that hands out an enrollment token.
pub const ENROLLMENT_REQUIRED: &str = "Second factor enrollment required";

/// An enrollment token, for a required user without a factor.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    /// The signed token.
    pub token: String,
    /// Seconds it lasts.
    pub expires_in: u64,
}

// A bearer credential: never in a log line.
impl std::fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentToken").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

impl Auth {
    /// Whether holders of `role` must have a second factor.
    pub fn mfa_required_for(&self, role: Role) -> bool {
        self.policy.require_mfa.contains(&role)
    }

    /// Signs an enrollment token for `u` (after their password was checked).
    pub(crate) fn enrollment_token(&self, u: &User) -> Result<EnrollmentToken, Error> {
        let now = self.clock.now_secs();
        let keys = self.keyring();
        let claims = Claims {
            sub: u.username.clone(),
            uid: u.id,
            kind: TokenKind::Enroll,
            jti: crate::crypto::secrets::uuid_v4()?,
            iat: now,
            nbf: None,
            exp: now + ENROLLMENT_TTL_SECS,
            iss: keys.issuer().to_owned(),
            aud: None,
            role: Some(u.role.as_str().to_owned()),
            scopes: None,
            ver: Some(u.token_version),
            sid: None,
            amr: Some(vec![super::amr::PWD.to_owned()]),
        };
        let token = keys
            .sign(crate::crypto::keys::Alg::EdDSA, &claims)
            .map_err(|e| Error::Internal(format!("signing an enrollment token: {e}")))?;
        Ok(EnrollmentToken { token, expires_in: ENROLLMENT_TTL_SECS.unsigned_abs() })
    }

    /// Checks a bearer token on an enrollment endpoint: an access token as
    /// [`Auth::authenticate`] does, or an enrollment token (same checks of owner,
    /// deactivation and epoch; it has no session).
    pub fn authenticate_enrolling(&self, token: &str) -> Result<Principal, Error> {
        self.check_token(token, true)
    }

    /// An admin clears another user's second factors (see [`Auth::reset_mfa_by_name`]).
    pub fn reset_mfa(&self, ctx: &Ctx, actor: &Principal, target: u64) -> Result<Account, Error> {
        self.reset_factors(ctx, Actor::Admin(actor), Target::Id(target))
    }

    /// `user reset-mfa`: clears every second factor of a user (they lost their
    /// device): their authenticator app, passkeys and recovery codes. Audited with
    /// who did it. If their role requires a factor they enroll again at their next
    /// sign-in.
    pub fn reset_mfa_by_name(&self, ctx: &Ctx, username: &str) -> Result<Account, Error> {
        self.reset_factors(ctx, Actor::Operator, Target::Name(username))
    }

    fn reset_factors(&self, ctx: &Ctx, actor: Actor<'_>, target: Target<'_>) -> Result<Account, Error> {
        if let (Actor::Admin(p), Target::Id(id)) = (actor, target) {
            if p.id() == id {
                return Err(Error::BadRequest("Change your own second factors on your account page"));
            }
        }
        self.modify_in(ctx, actor, target, AuditEvent::MfaReset, |tx, u| {
            let had = tx.mfa(u.id)?.is_some_and(|m| m.has_factor());
            let passkeys = self.delete_passkeys_in(tx, u.id)?;
            tx.delete_mfa(u.id)?;
            Ok(match (had, passkeys) {
                (false, 0) => "no second factor was enrolled".to_owned(),
                (_, 0) => "second factors cleared".to_owned(),
                (_, n) => format!("second factors cleared ({n} passkey{})", if n == 1 { "" } else { "s" }),
            })
        })
    }
}

impl Principal {
    /// Whether the caller's sign-in used a second factor (an access token whose
    /// `amr` says so; API keys and enrollment tokens never have one).
    pub fn multi_factor(&self) -> bool {
        matches!(&self.credential, Credential::Access { amr, .. } if super::is_multi_factor(amr))
    }
}
