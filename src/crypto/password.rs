//! scrypt password hashing, stored as PHC strings (`$scrypt$ln=15,r=8,p=3$salt$hash`).
//!
//! Two rules keep memory bounded: the configured parameters are checked at start-up,
//! and the parameters *read from a stored hash* are capped before any work, so a
//! corrupt or forged record cannot demand gigabytes. Callers run these functions on a
//! blocking thread behind the server's hashing semaphore; nothing here is async.
//!
//! One rule keeps timing from naming accounts: every login costs the same work,
//! whatever the name. Stored hashes may have other parameters than the configured
//! ones (a user created offline with other flags, or before the operator changed
//! them), so the work of a login is the *ceiling*: the most expensive parameters in
//! use (configured, or the most expensive ever stored, within the cap). An unknown
//! name burns one hash at the ceiling; verifying a cheaper stored hash is padded with
//! extra passes up to the ceiling's work. Work is counted in scrypt block mixes
//! (`p·r·N`), which is what the time of a hash is proportional to.
//!
//! bcrypt hashes imported from the tutorial's app (`bcrypt_hash.rs`) are verified
//! here too, and reported as [`Verdict::Match`] with `rehash` so the login stores
//! scrypt instead. While any is stored, the ceiling has a second part, the highest
//! stored bcrypt cost: every login then spends one scrypt hash at the scrypt
//! ceiling *and* bcrypt work at the bcrypt ceiling. A bcrypt account's login is its
//! own hash, padded with one bcrypt hash at each cost from its own up to the
//! ceiling (2^c + … + 2^(C−1) = 2^C − 2^c), plus a scrypt burn; a scrypt account's
//! is its padded scrypt verify plus a bcrypt burn; an unknown name burns both. No
//! conversion between the two algorithms' speeds is needed, so none can be wrong.

use super::bcrypt_hash;
use scrypt::password_hash::phc::PasswordHash;
use scrypt::password_hash::{PasswordHasher, PasswordVerifier};
use scrypt::{Params, Scrypt};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

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
        128u64.saturating_mul(self.pass_work())
    }

    /// Work of one hash, in scrypt block mixes: p · r · N.
    pub fn work(&self) -> u64 {
        self.pass_work().saturating_mul(u64::from(self.p))
    }

    /// Work of one of its p passes: r · N.
    fn pass_work(&self) -> u64 {
        u64::from(self.r).saturating_mul(1u64.checked_shl(u32::from(self.log_n)).unwrap_or(u64::MAX))
    }

    /// The parameters of a stored PHC string, if it is a scrypt hash.
    pub fn of_stored(stored: &str) -> Option<Self> {
        let hash = PasswordHash::new(stored).ok()?;
        if hash.algorithm.as_str() != "scrypt" {
            return None;
        }
        let p = Params::try_from(&hash).ok()?;
        Some(Self { log_n: p.log_n(), r: p.r(), p: p.p() })
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
    /// The stored hash cannot be used (unparseable, another algorithm, or over the cap).
    /// The same amount of work was still spent, so timing tells nothing.
    Unusable,
}

/// Largest p of one padding pass (its buffer is p · 128 · r bytes).
const PAD_P: u32 = 16;
/// Most padding passes one verification runs (only absurd parameter gaps reach it).
const MAX_PAD_PASSES: u64 = 4096;

/// Hashes and verifies passwords with fixed parameters and a memory cap.
#[derive(Debug, Clone)]
pub struct PasswordHasherConfig {
    params: HashParams,
    max_memory: u64,
    /// What every login costs: the most expensive parameters in use.
    ceiling: HashParams,
    /// The bcrypt part of the ceiling: the highest cost of a stored bcrypt hash, 0
    /// while none is stored. Shared by clones; an import raises it while serving.
    bcrypt_ceiling: Arc<AtomicU32>,
    /// Block mixes done so far (all clones share it).
    work: Arc<AtomicU64>,
    /// bcrypt key-schedule rounds done so far (2^cost per hash).
    bcrypt_work: Arc<AtomicU64>,
}

impl PasswordHasherConfig {
    /// Validates `params` and builds the hasher. `max_memory` caps what a stored hash
    /// may demand (the server passes its hashing memory budget).
    pub fn new(params: HashParams, max_memory: u64) -> Result<Self, PasswordError> {
        params.to_scrypt()?;
        if params.memory_bytes() > max_memory {
            return Err(PasswordError::BadParams);
        }
        Ok(Self {
            params,
            max_memory,
            ceiling: params,
            bcrypt_ceiling: Arc::default(),
            work: Arc::default(),
            bcrypt_work: Arc::default(),
        })
    }

