//! The certificate files of a generated TLS setup: the local CA kept in the data
//! directory and the short-lived certificate it signs ([`local_ca`]), and reading
//! any certificate's names, validity and fingerprints ([`inspect`]).
//!
//! Files and X.509 only: no sockets, no TLS sessions. The server's `tls` module
//! serves what is here and asks [`local_ca::ensure`] to renew it; the CLI's
//! `gatehouse cert` commands show and regenerate it.

pub mod inspect;
pub mod local_ca;

pub use inspect::fingerprint;
pub use local_ca::{CA_FILE, CA_KEY_FILE, CHAIN_FILE, KEY_FILE};
