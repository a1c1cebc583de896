//! Passkeys (WebAuthn credentials) and the challenges of their ceremonies. A
//! credential belongs to one user and its id is unique across all users; a
//! challenge is single-use and short-lived. Plain data: the ceremony rules are in
//! `domain::mfa::webauthn`.

use crate::clock::Micros;
use serde::{Deserialize, Serialize};

/// One registered passkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRecord {
    /// Short id for the API and the pages (16 hex digits), unique per user.
    pub id: String,
    /// Owner.
    pub user_id: u64,
    /// The credential id the authenticator chose (unique across users).
    pub credential_id: Vec<u8>,
    /// The public key as the authenticator gave it (a COSE_Key).
    pub public_key: Vec<u8>,
    /// The user handle it was registered under (returned by discoverable sign-ins).
    pub user_handle: Vec<u8>,
    /// The highest signature counter seen (0: the authenticator keeps none).
    pub sign_count: u32,
    /// What its owner calls it.
    pub name: String,
    /// The authenticator may sync it to other devices (the BE flag).
    pub backup_eligible: bool,
    /// How the browser said it can reach the authenticator (`usb`, `internal`...).
    pub transports: Vec<String>,
    /// Registered.
    pub created_at: Micros,
    /// Last used to sign in.
    pub last_used_at: Option<Micros>,
}

/// What a challenge was handed out for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengePurpose {
    /// Registering a passkey for this user, under this user handle.
    Register {
        /// Who asked.
        user_id: u64,
        /// The user handle the new credential gets.
        user_handle: Vec<u8>,
    },
    /// Signing in (a second factor or password-less): anyone may ask, so it names
    /// no one.
    Authenticate,
}

/// An outstanding challenge, keyed by the challenge bytes themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    /// Which ceremony it belongs to.
    pub purpose: ChallengePurpose,
    /// Unix seconds after which it is refused (and swept).
    pub expires_at: i64,
}

versioned!(StoredPasskey, PasskeyRecord);
versioned!(StoredChallenge, ChallengeRecord);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = PasskeyRecord {
            id: "0123456789abcdef".into(),
            user_id: 7,
            credential_id: vec![1, 2, 3],
            public_key: vec![0xa5],
            user_handle: vec![9; 16],
            sign_count: 4,
            name: "laptop".into(),
            backup_eligible: true,
            transports: vec!["internal".into()],
            created_at: 5,
            last_used_at: None,
        };
        assert_eq!(PasskeyRecord::decode(&p.encode().unwrap()).unwrap(), p);
        let c = ChallengeRecord {
            purpose: ChallengePurpose::Register { user_id: 7, user_handle: vec![1; 16] },
            expires_at: 9,
        };
        assert_eq!(ChallengeRecord::decode(&c.encode().unwrap()).unwrap(), c);
    }
}
