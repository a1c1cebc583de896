//! gatehouse: an authentication appliance in one binary.
//!
//! A request travels `server` → `domain` → `store`, with `crypto` beside `domain`:
//!
//! - [`server`] is the only code that knows hyper, rustls or sockets: it accepts
//!   connections, terminates TLS, routes, decodes bodies and maps errors to statuses.
//! - [`domain`] decides what is allowed and what happens (accounts, logins, sessions,
//!   roles); synchronous, no HTTP types.
//! - [`store`] keeps everything in one redb file of versioned postcard records; no policy.
//! - [`crypto`] is the only importer of ring, scrypt and bcrypt: passwords, JWTs, secrets.
//! - [`sqlite`] reads SQLite files (the tutorial's database, for `import tutorial`).
//! - [`config`] turns command-line flags into a validated [`config::Config`] before
//!   anything is bound; [`cli`] defines the commands; [`clock`] is the one source of now.
//!
//! See ARCHITECTURE.md for the full map and the invariants.

pub mod app;
pub mod certs;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod ops;
pub mod server;
pub mod sqlite;
pub mod store;
