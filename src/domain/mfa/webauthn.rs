//! The WebAuthn ceremony rules (Level 2, attestation `none`), as pure functions:
//! which relying party gatehouse is, what the browser is asked, and whether what
//! it sent back is acceptable. The bytes themselves are read and signatures
//! verified in `crypto::webauthn`; the transactions around these checks (the
//! challenge spent, the credential stored or its counter moved) are in
//! `passkeys.rs` and `passkey_login.rs`.
//!
//! The rules: the challenge exists (each is taken out of the store by the
//! transaction that checks it, so it works once), is not expired and was handed
//! out for this ceremony (and, for registration, this user); `clientDataJSON` has
//! the ceremony's type and exactly the issuer's origin, not from a cross-origin
//! frame; the authenticator signed for SHA-256 of the rp id (the issuer's host)
//! with the user present, and verified when a password-less sign-in needs it; the
//! signature verifies with the stored key; the user handle, when sent, is the
//! credential's; and a signature counter that both sides keep never goes back.

use crate::crypto::secrets::{constant_time_eq, sha256};
use crate::crypto::webauthn::{self as wa, ClientData, WebAuthnError, FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV};
use crate::store::records::passkeys::{ChallengePurpose, ChallengeRecord, PasskeyRecord};

/// How long a challenge may be answered (also the browser's timeout).
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// Outstanding challenges kept at most; beyond it the oldest are dropped (anyone
/// may ask for a sign-in challenge, so the table must not grow without bound).
pub const MAX_CHALLENGES: u64 = 10_000;
/// Passkeys one user may register.
pub const MAX_PASSKEYS: usize = 20;
/// Bytes of a challenge.
pub const CHALLENGE_LEN: usize = 32;

/// gatehouse as a WebAuthn relying party, derived from the issuer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The rp id: the issuer's host name.
    pub id: String,
    /// The one origin allowed to use the credentials: the issuer's scheme, host
    /// and port (without a default port), as a browser writes it.
    pub origin: String,
}

impl RelyingParty {
    /// The relying party of `issuer` (`https://auth.example.com:8443/x` → rp id
    /// `auth.example.com`, origin `https://auth.example.com:8443`).
    pub fn of(issuer: &str) -> Self {
        let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (h, Some(p))
            }
            _ => (authority.as_str(), None),
        };
        let default = matches!((scheme.as_str(), port), ("https", Some("443")) | ("http", Some("80")));
        let origin = match port {
            Some(p) if !default => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        };
        Self { id: host.trim_start_matches('[').trim_end_matches(']').to_owned(), origin }
    }
}

/// What `navigator.credentials.create()` is asked for (the server writes it as
/// `PublicKeyCredentialCreationOptions` JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationOptions {
    /// Relying party.
    pub rp: RelyingParty,
    /// The challenge.
    pub challenge: Vec<u8>,
    /// The user handle the credential is created under.
    pub user_handle: Vec<u8>,
    /// The user's name (shown by the authenticator).
    pub user_name: String,
    /// Their full name, else their name.
    pub display_name: String,
    /// Credentials the user already has, with their transports (not to be made twice).
    pub exclude: Vec<(Vec<u8>, Vec<String>)>,
    /// How long the browser may take, ms.
    pub timeout_ms: u64,
}

/// What `navigator.credentials.get()` is asked for: no credentials are listed, so
/// the authenticator offers its discoverable ones and nothing is said about any
/// user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// The rp id.
    pub rp_id: String,
    /// The challenge.
    pub challenge: Vec<u8>,
    /// How long the browser may take, ms.
    pub timeout_ms: u64,
}

/// What `navigator.credentials.create()` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.attestationObject`.
    pub attestation_object: Vec<u8>,
    /// `response.getTransports()`.
    pub transports: Vec<String>,
}

/// What `navigator.credentials.get()` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// `rawId`.
    pub credential_id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `response.signature`.
    pub signature: Vec<u8>,
    /// `response.userHandle` (always sent for a discoverable credential).
    pub user_handle: Option<Vec<u8>>,
}

