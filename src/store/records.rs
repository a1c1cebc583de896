//! The records gatehouse keeps, and their versioned postcard encoding.
//!
//! postcard is not self-describing, so every stored value is wrapped in a `Stored*`
//! enum whose variant index (the first byte) is the record version. A later release
//! adds a `V2` variant and converts `V1` on read, or migrates the table in place at
//! start-up; it never reinterprets old bytes as a new layout. These are plain data:
//! what the fields allow is decided in `domain`.

use crate::clock::Micros;
use serde::{Deserialize, Serialize};

/// A user's role. The permission and scope tables live in `domain::roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Default for registered users.
    User,
    /// Can moderate content and read users.
    Moderator,
    /// Can manage users and roles.
    Admin,
    /// Everything; granted only by the operator CLI.
    SuperAdmin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::User, Role::Moderator, Role::Admin, Role::SuperAdmin];

    /// The tutorial's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
            Role::SuperAdmin => "super_admin",
        }
    }

    /// Parses the tutorial's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Position in [`Role::ALL`].
    pub fn index(self) -> usize {
        match self {
            Role::User => 0,
            Role::Moderator => 1,
            Role::Admin => 2,
            Role::SuperAdmin => 3,
        }
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Numeric id, assigned in order from 1.
    pub id: u64,
    /// Lower-case username (unique).
    pub username: String,
    /// Email as given, domain lower-cased (unique case-insensitively).
    pub email: String,
    /// Optional display name.
    pub full_name: Option<String>,
    /// scrypt PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// False once deactivated.
    pub is_active: bool,
    /// Email verified (gatehouse does not send mail; stays false unless set by an operator).
    pub is_verified: bool,
    /// Creation time.
    pub created_at: Micros,
    /// Last change to this record.
    pub updated_at: Micros,
    /// Last successful login.
    pub last_login: Option<Micros>,
    /// Consecutive failed logins since the last success or unlock.
    pub failed_logins: u32,
    /// Logins are refused until this time.
    pub locked_until: Option<Micros>,
    /// Access-token epoch: access tokens carry it as `ver`; bumping it revokes them all.
    pub token_version: u32,
    /// Refresh-session epoch: sessions record it; bumping it revokes them all.
    pub session_epoch: u32,
}

/// State of one refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefreshState {
    /// May be exchanged once.
    Active,
    /// Already exchanged; presenting it again is reuse.
    Rotated,
    /// Revoked by logout.
    Revoked,
}

/// A refresh token as tracked by the server, keyed by the SHA-256 of its `jti`
/// (the row alone does not contain what is needed to present the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshSession {
    /// Owner.
    pub user_id: u64,
    /// Login this token descends from (all rotations share it).
    pub family: String,
    /// Scopes granted at login; refresh never widens them.
    pub scopes: Vec<String>,
    /// The owner's `session_epoch` when issued; a newer epoch means revoked.
    pub session_epoch: u32,
    /// Issue time.
    pub created_at: Micros,
    /// Expiry, in seconds (the JWT's `exp`).
    pub expires_at: i64,
    /// Lifecycle state.
    pub state: RefreshState,
}

/// One sign-in as its owner sees it on the account page: a login and every refresh
/// descending from it share this row (the refresh family). Revoking it refuses the
/// family's refresh tokens and every access token carrying its id (`sid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id: the refresh family, also the access tokens' `sid`.
    pub id: String,
    /// Owner.
    pub user_id: u64,
    /// Sign-in time.
    pub created_at: Micros,
    /// Last sign-in or refresh.
    pub last_used: Micros,
    /// Expiry of its newest refresh token, in seconds.
    pub expires_at: i64,
    /// Client address at the last use.
    pub ip: Option<String>,
    /// User-Agent at the last use.
    pub user_agent: Option<String>,
    /// The owner's `session_epoch` when opened; a newer epoch means revoked.
    pub session_epoch: u32,
    /// Signed out or revoked (kept until expiry so the family stays refused).
    pub revoked: bool,
    /// The OpenID client the session was opened for (its refresh tokens are
    /// bound to it), or `None` for a sign-in to gatehouse itself.
    pub client_id: Option<String>,
    /// SHA-256 of the secret in the browser's sign-in cookie (browser sign-ins
    /// only): what the authorization endpoint recognises a signed-in browser by.
    pub browser_secret: Option<[u8; 32]>,
    /// When the user last proved who they are for this session (OpenID `auth_time`).
    pub auth_time: Micros,
    /// How (RFC 8176 values: `pwd`, `otp`, `hwk`...).
    pub amr: Vec<String>,
}

