//! RSA key generation, the one thing ring cannot do: the pure-Rust `rsa` crate finds
//! the primes and writes the PKCS#8 document, which ring then loads and uses for
//! every signature. Nothing else of `rsa` is used, so its private-key operations
//! (and their timing, RUSTSEC-2023-0071) never run here.
//!
//! The randomness is ring's `SystemRandom` (the same source as every other key),
//! handed to `rsa` through the small adapter below, so no second RNG crate is linked.

use ring::rand::{SecureRandom, SystemRandom};
use rsa::pkcs8::EncodePrivateKey;
use rsa::rand_core::{TryCryptoRng, TryRng};
use std::fmt;

/// Modulus size of new keys: 2048 bits, what RS256 verifiers everywhere accept
/// (ring verifies 2048 to 8192).
pub(super) const RSA_BITS: usize = 2048;

/// ring's system RNG as a `rand_core` generator.
struct RingRng(SystemRandom);

#[derive(Debug)]
struct RngFailed;

impl fmt::Display for RngFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RngFailed {}

impl TryRng for RingRng {
    type Error = RngFailed;

    fn try_next_u32(&mut self) -> Result<u32, RngFailed> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailed> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailed> {
        self.0.fill(dst).map_err(|_| RngFailed)
    }
}

/// `SystemRandom` is the operating system's CSPRNG.
impl TryCryptoRng for RingRng {}

/// A new RSA key (exponent 65537) of [`RSA_BITS`] as a PKCS#8 v1 DER document, or
/// `None` when the random source failed.
pub(super) fn generate_pkcs8() -> Option<Vec<u8>> {
    let mut rng = RingRng(SystemRandom::new());
    let key = rsa::PrivateKey::new(&mut rng, RSA_BITS).ok()?;
    // The SecretDocument is zeroized when dropped; only our copy lives on.
    key.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec())
}