/// Why a ceremony's answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, used, expired, or handed out for another ceremony or user.
    Challenge,
    /// `clientDataJSON` is of the other ceremony.
    Kind,
    /// Another origin, or a cross-origin frame.
    Origin,
    /// Signed for another rp id.
    RpId,
    /// The user-present flag is missing.
    Presence,
    /// A password-less sign-in without user verification.
    Verification,
    /// Flags that contradict each other, or no credential where one must be.
    Flags,
    /// Not well-formed.
    Malformed,
    /// A key type or algorithm not offered.
    Unsupported,
    /// The signature does not verify.
    Signature,
    /// The user handle or credential belongs to someone else, or is unknown.
    Credential,
    /// The signature counter went back (a cloned authenticator?).
    Counter,
}

impl Refusal {
    /// Words for the audit log and registration errors.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Challenge => "unknown, used or expired challenge",
            Refusal::Kind => "wrong ceremony type",
            Refusal::Origin => "wrong origin",
            Refusal::RpId => "signed for another rp id",
            Refusal::Presence => "user presence flag missing",
            Refusal::Verification => "user verification flag missing",
            Refusal::Flags => "inconsistent authenticator flags",
            Refusal::Malformed => "malformed WebAuthn data",
            Refusal::Unsupported => "unsupported key type or algorithm",
            Refusal::Signature => "bad signature",
            Refusal::Credential => "unknown credential, or another user's",
            Refusal::Counter => "signature counter went back",
        }
    }
}

impl From<WebAuthnError> for Refusal {
    fn from(e: WebAuthnError) -> Self {
        match e {
            WebAuthnError::Malformed(_) => Refusal::Malformed,
            WebAuthnError::Unsupported(_) => Refusal::Unsupported,
            WebAuthnError::BadSignature => Refusal::Signature,
        }
    }
}

/// A credential that passed the registration checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewCredential {
    pub credential_id: Vec<u8>,
    pub public_key: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
}

/// The checks every ceremony shares: the challenge, `clientDataJSON`, the rp id
/// hash and the flags. Returns the parsed authenticator data.
fn common<'a>(
    rp: &RelyingParty,
    challenge: Option<&ChallengeRecord>,
    now_secs: i64,
    client: &ClientData,
    kind: &str,
    auth_data: &'a [u8],
) -> Result<wa::AuthData<'a>, Refusal> {
    match challenge {
        Some(c) if c.expires_at >= now_secs => {}
        _ => return Err(Refusal::Challenge),
    }
    if client.kind != kind {
        return Err(Refusal::Kind);
    }
    if client.origin != rp.origin || client.cross_origin {
        return Err(Refusal::Origin);
    }
    let data = wa::parse_auth_data(auth_data)?;
    if !constant_time_eq(&data.rp_id_hash, &sha256(rp.id.as_bytes())) {
        return Err(Refusal::RpId);
    }
    if !data.has(FLAG_UP) {
        return Err(Refusal::Presence);
    }
    if data.has(FLAG_BS) && !data.has(FLAG_BE) {
        return Err(Refusal::Flags);
    }
    Ok(data)
}

/// Checks a registration answer against the challenge handed to `user_id`.
pub(crate) fn check_registration(
    rp: &RelyingParty,
    challenge: Option<&ChallengeRecord>,
    user_id: u64,
    now_secs: i64,
    reg: &Registration,
) -> Result<NewCredential, Refusal> {
    let client = wa::parse_client_data(&reg.client_data_json)?;
    let user_handle = match challenge.map(|c| &c.purpose) {
        Some(ChallengePurpose::Register { user_id: owner, user_handle }) if *owner == user_id => user_handle,
        _ => return Err(Refusal::Challenge),
    };
    let auth_data = wa::parse_attestation_object(&reg.attestation_object)?;
    let data = common(rp, challenge, now_secs, &client, "webauthn.create", auth_data)?;
    let Some(cred) = data.attested.as_ref() else { return Err(Refusal::Flags) };
    Ok(NewCredential {
        credential_id: cred.credential_id.to_vec(),
        public_key: cred.public_key.to_vec(),
        user_handle: user_handle.clone(),
        sign_count: data.sign_count,
        backup_eligible: data.has(FLAG_BE),
    })
}

