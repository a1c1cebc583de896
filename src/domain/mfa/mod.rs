//! Second factors (SPEC §10): TOTP authenticator apps, recovery codes, passkeys,
//! and the policy that makes some roles enroll one.
//!
//! - [`codes`]: spending a presented code against the record (pure).
//! - [`manage`]: what a user does on their account page: enroll, confirm and
//!   remove TOTP, regenerate recovery codes, see their state.
//! - [`webauthn`]: the WebAuthn ceremony rules (pure): relying party, options,
//!   checking a registration and an assertion.
//! - [`passkeys`]: registering, listing, renaming and removing passkeys.
//! - [`passkey_login`]: the sign-in challenge, password-less sign-in, and the
//!   passkey as a second step.
//! - [`policy`]: `--require-mfa`, the enrollment token that lets a required user
//!   enroll before they get a session, and resets by admins and operators.
//!
//! The check at sign-in runs inside the login's own write transaction
//! (`login.rs`), so a code is spent at most once and wrong codes count toward the
//! lockout exactly like wrong passwords, however many requests race.

pub mod codes;
pub mod manage;
pub mod passkey_login;
pub mod passkeys;
pub mod policy;
pub mod webauthn;

use crate::store::records::mfa::MfaRecord;

/// RFC 8176 `amr` values for how a sign-in was proved.
pub mod amr {
    /// A password.
    pub const PWD: &str = "pwd";
    /// A one-time password (TOTP or recovery code).
    pub const OTP: &str = "otp";
    /// A hardware-secured key (a passkey).
    pub const HWK: &str = "hwk";
    /// More than one factor.
    pub const MFA: &str = "mfa";
}

/// The `amr` of a password sign-in completed with `second` (if any).
pub fn password_amr(second: Option<codes::Spent>) -> Vec<String> {
    let with = |second: &str| vec![amr::PWD.to_owned(), second.to_owned(), amr::MFA.to_owned()];
    match second {
        None => vec![amr::PWD.to_owned()],
        Some(codes::Spent::Totp | codes::Spent::Recovery) => with(amr::OTP),
        Some(codes::Spent::Passkey) => with(amr::HWK),
    }
}

/// Whether a sign-in with this `amr` used a second factor.
pub fn is_multi_factor(amr: &[String]) -> bool {
    amr.iter().any(|a| a == amr::MFA)
}

/// A user's second factors as their account page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    /// An authenticator app is confirmed.
    pub totp: bool,
    /// A TOTP secret was handed out and awaits its first code.
    pub totp_pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
    /// Passkeys registered.
    pub passkeys: u32,
    /// The user's role must have a second factor (`--require-mfa`).
    pub required: bool,
}

impl MfaStatus {
    fn of(rec: Option<&MfaRecord>, required: bool) -> Self {
        Self {
            totp: rec.is_some_and(|r| r.totp.is_some()),
            totp_pending: rec.is_some_and(|r| r.pending_totp.is_some()),
            recovery_codes_left: rec.map_or(0, codes::recovery_left),
            passkeys: rec.map_or(0, |r| r.passkeys),
            required,
        }
    }
}

/// What a user is given when they start enrolling an authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// The `otpauth://` URI (what the QR code holds).
    pub otpauth_uri: String,
}
