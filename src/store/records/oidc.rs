//! The records of the OpenID Provider: registered clients, authorization codes in
//! flight, and the consents users gave. Versioned like every other record.

use super::Role;
use crate::clock::Micros;
use serde::{Deserialize, Serialize};

/// How a client's ID tokens are signed (`id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: OpenID Connect's mandatory default.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

/// A registered OpenID client (relying party).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// `client_id`.
    pub id: String,
    /// What people see (the consent page, the account page).
    pub name: String,
    /// SHA-256 of the client secret; `None` for a public client (PKCE instead).
    pub secret: Option<[u8; 32]>,
    /// Where codes may be sent: exact URIs.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// A first-party tool: no consent page.
    pub trusted: bool,
    /// Roles allowed to sign in to it; empty means every role.
    pub allowed_roles: Vec<Role>,
    /// How its ID tokens are signed.
    pub id_token_alg: IdTokenAlg,
    /// Registered.
    pub created_at: Micros,
    /// Last changed.
    pub updated_at: Micros,
}

/// An authorization code, keyed by the SHA-256 of the code (the row alone cannot be
/// redeemed). Single use; bound to its client, redirect URI, PKCE challenge and nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// Whose sign-in it carries.
    pub user_id: u64,
    /// The redirect URI of the request, which the exchange must repeat.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The request's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// The PKCE S256 challenge (base64url SHA-256 of the verifier).
    pub code_challenge: Option<String>,
    /// When the user authenticated.
    pub auth_time: Micros,
    /// How.
    pub amr: Vec<String>,
    /// The owner's `session_epoch` at issue: a newer one (password change,
    /// deactivation, reuse) voids the code.
    pub session_epoch: u32,
    /// Expiry, seconds.
    pub expires_at: i64,
    /// Redeemed: the session (refresh family) its tokens belong to. A second
    /// exchange revokes that session.
    pub redeemed: Option<String>,
}

/// A user's consent to a client, for these scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// Scopes consented to.
    pub scopes: Vec<String>,
    /// When.
    pub granted_at: Micros,
}

versioned!(StoredClient, ClientRecord);
versioned!(StoredCode, CodeRecord);
versioned!(StoredConsent, ConsentRecord);