/// Checks an assertion for the stored credential `cred`; `user_verified`: a
/// password-less sign-in, which needs the UV flag and the user handle. Returns
/// the counter to store.
pub(crate) fn check_assertion(
    rp: &RelyingParty,
    challenge: Option<&ChallengeRecord>,
    now_secs: i64,
    a: &Assertion,
    cred: &PasskeyRecord,
    user_verified: bool,
) -> Result<u32, Refusal> {
    let client = wa::parse_client_data(&a.client_data_json)?;
    if !matches!(challenge.map(|c| &c.purpose), Some(ChallengePurpose::Authenticate)) {
        return Err(Refusal::Challenge);
    }
    if client.challenge.len() != CHALLENGE_LEN {
        return Err(Refusal::Challenge);
    }
    let data = common(rp, challenge, now_secs, &client, "webauthn.get", &a.authenticator_data)?;
    if user_verified && !data.has(FLAG_UV) {
        return Err(Refusal::Verification);
    }
    match &a.user_handle {
        Some(h) if !constant_time_eq(h, &cred.user_handle) => return Err(Refusal::Credential),
        None if user_verified => return Err(Refusal::Credential),
        _ => {}
    }
    if a.credential_id != cred.credential_id {
        return Err(Refusal::Credential);
    }
    wa::verify(&cred.public_key, &a.authenticator_data, &a.client_data_json, &a.signature)?;
    let (stored, seen) = (cred.sign_count, data.sign_count);
    if stored != 0 && seen != 0 && seen <= stored {
        return Err(Refusal::Counter);
    }
    Ok(stored.max(seen))
}

/// The challenge a client echoed, to find its record (`None`: unreadable).
pub(crate) fn echoed_challenge(client_data_json: &[u8]) -> Option<Vec<u8>> {
    wa::parse_client_data(client_data_json).ok().map(|c| c.challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuer_origin_and_host() {
        for (issuer, id, origin) in [
            ("https://auth.example.com", "auth.example.com", "https://auth.example.com"),
            ("https://Auth.Example.com:443/", "auth.example.com", "https://auth.example.com"),
            ("https://localhost:8443", "localhost", "https://localhost:8443"),
            ("https://auth.example.com:8443/gate?x#y", "auth.example.com", "https://auth.example.com:8443"),
            ("http://intranet:80", "intranet", "http://intranet"),
            ("https://[::1]:9443", "::1", "https://[::1]:9443"),
        ] {
            assert_eq!(
                RelyingParty::of(issuer),
                RelyingParty { id: id.into(), origin: origin.into() },
                "{issuer}"
            );
        }
    }

    fn record(count: u32) -> PasskeyRecord {
        PasskeyRecord {
            id: "p".into(),
            user_id: 1,
            credential_id: vec![1],
            public_key: vec![],
            user_handle: vec![2; 16],
            sign_count: count,
            name: String::new(),
            backup_eligible: false,
            transports: vec![],
            created_at: 0,
            last_used_at: None,
        }
    }

    #[test]
    fn a_registration_challenge_does_not_sign_in_and_an_expired_one_nothing() {
        let rp = RelyingParty::of("https://example.com");
        let client = br#"{"type":"webauthn.get","challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","origin":"https://example.com"}"#;
        let a = Assertion {
            credential_id: vec![1],
            client_data_json: client.to_vec(),
            authenticator_data: vec![],
            signature: vec![],
            user_handle: None,
        };
        let register = ChallengeRecord {
            purpose: ChallengePurpose::Register { user_id: 1, user_handle: vec![2; 16] },
            expires_at: 100,
        };
        assert_eq!(check_assertion(&rp, Some(&register), 50, &a, &record(0), false), Err(Refusal::Challenge));
        let expired = ChallengeRecord { purpose: ChallengePurpose::Authenticate, expires_at: 49 };
        assert_eq!(check_assertion(&rp, Some(&expired), 50, &a, &record(0), false), Err(Refusal::Challenge));
        assert_eq!(check_assertion(&rp, None, 50, &a, &record(0), false), Err(Refusal::Challenge));
        let reg = Registration {
            client_data_json: client.to_vec(),
            attestation_object: vec![],
            transports: vec![],
        };
        assert_eq!(
            check_registration(&rp, Some(&register), 2, 50, &reg),
            Err(Refusal::Challenge),
            "another user's"
        );
        let login = ChallengeRecord { purpose: ChallengePurpose::Authenticate, expires_at: 100 };
        assert_eq!(check_registration(&rp, Some(&login), 1, 50, &reg), Err(Refusal::Challenge));
    }
}
