//! Synchronous tests of the auth core through its public API: no runtime, no
//! sockets, no HTTP. Each starts from [`fixture::Fixture`] (a temporary store, a
//! pinned clock, tiny scrypt parameters, the default policy), so expiry, lockout
//! and same-second revocation are exact, and races are real threads on one `Auth`.
//! What these tests ask of `Auth` is what a second storage engine must satisfy.
//!
//! One file per area: `audit` (flushing the queue), `login` (credentials and
//! lockout), `refresh` (rotation and reuse), `password` (change-password),
//! `revocation` (logout, RFC 7009, sessions).

mod audit;
mod fixture;
mod login;
mod password;
mod refresh;
mod revocation;