    /// Raises the ceiling to `stored_max`, the most expensive parameters of any stored
    /// hash, when that costs more than the configured ones and is within the cap (a
    /// hash over the cap is never verified, so it cannot set the pace).
    pub fn with_stored_max(mut self, stored_max: Option<HashParams>) -> Self {
        if let Some(m) = stored_max {
            if self.within_cap(m) && m.to_scrypt().is_ok() && m.work() > self.ceiling.work() {
                self.ceiling = m;
            }
        }
        self
    }

    /// Raises the bcrypt part of the ceiling to `cost` (an imported hash's, within
    /// [`bcrypt_hash::MAX_COST`]; higher costs are never verified, so ignored).
    pub fn raise_bcrypt_ceiling(&self, cost: u32) {
        if (bcrypt_hash::MIN_COST..=bcrypt_hash::MAX_COST).contains(&cost) {
            self.bcrypt_ceiling.fetch_max(cost, Ordering::Relaxed);
        }
    }

    /// The bcrypt part of the ceiling, while any bcrypt hash is stored.
    pub fn bcrypt_ceiling(&self) -> Option<u32> {
        Some(self.bcrypt_ceiling.load(Ordering::Relaxed)).filter(|c| *c > 0)
    }

    /// The configured parameters.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// The parameters every login's work is measured against.
    pub fn ceiling(&self) -> HashParams {
        self.ceiling
    }

    /// Work done since start (by this hasher and its clones): scrypt block mixes
    /// plus bcrypt key-schedule rounds. Not a time: only for comparing logins.
    pub fn work_done(&self) -> u64 {
        self.work.load(Ordering::Relaxed).saturating_add(self.bcrypt_work.load(Ordering::Relaxed))
    }

    fn within_cap(&self, p: HashParams) -> bool {
        p.memory_bytes() <= self.max_memory && p.p <= 16
    }

