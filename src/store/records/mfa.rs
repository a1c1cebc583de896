//! A user's second factors: the TOTP secret (pending or active, with the last
//! time step accepted), recovery-code digests, and how many passkeys they hold.
//! One row per user who ever started enrolling; users without one have no row.
//! Plain data: what the fields allow is decided in `domain::mfa`.

use crate::clock::Micros;
use serde::{Deserialize, Serialize};

/// A user's second factors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaRecord {
    /// The confirmed authenticator app, if any.
    pub totp: Option<TotpFactor>,
    /// A secret handed out but not yet confirmed with a code (replaced by a new
    /// enrollment, cleared by confirmation).
    pub pending_totp: Option<PendingTotp>,
    /// Recovery codes (SHA-256 of each), shown once when made.
    pub recovery: Vec<RecoveryCode>,
    /// Passkeys registered (the credentials themselves live in their own table).
    pub passkeys: u32,
    /// Last change.
    pub updated_at: Micros,
}

impl MfaRecord {
    /// Whether a second factor is enrolled: sign-in then asks for it.
    pub fn has_factor(&self) -> bool {
        self.totp.is_some() || self.passkeys > 0
    }
}

/// A confirmed TOTP authenticator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The shared secret (160 bits).
    pub secret: Vec<u8>,
    /// Confirmed at.
    pub enrolled_at: Micros,
    /// The last time step whose code was accepted: no code of this step or an
    /// earlier one is accepted again.
    pub last_step: u64,
}

/// A TOTP secret waiting for its first code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTotp {
    /// The shared secret (160 bits).
    pub secret: Vec<u8>,
    /// Handed out at.
    pub created_at: Micros,
}

/// One recovery code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    /// SHA-256 of the normalised code.
    pub digest: [u8; 32],
    /// When it was spent; a spent code is refused.
    pub used_at: Option<Micros>,
}

// The secrets never reach a log line.
impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("enrolled_at", &self.enrolled_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PendingTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTotp").field("created_at", &self.created_at).finish_non_exhaustive()
    }
}

versioned!(StoredMfa, MfaRecord);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_factor() {
        let mut m = MfaRecord::default();
        assert!(!m.has_factor());
        m.pending_totp = Some(PendingTotp { secret: vec![7; 20], created_at: 1 });
        assert!(!m.has_factor(), "a pending secret is not a factor");
        m.totp = Some(TotpFactor { secret: vec![1; 20], enrolled_at: 2, last_step: 3 });
        m.recovery.push(RecoveryCode { digest: [9; 32], used_at: None });
        assert!(m.has_factor());
        assert_eq!(MfaRecord::decode(&m.encode().unwrap()).unwrap(), m);
        assert!(!format!("{m:?}").contains("[1, 1"), "secret hidden from Debug");
    }
}