/// Schema 1's session row (before OpenID clients and browser secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SessionRecordV1 {
    id: String,
    user_id: u64,
    created_at: Micros,
    last_used: Micros,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    session_epoch: u32,
    revoked: bool,
}

impl From<SessionRecordV1> for SessionRecord {
    fn from(v: SessionRecordV1) -> Self {
        Self {
            id: v.id,
            user_id: v.user_id,
            created_at: v.created_at,
            last_used: v.last_used,
            expires_at: v.expires_at,
            ip: v.ip,
            user_agent: v.user_agent,
            session_epoch: v.session_epoch,
            revoked: v.revoked,
            client_id: None,
            browser_secret: None,
            auth_time: v.created_at,
            amr: vec!["pwd".to_owned()],
        }
    }
}

/// An API key. The key itself is shown to its owner once and never stored: the
/// table is keyed by the first 16 bytes of its SHA-256 and the record keeps the
/// whole digest as a verifier, compared in constant time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id, used to list and delete the key.
    pub id: String,
    /// SHA-256 of the key.
    pub verifier: [u8; 32],
    /// Owner.
    pub user_id: u64,
    /// Owner's label.
    pub name: String,
    /// The first characters of the key, shown in listings so owners recognise it.
    pub prefix: String,
    /// Scopes the key carries (a subset of the creating credential's). `None` means
    /// whatever the owner's role allows at the time of use: keys made by earlier
    /// releases, and keys imported from the tutorial's app (where a key was its user).
    pub scopes: Option<Vec<String>>,
    /// Creation time.
    pub created_at: Micros,
    /// Refused from this time on, if set.
    pub expires_at: Option<Micros>,
    /// Last successful use (updated at most once a minute).
    pub last_used: Option<Micros>,
    /// The tutorial's single generated key (POST /api-keys/generate), which a new
    /// generate replaces and DELETE /api-keys/revoke removes.
    pub legacy: bool,
}

/// The JWS algorithm a stored signing key signs with (RFC 7518 names). The variant
/// order is the stored tag: append new algorithms, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyAlg {
    /// Ed25519: every key of schema 1, and the tutorial API's tokens.
    EdDSA,
    /// RSA-2048, PKCS#1 v1.5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// A signing key (private, PKCS#8). The file is 0600; this never leaves it. Which
/// key of an algorithm signs is decided by time: the newest of that algorithm whose
/// `activates_at` has passed (see `domain::keys`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// Its algorithm (record version 2; version 1 keys are all Ed25519).
    pub alg: KeyAlg,
    /// Key id (derived from the public key).
    pub kid: String,
    /// PKCS#8 document (v2 for Ed25519, v1 for RSA and P-256).
    pub pkcs8: Vec<u8>,
    /// Creation time.
    pub created_at: Micros,
    /// From this time on the key signs (until a newer key of its algorithm activates).
    pub activates_at: Micros,
    /// Withdrawn at once by an emergency rotation: neither signs nor verifies.
    pub revoked: bool,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("activates_at", &self.activates_at)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// A key as schema 1 stored it (always Ed25519): read and converted, never written.
#[derive(Serialize, Deserialize)]
struct SigningKeyRecordV1 {
    kid: String,
    pkcs8: Vec<u8>,
    created_at: Micros,
    activates_at: Micros,
    revoked: bool,
}

/// The key set as schema 1 stored it.
#[derive(Serialize, Deserialize)]
struct KeySetV1 {
    keys: Vec<SigningKeyRecordV1>,
}

impl From<KeySetV1> for KeySet {
    fn from(old: KeySetV1) -> Self {
        let keys = old
            .keys
            .into_iter()
            .map(|k| SigningKeyRecord {
                alg: KeyAlg::EdDSA,
                kid: k.kid,
                pkcs8: k.pkcs8,
                created_at: k.created_at,
                activates_at: k.activates_at,
                revoked: k.revoked,
            })
            .collect();
        KeySet { keys }
    }
}

/// Versioned wrapper of the key set: V2 added each key's algorithm.
#[derive(Serialize, Deserialize)]
enum StoredKeySet {
    V1(KeySetV1),
    V2(KeySet),
}

