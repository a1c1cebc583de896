//! scrypt password hashing, stored as PHC strings (`$scrypt$ln=15,r=8,p=3$salt$hash`).
//!
//! Two rules keep memory bounded: the configured parameters are checked at start-up,
//! and the parameters *read from a stored hash* are capped before any work, so a
//! corrupt or forged record cannot demand gigabytes. Callers run these functions on a
//! blocking thread behind the server's hashing semaphore; nothing here is async.

use scrypt::password_hash::phc::PasswordHash;
use scrypt::password_hash::{PasswordHasher, PasswordVerifier};
use scrypt::{Params, Scrypt};

/// The longest password accepted anywhere, in characters (checked before hashing).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// scrypt cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism (run sequentially, so it multiplies time, not memory).
    pub p: u32,
}

impl HashParams {
    /// OWASP's equivalent of ln=17,r=8,p=1 at a quarter of the memory (32 MiB).
    pub const DEFAULT: Self = Self { log_n: 15, r: 8, p: 3 };

    /// Bytes of working memory one hash needs: 128 · r · N.
    pub fn memory_bytes(&self) -> u64 {
        128u64
            .saturating_mul(u64::from(self.r))
            .saturating_mul(1u64.checked_shl(u32::from(self.log_n)).unwrap_or(u64::MAX))
    }

    fn to_scrypt(self) -> Result<Params, PasswordError> {
        Params::new(self.log_n, self.r, self.p).map_err(|_| PasswordError::BadParams)
    }
}

/// Why hashing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Parameters scrypt itself rejects.
    #[error("invalid scrypt parameters")]
    BadParams,
    /// The hash could not be computed (random source or output failure).
    #[error("password hashing failed")]
    Hashing,
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right. `rehash` says the stored parameters differ from the
    /// configured ones and the caller should store a fresh hash.
    Match { rehash: bool },
    /// The password is wrong.
    Mismatch,
    /// The stored hash cannot be used (unparseable, not scrypt, or over the cap).
    /// The same amount of work was still spent, so timing tells nothing.
    Unusable,
}

/// Hashes and verifies passwords with fixed parameters and a memory cap.
#[derive(Debug, Clone)]
pub struct PasswordHasherConfig {
    params: HashParams,
    max_memory: u64,
}

impl PasswordHasherConfig {
    /// Validates `params` and builds the hasher. `max_memory` caps what a stored hash
    /// may demand (the server passes its hashing memory budget).
    pub fn new(params: HashParams, max_memory: u64) -> Result<Self, PasswordError> {
        params.to_scrypt()?;
        if params.memory_bytes() > max_memory {
            return Err(PasswordError::BadParams);
        }
        Ok(Self { params, max_memory })
    }

    /// The configured parameters.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// A new PHC string for `password` with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let hasher = Scrypt::new_with_params(self.params.to_scrypt()?);
        hasher.hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| PasswordError::Hashing)
    }

    /// Checks `password` against `stored`, refusing stored parameters over the cap.
    pub fn verify(&self, password: &str, stored: &str) -> Verdict {
        let Some((hash, params)) = self.parse_capped(stored) else {
            self.burn(password);
            return Verdict::Unusable;
        };
        match Scrypt::new().verify_password(password.as_bytes(), &hash) {
            Ok(()) => Verdict::Match { rehash: params != self.params },
            Err(_) => Verdict::Mismatch,
        }
    }

    /// Spends one configured hash's work and discards it (unknown user, locked or
    /// deactivated account): the reply time must not tell these cases apart.
    /// Hashing with the configured parameters costs exactly what verifying a stored
    /// hash with those parameters costs, so no dummy record is needed.
    pub fn burn(&self, password: &str) {
        let _ = self.hash(password);
    }

    fn parse_capped(&self, stored: &str) -> Option<(PasswordHash, HashParams)> {
        let hash = PasswordHash::new(stored).ok()?;
        if hash.algorithm.as_str() != "scrypt" {
            return None;
        }
        let p = Params::try_from(&hash).ok()?;
        let params = HashParams { log_n: p.log_n(), r: p.r(), p: p.p() };
        // Memory is the cap that matters; p multiplies time, so bound it as well.
        let within = params.memory_bytes() <= self.max_memory && params.p <= 16;
        within.then_some((hash, params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: HashParams = HashParams { log_n: 4, r: 8, p: 1 };

    fn hasher() -> PasswordHasherConfig {
        PasswordHasherConfig::new(TINY, 1 << 20).unwrap()
    }

    #[test]
    fn right_and_wrong_password() {
        let h = hasher();
        let stored = h.hash("Correct-Horse1").unwrap();
        assert!(stored.starts_with("$scrypt$ln=4,r=8,p=1$"));
        assert_eq!(h.verify("Correct-Horse1", &stored), Verdict::Match { rehash: false });
        assert_eq!(h.verify("correct-Horse1", &stored), Verdict::Mismatch);
    }

    #[test]
    fn changed_parameters_ask_for_rehash() {
        let old = hasher().hash("Pw-123456").unwrap();
        let newer = PasswordHasherConfig::new(HashParams { log_n: 5, r: 8, p: 1 }, 1 << 20).unwrap();
        assert_eq!(newer.verify("Pw-123456", &old), Verdict::Match { rehash: true });
    }

    #[test]
    fn forged_parameters_are_refused_without_work() {
        let h = hasher();
        // ln=30 would need 128 GiB; the cap refuses it before scrypt allocates anything.
        let forged =
            "$scrypt$ln=30,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        assert_eq!(h.verify("password", forged), Verdict::Unusable);
        let huge_p =
            "$scrypt$ln=4,r=8,p=100000$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        assert_eq!(h.verify("password", huge_p), Verdict::Unusable);
    }

    #[test]
    fn garbage_and_other_algorithms_are_unusable() {
        let h = hasher();
        assert_eq!(h.verify("x", "not a hash"), Verdict::Unusable);
        assert_eq!(h.verify("x", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"), Verdict::Unusable);
        assert_eq!(h.verify("x", ""), Verdict::Unusable);
    }

    #[test]
    fn params_over_budget_are_rejected_at_configuration() {
        assert!(PasswordHasherConfig::new(HashParams::DEFAULT, 16 << 20).is_err());
        assert_eq!(HashParams::DEFAULT.memory_bytes(), 32 << 20);
    }
}
