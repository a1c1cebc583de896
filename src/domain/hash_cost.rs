//! The most expensive password-hash parameters in use, so that a login for a name
//! without a usable account costs what one for the most expensive account costs
//! (see `crypto::password`). The maximum lives in the store's `meta`, raised in the
//! same transaction that writes a hash, and is read once at start-up; a database
//! from before it was kept is scanned once to find it. Imported bcrypt hashes add
//! their highest cost while any is left (counted by the store with every user
//! change; an import raises it in the running server at once).

use super::{Auth, Error};
use crate::crypto::password::HashParams;
use crate::store::records::HashCost;
use crate::store::{Store, Writes};

fn params(c: HashCost) -> HashParams {
    HashParams { log_n: c.log_n, r: c.r, p: c.p }
}

fn cost(p: HashParams) -> HashCost {
    HashCost { log_n: p.log_n, r: p.r, p: p.p }
}

impl Auth {
    /// The recorded maximum; computed from every stored hash (once) and recorded
    /// when the store has none yet. `None` when no scrypt hash is stored.
    pub(super) fn stored_hash_max(store: &Store) -> Result<Option<HashParams>, Error> {
        let max = match store.read(|r| r.hash_cost())? {
            Some(c) => c,
            None => store.write(|tx| {
                if let Some(c) = tx.hash_cost()? {
                    return Ok::<_, Error>(c);
                }
                let mut max = HashCost::default();
                tx.each_password_hash(&mut |h| {
                    if let Some(p) = HashParams::of_stored(h).filter(|p| p.work() > params(max).work()) {
                        max = cost(p);
                    }
                })?;
                tx.put_hash_cost(&max)?;
                Ok(max)
            })?,
        };
        Ok((params(max).work() > 0).then(|| params(max)))
    }

    /// The highest cost of the imported bcrypt hashes still stored, if any is.
    pub(super) fn stored_bcrypt_max(store: &Store) -> Result<Option<u32>, Error> {
        let h = store.read(|r| r.imported_hashes())?;
        Ok((h.bcrypt > 0).then_some(u32::from(h.max_bcrypt_cost)))
    }

    /// How many accounts still have an imported bcrypt hash (replaced by scrypt at
    /// their next sign-in), and how many accounts there are.
    pub fn bcrypt_hashes(&self) -> Result<(u64, u64), Error> {
        let (h, s) = self.store.read(|r| Ok::<_, Error>((r.imported_hashes()?, r.stats()?)))?;
        Ok((h.bcrypt, s.total))
    }

    /// The bcrypt part of the login work ceiling (`None`: no bcrypt hash stored).
    pub fn bcrypt_ceiling(&self) -> Option<u32> {
        self.passwords.bcrypt_ceiling()
    }

    /// Raises the recorded maximum to the configured parameters if they cost more.
    /// Called in every transaction that stores a hash made by [`Auth::passwords`].
    pub(super) fn note_hash_written(&self, tx: &mut dyn Writes) -> Result<(), Error> {
        let mine = self.passwords.params();
        let known = tx.hash_cost()?.unwrap_or_default();
        if mine.work() > params(known).work() {
            tx.put_hash_cost(&cost(mine))?;
        }
        Ok(())
    }

    /// What every login's password work is measured against (the hashing gate
    /// sizes its slots by its memory).
    pub fn hash_ceiling(&self) -> HashParams {
        self.passwords.ceiling()
    }

    /// Password-hash work done since start, in scrypt block mixes (tests compare
    /// logins by it; never by time).
    pub fn password_work(&self) -> u64 {
        self.passwords.work_done()
    }
}

/// What `gatehouse hash calibrate` recommends for this machine.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// The recommended parameters.
    pub params: HashParams,
    /// Milliseconds one pass (p = 1) took here.
    pub pass_ms: f64,
}

/// The largest memory cost within `max_memory_mib`, then as many sequential passes
/// (p) as fit `target_ms` (each pass timed on this machine, best of three).
pub fn calibrate(target_ms: u64, max_memory_mib: u64) -> Result<Calibration, Error> {
    use crate::crypto::password::PasswordHasherConfig;
    const R: u32 = 8;
    let budget = max_memory_mib.saturating_mul(1024 * 1024);
    let mut log_n: u8 = 20;
    while log_n > 10 && (HashParams { log_n, r: R, p: 1 }).memory_bytes() > budget {
        log_n -= 1;
    }
    let time_one = |log_n: u8| -> Result<f64, Error> {
        let params = HashParams { log_n, r: R, p: 1 };
        let hasher = PasswordHasherConfig::new(params, params.memory_bytes())?;
        hasher.hash("calibration-Password-1!")?; // warm up: first-touch page faults
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            hasher.hash("calibration-Password-1!")?;
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(best)
    };
    let mut ms = time_one(log_n)?;
    while ms > target_ms as f64 && log_n > 10 {
        log_n -= 1;
        ms = time_one(log_n)?;
    }
    let p = ((target_ms as f64 / ms).floor() as u32).clamp(1, 16);
    Ok(Calibration { params: HashParams { log_n, r: R, p }, pass_ms: ms })
}
