//! The audit log's records: which security events exist (their order is the stored
//! tag) and one entry as stored. Re-exported by `records`.

use crate::clock::Micros;
use serde::{Deserialize, Serialize};

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
    /// client_registered (an OpenID client)
    ClientRegistered,
    /// client_updated
    ClientUpdated,
    /// client_removed
    ClientRemoved,
    /// client_secret_rotated
    ClientSecretRotated,
    /// consent_granted (to an OpenID client)
    ConsentGranted,
    /// consent_revoked
    ConsentRevoked,
    /// code_reuse_detected (an authorization code redeemed twice)
    CodeReuseDetected,
    /// mfa_enabled (a second factor confirmed (authenticator app))
    MfaEnabled,
    /// mfa_disabled (a second factor removed by its owner)
    MfaDisabled,
    /// mfa_reset (an admin or the operator cleared a user's second factors)
    MfaReset,
    /// recovery_codes_regenerated (new recovery codes replaced the old ones)
    RecoveryCodesRegenerated,
    /// recovery_code_used (a recovery code was spent)
    RecoveryCodeUsed,
    /// passkey_registered (a passkey was added)
    PasskeyRegistered,
    /// passkey_removed (a passkey was removed)
    PasskeyRemoved,
    /// passkey_counter_regression (a passkey's signature counter went backwards (a cloned authenticator?))
    PasskeyCounterRegression,
}

impl AuditEvent {
    /// Every event.
    pub const ALL: [AuditEvent; 32] = [
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
        AuditEvent::ClientRegistered,
        AuditEvent::ClientUpdated,
        AuditEvent::ClientRemoved,
        AuditEvent::ClientSecretRotated,
        AuditEvent::ConsentGranted,
        AuditEvent::ConsentRevoked,
        AuditEvent::CodeReuseDetected,
        AuditEvent::MfaEnabled,
        AuditEvent::MfaDisabled,
        AuditEvent::MfaReset,
        AuditEvent::RecoveryCodesRegenerated,
        AuditEvent::RecoveryCodeUsed,
        AuditEvent::PasskeyRegistered,
        AuditEvent::PasskeyRemoved,
        AuditEvent::PasskeyCounterRegression,
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
            ClientRegistered => "client_registered",
            ClientUpdated => "client_updated",
            ClientRemoved => "client_removed",
            ClientSecretRotated => "client_secret_rotated",
            ConsentGranted => "consent_granted",
            ConsentRevoked => "consent_revoked",
            CodeReuseDetected => "code_reuse_detected",
            MfaEnabled => "mfa_enabled",
            MfaDisabled => "mfa_disabled",
            MfaReset => "mfa_reset",
            RecoveryCodesRegenerated => "recovery_codes_regenerated",
            RecoveryCodeUsed => "recovery_code_used",
            PasskeyRegistered => "passkey_registered",
            PasskeyRemoved => "passkey_removed",
            PasskeyCounterRegression => "passkey_counter_regression",
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
                | AuditEvent::CodeReuseDetected
                | AuditEvent::MfaReset
                | AuditEvent::PasskeyCounterRegression
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
