//! gatehouse integration tests, one binary, in three tiers (harness.rs has the
//! helpers that keep each case one line):
//!
//! - the service tier, nearly every test: the server's own configuration, core and
//!   request state, each request handed to the router in-process (no socket, no
//!   TLS); `tiers.rs` proves it answers as the wire does;
//! - over real TLS (`TestServer::over_tls`), the tests about the wire: slow, silent,
//!   trickling and idle clients, the connection cap, HEAD bodies and what hyper adds
//!   to every response, the redirect and metrics listeners (`abuse.rs`, `trust.rs`),
//!   the generated certificate and its renewal (`certs.rs`), and `tiers.rs`'s
//!   reference side;
//! - the real executable (`binary.rs`, `clients_cli.rs`, and `exhaustion.rs`'s
//!   memory bound): restarts, signals, crash safety, h2 by ALPN, TLS refusals, the
//!   CLI.
//!
//! CONTRIBUTING.md ("Tests: which tier") says which to choose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // helpers are shared; not every one is used by every module
mod harness;

mod abuse;
mod accounts;
mod api_keys;
mod audit;
#[allow(dead_code)]
mod authenticator;
mod authz;
mod binary;
mod browser;
mod certs;
mod clients;
mod clients_cli;
mod concurrency;
mod exhaustion;
mod import;
mod mfa;
mod multi;
mod oidc;
mod openapi;
mod otp;
mod passkeys;
#[allow(dead_code)]
mod pg;
mod signing_keys;
mod tiers;
mod tokens;
mod trust;
mod tutorial;
mod upgrade;
mod warm_tokens;