impl KeySet {
    /// postcard bytes of the current version (V2).
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(&StoredKeySet::V2(self.clone()))
    }
    /// Decodes any known version; V1 keys become Ed25519 keys.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        match postcard::from_bytes::<StoredKeySet>(bytes)? {
            StoredKeySet::V1(old) => Ok(old.into()),
            StoredKeySet::V2(set) => Ok(set),
        }
    }
}

/// Counters kept in the same transaction as every user change (no scans).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// All users.
    pub total: u64,
    /// Users with `is_active`.
    pub active: u64,
    /// Users per role, indexed by [`Role::index`].
    pub by_role: [u64; 4],
}

impl Stats {
    /// Applies the change from `old` to `new` (either may be absent).
    pub fn apply(&mut self, old: Option<&User>, new: Option<&User>) {
        if let Some(u) = old {
            self.total = self.total.saturating_sub(1);
            self.active = self.active.saturating_sub(u64::from(u.is_active));
            let slot = &mut self.by_role[u.role.index()];
            *slot = slot.saturating_sub(1);
        }
        if let Some(u) = new {
            self.total += 1;
            self.active += u64::from(u.is_active);
            self.by_role[u.role.index()] += 1;
        }
    }
}

/// Password hashes that are not gatehouse's own scrypt: bcrypt hashes brought in by
/// `gatehouse import tutorial`, each replaced by scrypt at its owner's next sign-in.
/// Kept in `meta` beside [`Stats`], in the same transaction as every user change,
/// so neither the operator's count nor the login work ceiling needs a scan. A hash
/// counts as bcrypt by its `$2` prefix; its cost is the two digits after it.
///
/// A release from before this row ignores it (and cannot verify bcrypt at all): if
/// it deletes or re-passwords such users, the count stays too high until they are
/// gone, which only keeps the bcrypt ceiling (more work per login, never less).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedHashes {
    /// Users whose password hash is bcrypt.
    pub bcrypt: u64,
    /// The highest bcrypt cost among them (0 once none is left).
    pub max_bcrypt_cost: u8,
}

impl ImportedHashes {
    /// Applies the change from `old` to `new` (either may be absent).
    pub fn apply(&mut self, old: Option<&User>, new: Option<&User>) {
        if old.and_then(|u| bcrypt_cost(&u.password_hash)).is_some() {
            self.bcrypt = self.bcrypt.saturating_sub(1);
        }
        if let Some(cost) = new.and_then(|u| bcrypt_cost(&u.password_hash)) {
            self.bcrypt += 1;
            self.max_bcrypt_cost = self.max_bcrypt_cost.max(cost);
        }
        if self.bcrypt == 0 {
            self.max_bcrypt_cost = 0;
        }
    }
}

/// The cost of a hash in bcrypt's `$2?$NN$` form (any cost; the domain caps it).
fn bcrypt_cost(hash: &str) -> Option<u8> {
    match hash.as_bytes() {
        [b'$', b'2', _, b'$', d1 @ b'0'..=b'9', d2 @ b'0'..=b'9', b'$', ..] => {
            Some((d1 - b'0') * 10 + (d2 - b'0'))
        }
        _ => None,
    }
}

macro_rules! versioned {
    ($stored:ident, $current:ident) => {
        /// Versioned wrapper: the enum tag is the record version.
        #[derive(Serialize, Deserialize)]
        enum $stored {
            V1($current),
        }

        impl $current {
            /// postcard bytes of the current version.
            pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
                postcard::to_stdvec(&$stored::V1(self.clone()))
            }
            /// Decodes any known version.
            pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
                match postcard::from_bytes::<$stored>(bytes)? {
                    $stored::V1(v) => Ok(v),
                }
            }
        }
    };
}

/// A record whose layout changed once: `V1` holds the old layout and is converted
/// on read; everything is written as `V2`.
macro_rules! versioned_twice {
    ($stored:ident, $old:ident, $current:ident) => {
        /// Versioned wrapper: the enum tag is the record version.
        #[derive(Serialize, Deserialize)]
        enum $stored {
            V1($old),
            V2($current),
        }

        impl $current {
            /// postcard bytes of the current version.
            pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
                postcard::to_stdvec(&$stored::V2(self.clone()))
            }
            /// Decodes any known version.
            pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
                match postcard::from_bytes::<$stored>(bytes)? {
                    $stored::V1(v) => Ok(v.into()),
                    $stored::V2(v) => Ok(v),
                }
            }
        }
    };
}

mod audit;
pub mod mfa;
pub mod oidc;
pub mod passkeys;
pub mod shared;

