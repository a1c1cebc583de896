//! gatehouse integration tests: one binary, a real server on 127.0.0.1:0 over real
//! TLS for every test. See harness.rs for the helpers that keep each case short.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // helpers are shared; not every one is used by every module
mod harness;

mod abuse;
mod accounts;
mod api_keys;
mod audit;
mod authz;
mod binary;
mod browser;
mod openapi;
mod tokens;
mod trust;
mod tutorial;
mod upgrade;