    /// A new PHC string for `password` with a random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let hasher = Scrypt::new_with_params(self.params.to_scrypt()?);
        self.work.fetch_add(self.params.work(), Ordering::Relaxed);
        hasher.hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| PasswordError::Hashing)
    }

    /// Checks `password` against `stored` (scrypt, or an imported bcrypt hash),
    /// refusing stored parameters over the cap. Costs the ceiling's work either way:
    /// a cheaper stored hash is padded.
    pub fn verify(&self, password: &str, stored: &str) -> Verdict {
        if bcrypt_hash::looks_like_bcrypt(stored) {
            return self.verify_bcrypt(password, stored);
        }
        let Some((hash, params)) = self.parse_capped(stored) else {
            self.burn(password);
            return Verdict::Unusable;
        };
        self.work.fetch_add(params.work(), Ordering::Relaxed);
        let verdict = match Scrypt::new().verify_password(password.as_bytes(), &hash) {
            Ok(()) => Verdict::Match { rehash: params != self.params },
            Err(_) => Verdict::Mismatch,
        };
        for pass in self.padding(params) {
            self.spend(password, pass);
        }
        self.pad_bcrypt(password, None);
        verdict
    }

    /// An imported bcrypt hash: a match asks for a rehash (scrypt from now on).
    fn verify_bcrypt(&self, password: &str, stored: &str) -> Verdict {
        let Ok(cost) = bcrypt_hash::cost_of(stored) else {
            self.burn(password);
            return Verdict::Unusable;
        };
        // Defensive: a hash this hasher was not told about still sets the pace.
        self.raise_bcrypt_ceiling(cost);
        self.bcrypt_work.fetch_add(bcrypt_hash::work(cost), Ordering::Relaxed);
        let verdict = match bcrypt_hash::verify(password, stored) {
            Some(true) => Verdict::Match { rehash: true },
            Some(false) => Verdict::Mismatch,
            None => {
                bcrypt_hash::burn(password, cost);
                Verdict::Unusable
            }
        };
        self.pad_bcrypt(password, Some(cost));
        self.spend(password, self.ceiling);
        verdict
    }

    /// bcrypt work up to the bcrypt ceiling after a bcrypt hash of cost `done`
    /// (`None`: no bcrypt work yet): one hash at each cost from `done` to the
    /// ceiling − 1, which sums to the ceiling's 2^C − 2^done; from nothing, one hash
    /// at the ceiling.
    fn pad_bcrypt(&self, password: &str, done: Option<u32>) {
        let Some(ceiling) = self.bcrypt_ceiling() else { return };
        let costs = match done {
            Some(c) => c..ceiling,
            None => ceiling..ceiling + 1,
        };
        for cost in costs {
            self.bcrypt_work.fetch_add(bcrypt_hash::work(cost), Ordering::Relaxed);
            bcrypt_hash::burn(password, cost);
        }
    }

    /// Spends one login's work (the ceiling's) and discards it: unknown user, locked
    /// or deactivated account. The reply time must not tell these cases apart from a
    /// wrong password, whatever parameters or algorithm that account's hash has.
    pub fn burn(&self, password: &str) {
        self.spend(password, self.ceiling);
        self.pad_bcrypt(password, None);
    }

    /// The extra passes that bring verifying a hash with `stored` parameters up to
    /// the ceiling's work: whole passes at the ceiling's N and r, then the rest at the
    /// stored ones (rounded to the nearest pass), each at most [`PAD_P`] wide.
    pub fn padding(&self, stored: HashParams) -> Vec<HashParams> {
        let mut rest = self.ceiling.work().saturating_sub(stored.work());
        let mut out = Vec::new();
        for shape in [self.ceiling, stored] {
            let unit = shape.pass_work().max(1);
            let mut passes = if shape == stored { (rest + unit / 2) / unit } else { rest / unit };
            rest = rest.saturating_sub(passes.saturating_mul(unit));
            while passes > 0 && (out.len() as u64) < MAX_PAD_PASSES {
                let p = u32::try_from(passes.min(u64::from(PAD_P))).unwrap_or(PAD_P);
                out.push(HashParams { p, ..shape });
                passes -= u64::from(p);
            }
        }
        out
    }

    /// Runs scrypt with `params` over `password` and discards the result.
    fn spend(&self, password: &str, params: HashParams) {
        let Ok(p) = params.to_scrypt() else { return };
        self.work.fetch_add(params.work(), Ordering::Relaxed);
        let mut out = [0u8; 32];
        let _ = scrypt::scrypt(password.as_bytes(), b"gatehouse-burn", &p, &mut out);
    }

    fn parse_capped(&self, stored: &str) -> Option<(PasswordHash, HashParams)> {
        let params = HashParams::of_stored(stored)?;
        // Memory is the cap that matters; p multiplies time, so bound it as well.
        if !self.within_cap(params) {
            return None;
        }
        Some((PasswordHash::new(stored).ok()?, params))
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

    fn works(list: &[HashParams]) -> u64 {
        list.iter().map(HashParams::work).sum()
    }

    #[test]
    fn padding_brings_any_stored_hash_up_to_the_ceiling() {
        let cap = 64 << 20;
        for (configured, stored_max, stored) in [
            ((4, 8, 1), (6, 8, 1), (4, 8, 1)),
            ((4, 8, 1), (6, 8, 1), (6, 8, 1)),
            ((12, 8, 3), (15, 8, 3), (12, 8, 3)),
            ((15, 8, 3), (12, 8, 3), (12, 8, 3)),
            ((15, 8, 1), (14, 8, 3), (15, 8, 1)),
            ((10, 4, 2), (12, 8, 3), (10, 4, 2)),
            ((4, 8, 1), (4, 8, 16), (4, 8, 1)),
        ] {
            let hp = |(log_n, r, p): (u8, u32, u32)| HashParams { log_n, r, p };
            let h =
                PasswordHasherConfig::new(hp(configured), cap).unwrap().with_stored_max(Some(hp(stored_max)));
            let ceiling = h.ceiling();
            assert_eq!(ceiling.work(), hp(configured).work().max(hp(stored_max).work()));
            let pad = h.padding(hp(stored));
            assert_eq!(
                hp(stored).work() + works(&pad),
                ceiling.work(),
                "{configured:?} {stored_max:?} {stored:?}"
            );
            assert!(pad.iter().all(|p| p.p <= PAD_P && p.memory_bytes() <= cap), "{pad:?}");
        }
    }

    #[test]
    fn a_login_costs_the_ceiling_whatever_the_name() {
        // A user hashed offline at ln=6 on a server configured for ln=4: verifying
        // their hash and burning for an unknown name do the same work.
        let offline = PasswordHasherConfig::new(HashParams { log_n: 6, r: 8, p: 1 }, 1 << 20).unwrap();
        let stored = offline.hash("Pw-123456!").unwrap();
        let server = hasher().with_stored_max(HashParams::of_stored(&stored));
        assert_eq!(server.ceiling(), HashParams { log_n: 6, r: 8, p: 1 });
        let spent = |f: &dyn Fn()| {
            let before = server.work_done();
            f();
            server.work_done() - before
        };
        let verify = spent(&|| assert_eq!(server.verify("wrong-Pw-1!", &stored), Verdict::Mismatch));
        let burn = spent(&|| server.burn("wrong-Pw-1!"));
        assert_eq!((verify, burn), (8 * 64, 8 * 64));
        // And the other way: a hash cheaper than the ceiling is padded up to it.
        let cheap = hasher().hash("Pw-123456!").unwrap();
        let padded =
            spent(&|| assert_eq!(server.verify("Pw-123456!", &cheap), Verdict::Match { rehash: false }));
        assert_eq!(padded, burn);
        // A stored maximum over the cap sets nothing (such hashes are never verified).
        let capped = hasher().with_stored_max(Some(HashParams { log_n: 20, r: 8, p: 1 }));
        assert_eq!(capped.ceiling(), TINY);
    }

    /// passlib's cost-4 hash of "Str0ngPassw0rd!" (the tutorial's stack).
    const BCRYPT_4: &str = "$2b$04$2aoPv3NF7/cVx5zZZ7T7dekNYicy7chpch0Hia53vip3gSSQ8cNc6";

    #[test]
    fn bcrypt_hashes_verify_and_ask_for_scrypt() {
        let h = hasher();
        assert_eq!(h.verify("Str0ngPassw0rd!", BCRYPT_4), Verdict::Match { rehash: true });
        assert_eq!(h.verify("Str0ngPassw0rd?", BCRYPT_4), Verdict::Mismatch);
        assert_eq!(h.bcrypt_ceiling(), Some(4), "a verified cost sets the pace even if nobody said so");
        let forged = BCRYPT_4.replace("$04$", "$31$");
        assert_eq!(h.verify("Str0ngPassw0rd!", &forged), Verdict::Unusable, "never 2^31 rounds");
        assert_eq!(h.verify("x", &BCRYPT_4.replace("$2b$", "$2x$")), Verdict::Unusable);
        assert_eq!(h.verify("x", &BCRYPT_4[..59]), Verdict::Unusable);
    }

    #[test]
    fn with_bcrypt_stored_every_login_costs_both_ceilings() {
        let server = hasher();
        server.raise_bcrypt_ceiling(6);
        server.raise_bcrypt_ceiling(15); // over the cap: never verified, sets nothing
        assert_eq!(server.bcrypt_ceiling(), Some(6));
        let spent = |f: &dyn Fn()| {
            let before = server.work_done();
            f();
            server.work_done() - before
        };
        let scrypt_user = server.hash("Pw-123456!").unwrap();
        let burn = spent(&|| server.burn("Str0ngPassw0rd!"));
        assert_eq!(burn, TINY.work() + 64);
        // A cost-4 bcrypt account: 16 + padding 16 + 32 = 64, plus the scrypt ceiling.
        let bcrypt_ok = spent(&|| {
            assert_eq!(server.verify("Str0ngPassw0rd!", BCRYPT_4), Verdict::Match { rehash: true })
        });
        let bcrypt_wrong = spent(&|| assert_eq!(server.verify("wrong-Pw-1!", BCRYPT_4), Verdict::Mismatch));
        let scrypt_wrong =
            spent(&|| assert_eq!(server.verify("wrong-Pw-1!", &scrypt_user), Verdict::Mismatch));
        let unusable = spent(&|| assert_eq!(server.verify("x", "$2b$99$junk"), Verdict::Unusable));
        assert_eq!((bcrypt_ok, bcrypt_wrong, scrypt_wrong, unusable), (burn, burn, burn, burn));
        // A clone (the server's state holds one) shares the raised ceiling.
        let clone = server.clone();
        server.raise_bcrypt_ceiling(7);
        assert_eq!(clone.bcrypt_ceiling(), Some(7));
    }

    #[test]
    fn params_over_budget_are_rejected_at_configuration() {
        assert!(PasswordHasherConfig::new(HashParams::DEFAULT, 16 << 20).is_err());
        assert_eq!(HashParams::DEFAULT.memory_bytes(), 32 << 20);
    }
}