pub use audit::{AuditEvent, AuditRecord};

versioned!(StoredUser, User);
versioned!(StoredRefreshSession, RefreshSession);
versioned!(StoredApiKey, ApiKeyRecord);
versioned_twice!(StoredSession, SessionRecordV1, SessionRecord);
versioned!(StoredAudit, AuditRecord);
versioned!(StoredStats, Stats);
versioned!(StoredImportedHashes, ImportedHashes);

/// The most expensive password-hash parameters ever stored (scrypt log2 N, r, p),
/// kept in `meta` with every hash written so a login for an unknown name can cost
/// as much as one for the most expensive account. All zero: no hash seen yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashCost {
    /// log2 of N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}
versioned!(StoredHashCost, HashCost);

/// The signing keys, stored as one list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// Newest last.
    pub keys: Vec<SigningKeyRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 1,
            username: "alice".into(),
            email: "a@example.com".into(),
            full_name: None,
            password_hash: "$scrypt$...".into(),
            role: Role::User,
            is_active: true,
            is_verified: false,
            created_at: 1,
            updated_at: 1,
            last_login: None,
            failed_logins: 0,
            locked_until: None,
            token_version: 0,
            session_epoch: 0,
        }
    }

    #[test]
    fn user_round_trips_with_version_tag() {
        let bytes = user().encode().unwrap();
        assert_eq!(bytes[0], 0, "first byte is the V1 tag");
        assert_eq!(User::decode(&bytes).unwrap(), user());
    }

    #[test]
    fn unknown_version_is_an_error_not_garbage() {
        let mut bytes = user().encode().unwrap();
        bytes[0] = 9;
        assert!(User::decode(&bytes).is_err());
        assert!(User::decode(&[]).is_err());
    }

    #[test]
    fn v1_key_sets_read_as_ed25519_and_v2_is_written() {
        let old = KeySetV1 {
            keys: vec![SigningKeyRecordV1 {
                kid: "k1".into(),
                pkcs8: vec![1, 2, 3],
                created_at: 5,
                activates_at: 6,
                revoked: true,
            }],
        };
        let v1 = postcard::to_stdvec(&StoredKeySet::V1(old)).unwrap();
        assert_eq!(v1[0], 0, "V1 tag");
        let set = KeySet::decode(&v1).unwrap();
        let key = SigningKeyRecord {
            alg: KeyAlg::EdDSA,
            kid: "k1".into(),
            pkcs8: vec![1, 2, 3],
            created_at: 5,
            activates_at: 6,
            revoked: true,
        };
        assert_eq!(set, KeySet { keys: vec![key.clone()] });
        let rsa = SigningKeyRecord { alg: KeyAlg::RS256, kid: "k2".into(), revoked: false, ..key };
        let set = KeySet { keys: vec![set.keys[0].clone(), rsa] };
        let v2 = set.encode().unwrap();
        assert_eq!(v2[0], 1, "V2 tag");
        assert_eq!(KeySet::decode(&v2).unwrap(), set);
        let mut future = v2;
        future[0] = 2;
        assert!(KeySet::decode(&future).is_err());
    }

    #[test]
    fn stats_follow_changes() {
        let mut s = Stats::default();
        let a = user();
        s.apply(None, Some(&a));
        let mut b = a.clone();
        b.is_active = false;
        b.role = Role::Admin;
        s.apply(Some(&a), Some(&b));
        assert_eq!(s, Stats { total: 1, active: 0, by_role: [0, 0, 1, 0] });
    }

    #[test]
    fn imported_hashes_follow_changes() {
        let mut h = ImportedHashes::default();
        let scrypt = user();
        let bcrypt = |cost: &str| User { password_hash: format!("$2b${cost}$abc"), ..user() };
        h.apply(None, Some(&scrypt));
        assert_eq!(h, ImportedHashes::default());
        h.apply(None, Some(&bcrypt("12")));
        h.apply(None, Some(&bcrypt("10")));
        assert_eq!(h, ImportedHashes { bcrypt: 2, max_bcrypt_cost: 12 });
        h.apply(Some(&bcrypt("12")), Some(&scrypt)); // rehashed at login
        assert_eq!(
            h,
            ImportedHashes { bcrypt: 1, max_bcrypt_cost: 12 },
            "the ceiling stays while any is left"
        );
        h.apply(Some(&bcrypt("10")), None); // deleted
        assert_eq!(h, ImportedHashes::default());
    }

    #[test]
    fn role_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
