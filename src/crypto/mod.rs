//! Cryptography, and the only module that imports `ring`, `scrypt`, `rsa` or `bcrypt`.
//!
//! - [`password`]: scrypt PHC hashing with capped parameters; verifying imported bcrypt.
//! - [`bcrypt_hash`]: the bcrypt hashes the tutorial's app made (`$2b$12$…`), cost capped.
//! - [`keys`]: signing keys of every supported type (Ed25519, RSA, P-256): generation, public halves, JWKs.
//! - [`jwt`]: JSON Web Tokens for any claims type, signed by a keyring, strictly verified.
//! - [`totp`]: one-time passwords (RFC 4226/6238) and base32 secrets.
//! - [`webauthn`]: passkeys' bytes: attestation objects, authenticator data, COSE
//!   keys (CBOR by `minicbor`), `clientDataJSON`, and assertion signatures.
//! - [`secrets`]: randomness, SHA-256, base64url and the redacted [`secrets::Secret`] type.
//!
//! Nothing here knows about HTTP, the store or users; it turns bytes into bytes and
//! says yes or no.

pub mod bcrypt_hash;
pub mod jwt;
pub mod keys;
pub mod password;
mod rsa_keygen;
pub mod secrets;
pub mod totp;
pub mod webauthn;
