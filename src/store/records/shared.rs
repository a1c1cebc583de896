//! Records only an engine shared by several processes keeps: state a single
//! process holds in memory (see `domain::phantom`) but many instances must agree on.
//! Versioned like every other record; never copied by `migrate-store` (it is
//! short-lived, and rebuilt by use).

use crate::clock::Micros;
use serde::{Deserialize, Serialize};

/// Failed logins for one name without a usable account (keyed by a digest of the
/// folded name, never the name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhantomRecord {
    /// Failures counted in the current window.
    pub failures: u32,
    /// When the last one happened.
    pub last_failure: Micros,
    /// Locked until then, when locked.
    pub locked_until: Option<Micros>,
}
versioned!(StoredPhantom, PhantomRecord);
