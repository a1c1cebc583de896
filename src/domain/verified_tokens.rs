//! Access tokens whose signature has already been checked, remembered so that a
//! token presented again costs a SHA-256 instead of an Ed25519 verification.
//!
//! Only the *signature and parse* work is remembered; every revocation check
//! (owner, deactivation, epochs, denylist, session) still reads the store on every
//! request (`authenticate.rs`). What makes a remembered entry safe to reuse:
//!
//! - **Keyed by the SHA-256 of the whole token string.** A token that differs from
//!   a remembered one in any byte (a tampered payload, another signature) has
//!   another key, misses, and is verified in full; a forged token can never reach
//!   a genuine token's entry without a SHA-256 collision.
//! - **Tied to the keyring that verified it.** Every change of the keyring
//!   (rotation, a retired key's expiry, an emergency withdrawal) builds a new
//!   `Arc<Keyring>`; an entry made under another one is never used, and a shard is
//!   emptied when it first stores an entry under the new one.
//! - **Never outlives the token.** A hit re-checks `exp` (and `iat`/`nbf`) against
//!   now, exactly as verification does; an expired token misses and is verified
//!   (and refused) in full.
//! - **Bounded.** A fixed number of slots in independently locked shards; a new
//!   entry replaces whatever occupies its slot. Failures are never remembered, so
//!   junk tokens cannot fill it.
//!
//! It must not decide anything about a token beyond "this exact string verified
//! under this keyring".

use super::claims::Claims;
use crate::crypto::jwt::{Keyring, CLOCK_LEEWAY_SECS};
use std::sync::{Arc, Mutex, PoisonError};

/// Independently locked shards (a power of two).
const SHARDS: usize = 16;
/// Slots per shard: 16 × 256 = 4,096 tokens, about 1.5 MiB when every slot is full.
const SLOTS: usize = 256;

/// The remembered tokens (see the module doc).
#[derive(Debug)]
pub struct VerifiedTokens {
    shards: Vec<Mutex<Shard>>,
}

#[derive(Debug, Default)]
struct Shard {
    /// The keyring every entry of this shard was verified under.
    ring: Option<Arc<Keyring>>,
    slots: Vec<Option<Entry>>,
}

#[derive(Debug)]
struct Entry {
    digest: [u8; 32],
    claims: Arc<Claims>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect() }
    }
}

/// Shard and slot of a digest (its first bytes are as random as any).
fn place(digest: &[u8; 32]) -> (usize, usize) {
    let shard = usize::from(digest[0]) % SHARDS;
    let slot = usize::from(u16::from_le_bytes([digest[1], digest[2]])) % SLOTS;
    (shard, slot)
}

/// Whether verification would still accept these (already verified) claims now.
fn still_valid(c: &Claims, now_secs: i64) -> bool {
    let latest = now_secs.saturating_add(CLOCK_LEEWAY_SECS);
    c.exp > now_secs && c.iat <= latest && c.nbf.is_none_or(|nbf| nbf <= latest)
}

impl VerifiedTokens {
    fn shard(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        // A poisoned shard holds nothing half-written that matters: at worst an entry
        // verified under the same keyring. Recover it.
        self.shards[i % self.shards.len()].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The claims of the token whose SHA-256 is `digest`, if it was verified under
    /// `ring` and is still within its validity times at `now_secs`.
    pub fn get(&self, ring: &Arc<Keyring>, digest: &[u8; 32], now_secs: i64) -> Option<Arc<Claims>> {
        let (s, i) = place(digest);
        let shard = self.shard(s);
        if !shard.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, ring)) {
            return None;
        }
        let entry = shard.slots.get(i)?.as_ref()?;
        (entry.digest == *digest && still_valid(&entry.claims, now_secs)).then(|| Arc::clone(&entry.claims))
    }

    /// Remembers that the token whose SHA-256 is `digest` verified under `ring`.
    pub fn put(&self, ring: &Arc<Keyring>, digest: [u8; 32], claims: Arc<Claims>) {
        let (s, i) = place(&digest);
        let mut shard = self.shard(s);
        if !shard.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, ring)) {
            shard.slots.clear();
            shard.ring = Some(Arc::clone(ring));
        }
        if shard.slots.len() != SLOTS {
            shard.slots.resize_with(SLOTS, || None);
        }
        if let Some(slot) = shard.slots.get_mut(i) {
            *slot = Some(Entry { digest, claims });
        }
    }

    /// How many entries are held (for tests and metrics).
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|s| self.shard(s).slots.iter().flatten().count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{generate, Alg};
    use crate::domain::claims::TokenKind;

    const NOW: i64 = 1_800_000_000;

    fn ring() -> Arc<Keyring> {
        let pkcs8 = generate(Alg::EdDSA).unwrap();
        Arc::new(Keyring::new("t", &[(Alg::EdDSA, &pkcs8)], &[]).unwrap())
    }

    fn claims(exp: i64) -> Arc<Claims> {
        Arc::new(Claims {
            sub: "alice".into(),
            uid: 1,
            kind: TokenKind::Access,
            jti: "j".into(),
            iat: NOW,
            nbf: None,
            exp,
            iss: "t".into(),
            aud: None,
            role: None,
            scopes: None,
            ver: Some(0),
            sid: None,
            amr: None,
        })
    }

    #[test]
    fn hit_only_for_the_same_digest_and_keyring() {
        let (a, b) = (ring(), ring());
        let cache = VerifiedTokens::default();
        let d = [7u8; 32];
        cache.put(&a, d, claims(NOW + 60));
        assert!(cache.get(&a, &d, NOW).is_some());
        let mut other = d;
        other[31] ^= 1; // same slot, another token
        assert!(cache.get(&a, &other, NOW).is_none());
        assert!(cache.get(&b, &d, NOW).is_none(), "another keyring never sees the entry");
        cache.put(&b, [9u8; 32], claims(NOW + 60));
        assert!(cache.get(&a, &[9u8; 32], NOW).is_none());
    }

    #[test]
    fn a_new_keyring_empties_the_shard() {
        let (a, b) = (ring(), ring());
        let cache = VerifiedTokens::default();
        let mut d1 = [0u8; 32];
        let mut d2 = [0u8; 32];
        d1[1] = 1;
        d2[1] = 2; // same shard (byte 0), other slots
        cache.put(&a, d1, claims(NOW + 60));
        cache.put(&b, d2, claims(NOW + 60));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&a, &d1, NOW).is_none() && cache.get(&b, &d1, NOW).is_none());
    }

    #[test]
    fn entries_never_outlive_the_token() {
        let a = ring();
        let cache = VerifiedTokens::default();
        cache.put(&a, [1u8; 32], claims(NOW + 60));
        assert!(cache.get(&a, &[1u8; 32], NOW + 59).is_some());
        assert!(cache.get(&a, &[1u8; 32], NOW + 60).is_none());
        // A clock set back before `iat` (beyond the leeway) misses too.
        assert!(cache.get(&a, &[1u8; 32], NOW - CLOCK_LEEWAY_SECS - 1).is_none());
    }

    #[test]
    fn bounded_by_the_slot_count() {
        let a = ring();
        let cache = VerifiedTokens::default();
        for i in 0..(SHARDS * SLOTS * 3) {
            let d = crate::crypto::secrets::sha256(&i.to_le_bytes());
            cache.put(&a, d, claims(NOW + 60));
        }
        assert!(cache.len() <= SHARDS * SLOTS);
    }
}
