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
    /// Scopes the key carries; `None` means whatever the owner's role allows at the
    /// time of use (the tutorial's generated key acts with the user's full rights).
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

/// A security event worth recording (the tutorial's AuditEvent list, plus the admin
/// actions gatehouse adds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditEvent {
    /// login_success
    LoginSuccess,
    /// login_failure
    LoginFailure,
    /// logout
    Logout,
    /// token_refresh
    TokenRefresh,
    /// token_revoked (an admin revoked a user's sessions)
    TokenRevoked,
    /// token_reuse_detected
    TokenReuseDetected,
    /// password_changed
    PasswordChanged,
    /// role_changed
    RoleChanged,
    /// account_locked
    AccountLocked,
    /// account_deactivated
    AccountDeactivated,
    /// api_key_generated (also named keys created)
    ApiKeyGenerated,
    /// api_key_revoked (also named keys deleted)
    ApiKeyRevoked,
    /// unauthorized_access (a 401 or 403 on a protected endpoint)
    UnauthorizedAccess,
    /// rate_limit_exceeded
    RateLimitExceeded,
    /// account_reactivated
    AccountReactivated,
    /// account_unlocked
    AccountUnlocked,
    /// user_registered
    UserRegistered,
}

impl AuditEvent {
    /// Every event.
    pub const ALL: [AuditEvent; 17] = [
        AuditEvent::LoginSuccess,
        AuditEvent::LoginFailure,
        AuditEvent::Logout,
        AuditEvent::TokenRefresh,
        AuditEvent::TokenRevoked,
        AuditEvent::TokenReuseDetected,
        AuditEvent::PasswordChanged,
        AuditEvent::RoleChanged,
        AuditEvent::AccountLocked,
        AuditEvent::AccountDeactivated,
        AuditEvent::ApiKeyGenerated,
        AuditEvent::ApiKeyRevoked,
        AuditEvent::UnauthorizedAccess,
        AuditEvent::RateLimitExceeded,
        AuditEvent::AccountReactivated,
        AuditEvent::AccountUnlocked,
        AuditEvent::UserRegistered,
    ];

    /// The tutorial's spelling.
    pub fn as_str(self) -> &'static str {
        use AuditEvent::*;
        match self {
            LoginSuccess => "login_success",
            LoginFailure => "login_failure",
            Logout => "logout",
            TokenRefresh => "token_refresh",
            TokenRevoked => "token_revoked",
            TokenReuseDetected => "token_reuse_detected",
            PasswordChanged => "password_changed",
            RoleChanged => "role_changed",
            AccountLocked => "account_locked",
            AccountDeactivated => "account_deactivated",
            ApiKeyGenerated => "api_key_generated",
            ApiKeyRevoked => "api_key_revoked",
            UnauthorizedAccess => "unauthorized_access",
            RateLimitExceeded => "rate_limit_exceeded",
            AccountReactivated => "account_reactivated",
            AccountUnlocked => "account_unlocked",
            UserRegistered => "user_registered",
        }
    }

    /// Parses the tutorial's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Stable number used in the by-event index (position in [`AuditEvent::ALL`]).
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|e| *e == self).and_then(|i| u8::try_from(i).ok()).unwrap_or(u8::MAX)
    }

    /// Events that deserve a warning in the log, as the tutorial's logger does.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            AuditEvent::TokenReuseDetected
                | AuditEvent::AccountLocked
                | AuditEvent::UnauthorizedAccess
                | AuditEvent::LoginFailure
                | AuditEvent::RateLimitExceeded
        )
    }
}

/// One audit-log entry. Never holds a password, token or key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it happened.
    pub at: Micros,
    /// What happened.
    pub event: AuditEvent,
    /// The user concerned, when known.
    pub user_id: Option<u64>,
    /// Their username (or the name tried, for a failed login).
    pub username: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent (truncated).
    pub user_agent: Option<String>,
    /// Free text: the reason, the path, the role change.
    pub detail: Option<String>,
}

/// An Ed25519 signing key (private, PKCS#8). The file is 0600; this never leaves it.
/// Which key signs is decided by time: the newest key whose `activates_at` has
/// passed (see `domain::keys`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// Key id (derived from the public key).
    pub kid: String,
    /// PKCS#8 v2 document.
    pub pkcs8: Vec<u8>,
    /// Creation time.
    pub created_at: Micros,
    /// From this time on the key signs (until a newer key activates).
    pub activates_at: Micros,
    /// Withdrawn at once by an emergency rotation: neither signs nor verifies.
    pub revoked: bool,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("activates_at", &self.activates_at)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
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

versioned!(StoredUser, User);
versioned!(StoredRefreshSession, RefreshSession);
versioned!(StoredApiKey, ApiKeyRecord);
versioned!(StoredSession, SessionRecord);
versioned!(StoredAudit, AuditRecord);
versioned!(StoredStats, Stats);

/// The signing keys, stored as one list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// Newest last.
    pub keys: Vec<SigningKeyRecord>,
}
versioned!(StoredKeySet, KeySet);

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
    fn role_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
