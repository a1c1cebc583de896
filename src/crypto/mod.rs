//! Cryptography, and the only module that imports `ring` or `scrypt`.
//!
//! - [`password`]: scrypt PHC hashing with capped parameters.
//! - [`jwt`]: Ed25519 (EdDSA) JSON Web Tokens: signing keys, encoding, strict verification.
//! - [`secrets`]: randomness, SHA-256, base64url and the redacted [`secrets::Secret`] type.
//!
//! Nothing here knows about HTTP, the store or users; it turns bytes into bytes and
//! says yes or no.

pub mod jwt;
pub mod password;
pub mod secrets;
