//! Signing keys over time: which key of each algorithm signs, which keys verify,
//! and rotation.
//!
//! Every algorithm has its own timeline: EdDSA (the tutorial API's tokens, its
//! first key made at first start) and, once [`Auth::ensure_signing_keys`] has
//! asked for them, RS256 and ES256 (ID tokens). Every key has an activation time.
//! At any moment the newest key of an algorithm whose activation has passed signs
//! for that algorithm; a key being rotated in is published (JWKS, and accepted for
//! verification) from the moment it is created, `key_lead` before it signs, so
//! caches holding the JWKS know it before any token carries it. A key that a newer
//! one of its algorithm has replaced keeps verifying for the longest token lifetime
//! after that, so every token it signed can expire naturally, and is then dropped.
//! A rotation makes a new key for every algorithm in use; an emergency rotation
//! activates them at once and withdraws every older key of every algorithm: their
//! tokens stop verifying immediately.

use super::{Auth, Error};
use crate::clock::{Clock, Micros};
use crate::crypto::jwt::Keyring;
use crate::crypto::keys::{self as crypto_keys, Jwk, PublicKey};
use crate::store::records::{KeyAlg, KeySet, SigningKeyRecord};
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::PoisonError;
use std::time::Duration;

/// The signing algorithms, as the domain's callers name them.
pub use crate::crypto::keys::Alg;

/// The keyring in force, and when it next changes by itself.
#[derive(Debug)]
pub struct Loaded {
    ring: Arc<Keyring>,
    /// The next activation or expiry, after which the keyring must be rebuilt.
    next_change: Option<Micros>,
    /// The store's settings epoch when loaded: another instance's rotation moves it.
    epoch: u64,
}

/// A key as `gatehouse keys list` and the JWKS see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Its algorithm.
    pub alg: Alg,
    /// Key id.
    pub kid: String,
    /// `pending` (published, not yet signing), `active`, `retired` (verifies only),
    /// `expired` or `revoked`.
    pub state: &'static str,
    /// Created.
    pub created_at: Micros,
    /// Signs from.
    pub activates_at: Micros,
    /// Verifies until (retired keys).
    pub verifies_until: Option<Micros>,
    /// The public key as ring verifies it (Ed25519: 32 raw bytes; P-256: the
    /// uncompressed point; RSA: the DER `RSAPublicKey`).
    pub public: Vec<u8>,
}

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn alg_of(stored: KeyAlg) -> Alg {
    match stored {
        KeyAlg::EdDSA => Alg::EdDSA,
        KeyAlg::RS256 => Alg::RS256,
        KeyAlg::ES256 => Alg::ES256,
    }
}

fn stored(alg: Alg) -> KeyAlg {
    match alg {
        Alg::EdDSA => KeyAlg::EdDSA,
        Alg::RS256 => KeyAlg::RS256,
        Alg::ES256 => KeyAlg::ES256,
    }
}

/// A key, its state at some moment, and until when it verifies (retired keys).
type State<'a> = (&'a SigningKeyRecord, &'static str, Option<Micros>);

/// Each key's state at `now`: every algorithm's timeline in turn (oldest
/// activation first), then the revoked keys.
fn states(set: &KeySet, now: Micros, lifetime: Micros) -> Vec<State<'_>> {
    let mut algs: Vec<KeyAlg> = set.keys.iter().map(|k| k.alg).collect();
    algs.sort_unstable();
    algs.dedup();
    let mut out = Vec::new();
    for alg in algs {
        let live = set.keys.iter().filter(|k| k.alg == alg && !k.revoked).collect();
        timeline(live, now, lifetime, &mut out);
    }
    out.extend(set.keys.iter().filter(|k| k.revoked).map(|k| (k, "revoked", None)));
    out
}

/// One algorithm's live keys: the newest activated one signs; older activated
/// ones verify until `lifetime` after their successor took over.
fn timeline<'a>(
    mut live: Vec<&'a SigningKeyRecord>,
    now: Micros,
    lifetime: Micros,
    out: &mut Vec<State<'a>>,
) {
    live.sort_by_key(|k| k.activates_at);
    let signer = live.iter().rposition(|k| k.activates_at <= now);
    for (i, k) in live.iter().enumerate() {
        let successor = live.get(i + 1).filter(|n| n.activates_at <= now);
        let until = successor.map(|n| n.activates_at.saturating_add(lifetime));
        let state = if Some(i) == signer {
            "active"
        } else if k.activates_at > now {
            "pending"
        } else if until.is_some_and(|u| u <= now) {
            "expired"
        } else {
            "retired"
        };
        out.push((*k, state, until));
    }
}

fn build(set: &KeySet, now: Micros, issuer: &str, lifetime: Micros, epoch: u64) -> Result<Loaded, Error> {
    let st = states(set, now, lifetime);
    let mut active: Vec<(Alg, &[u8])> = Vec::new();
    let mut others: Vec<PublicKey> = Vec::new();
    for (k, s, _) in &st {
        match *s {
            "active" => active.push((alg_of(k.alg), &k.pkcs8)),
            "pending" | "retired" => others.push(public(k)?),
            _ => {}
        }
    }
    if !active.iter().any(|(alg, _)| *alg == Alg::EdDSA) {
        return Err(Error::Internal("no active EdDSA signing key".into()));
    }
    let ring = Keyring::new(issuer, &active, &others).map_err(|e| Error::Internal(e.to_string()))?;
    let next_change = st
        .iter()
        .filter_map(|(k, s, until)| match *s {
            "pending" => Some(k.activates_at),
            "retired" => *until,
            _ => None,
        })
        .min();
    Ok(Loaded { ring: Arc::new(ring), next_change, epoch })
}

/// The public half of a stored key.
fn public(k: &SigningKeyRecord) -> Result<PublicKey, Error> {
    crypto_keys::public_key(alg_of(k.alg), &k.pkcs8).map_err(|e| Error::Internal(e.to_string()))
}

fn new_key(clock: &Clock, alg: Alg, activates_at: Micros) -> Result<SigningKeyRecord, Error> {
    let pkcs8 = crypto_keys::generate(alg).map_err(|e| Error::Internal(e.to_string()))?;
    let kid = crypto_keys::public_key(alg, &pkcs8).map_err(|e| Error::Internal(e.to_string()))?.kid;
    Ok(SigningKeyRecord {
        alg: stored(alg),
        kid,
        pkcs8,
        created_at: clock.now_micros(),
        activates_at,
        revoked: false,
    })
}

/// Whether `alg` has a key that is not withdrawn.
fn has_live(set: &KeySet, alg: Alg) -> bool {
    set.keys.iter().any(|k| k.alg == stored(alg) && !k.revoked)
}

/// The algorithms a rotation renews: every one with a live key, and always EdDSA.
fn algs_in_use(set: &KeySet) -> Vec<Alg> {
    let mut algs: Vec<Alg> = set.keys.iter().filter(|k| !k.revoked).map(|k| alg_of(k.alg)).collect();
    algs.push(Alg::EdDSA);
    algs.sort_unstable();
    algs.dedup();
    algs
}

/// New keys, one per algorithm, made before the write transaction where possible
/// (an RSA key takes tens of milliseconds; the store's one writer should not wait
/// for it) and kept, so a transaction that runs again adds the same keys.
struct KeyMaker<'c> {
    clock: &'c Clock,
    activates_at: Micros,
    made: BTreeMap<Alg, SigningKeyRecord>,
}

impl<'c> KeyMaker<'c> {
    fn new(clock: &'c Clock, activates_at: Micros) -> Self {
        Self { clock, activates_at, made: BTreeMap::new() }
    }

    fn prepare(mut self, algs: &[Alg]) -> Result<Self, Error> {
        for alg in algs {
            self.key(*alg)?;
        }
        Ok(self)
    }

    /// The new key of `alg` (made now if `prepare` did not expect it).
    fn key(&mut self, alg: Alg) -> Result<SigningKeyRecord, Error> {
        if let Some(k) = self.made.get(&alg) {
            return Ok(k.clone());
        }
        let k = new_key(self.clock, alg, self.activates_at)?;
        self.made.insert(alg, k.clone());
        Ok(k)
    }
}

/// Loads the keys (creating the first EdDSA key when `create` and there is none)
/// and builds the keyring in force now.
pub fn load(
    store: &Store,
    clock: &Clock,
    issuer: &str,
    lifetime: Duration,
    create: bool,
) -> Result<Loaded, Error> {
    // Read before the keys, so a change made while loading triggers another load.
    let epoch = store.settings_epoch();
    let mut set = store.read(|r| r.keys())?;
    if create && !has_live(&set, Alg::EdDSA) {
        set = store.write(|tx| {
            let mut set = tx.keys()?;
            if !has_live(&set, Alg::EdDSA) {
                set.keys.push(new_key(clock, Alg::EdDSA, clock.now_micros())?);
                tx.put_keys(&set)?;
            }
            Ok::<_, Error>(set)
        })?;
    }
    build(&set, clock.now_micros(), issuer, micros(lifetime), epoch)
}

impl Auth {
    /// The keyring in force (a cheap `Arc` clone). When a pending key's activation
    /// or a retired key's expiry has passed, or another instance sharing the store
    /// changed the keys, it is rebuilt first.
    pub fn keyring(&self) -> Arc<Keyring> {
        let now = self.clock.now_micros();
        let epoch = self.store.settings_epoch();
        {
            let k = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            if k.next_change.is_none_or(|t| now < t) && k.epoch == epoch {
                return Arc::clone(&k.ring);
            }
        }
        self.reload_keys()
    }

    /// Re-reads the keys from the store (after a rotation, or when time moved a key
    /// into or out of use). On failure the keyring in force is kept.
    pub fn reload_keys(&self) -> Arc<Keyring> {
        let issuer = self.issuer();
        let fresh = load(&self.store, &self.clock, &issuer, self.policy.max_token_lifetime(), false);
        let mut k = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        match fresh {
            Ok(new) => *k = new,
            Err(e) => tracing::error!(error = %e, "could not reload signing keys; keeping the current ones"),
        }
        Arc::clone(&k.ring)
    }

    fn issuer(&self) -> String {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).ring.issuer().to_owned()
    }

    /// Every key and its state now, for `keys list`.
    pub fn list_signing_keys(&self) -> Result<Vec<KeyInfo>, Error> {
        let set = self.store.read(|r| r.keys())?;
        let lifetime = micros(self.policy.max_token_lifetime());
        let mut out = Vec::new();
        for (k, state, until) in states(&set, self.clock.now_micros(), lifetime) {
            out.push(KeyInfo {
                alg: alg_of(k.alg),
                kid: k.kid.clone(),
                state,
                created_at: k.created_at,
                activates_at: k.activates_at,
                verifies_until: until,
                public: public(k)?.bytes,
            });
        }
        Ok(out)
    }

    /// The keys a verifier should know now (pending, active, retired, of every
    /// algorithm), as the JWKS publishes them.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.keyring().public_keys().iter().map(PublicKey::jwk).collect()
    }

    /// Makes sure each of `algs` has a key: for every one without a live key, one
    /// that signs from now on is created (all in one write transaction) and the
    /// keyring reloaded. Idempotent; returns the keys it created (algorithm, kid).
    /// RS256 and ES256 keys are made this way when first needed, so a server that
    /// never signs with them never pays for an RSA key.
    pub fn ensure_signing_keys(&self, algs: &[Alg]) -> Result<Vec<(Alg, String)>, Error> {
        let missing = |set: &KeySet| -> Vec<Alg> {
            let mut m: Vec<Alg> = algs.iter().copied().filter(|a| !has_live(set, *a)).collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        let before = missing(&self.store.read(|r| r.keys())?);
        if before.is_empty() {
            return Ok(Vec::new());
        }
        let mut maker = KeyMaker::new(&self.clock, self.clock.now_micros()).prepare(&before)?;
        let created = self.store.write(|tx| {
            let mut set = tx.keys()?;
            let mut created = Vec::new();
            for alg in missing(&set) {
                let key = maker.key(alg)?;
                created.push((alg, key.kid.clone()));
                set.keys.push(key);
            }
            if !created.is_empty() {
                tx.put_keys(&set)?;
            }
            Ok::<_, Error>(created)
        })?;
        self.reload_keys();
        Ok(created)
    }

    /// Creates a new signing key for every algorithm in use, each activating after
    /// the configured lead time (or at once, withdrawing every older key of every
    /// algorithm, when `emergency`). Keys whose tokens have all expired are deleted.
    /// Returns the new keys (algorithm, kid), EdDSA first.
    pub fn rotate_keys(&self, emergency: bool) -> Result<Vec<(Alg, String)>, Error> {
        self.rotate_keys_with_lead(emergency, self.policy.key_lead)
    }

    /// [`Auth::rotate_keys`] with an explicit lead time.
    pub fn rotate_keys_with_lead(
        &self,
        emergency: bool,
        lead: Duration,
    ) -> Result<Vec<(Alg, String)>, Error> {
        let now = self.clock.now_micros();
        let lifetime = micros(self.policy.max_token_lifetime());
        let activates = if emergency { now } else { now.saturating_add(micros(lead)) };
        let in_use = algs_in_use(&self.store.read(|r| r.keys())?);
        let mut maker = KeyMaker::new(&self.clock, activates).prepare(&in_use)?;
        let created = self.store.write(|tx| {
            let mut set = tx.keys()?;
            let algs = algs_in_use(&set);
            let expired: Vec<String> = states(&set, now, lifetime)
                .into_iter()
                .filter(|(_, s, _)| *s == "expired")
                .map(|(k, _, _)| k.kid.clone())
                .collect();
            set.keys.retain(|k| !expired.contains(&k.kid));
            if emergency {
                for k in &mut set.keys {
                    k.revoked = true;
                }
            }
            let mut created = Vec::new();
            for alg in algs {
                let key = maker.key(alg)?;
                created.push((alg, key.kid.clone()));
                set.keys.push(key);
            }
            tx.put_keys(&set)?;
            Ok::<_, Error>(created)
        })?;
        self.reload_keys();
        Ok(created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Micros = 3_600_000_000;

    fn key_of(alg: KeyAlg, id: &str, activates_at: Micros) -> SigningKeyRecord {
        SigningKeyRecord { alg, kid: id.into(), pkcs8: vec![], created_at: 0, activates_at, revoked: false }
    }

    fn key(id: &str, activates_at: Micros) -> SigningKeyRecord {
        key_of(KeyAlg::EdDSA, id, activates_at)
    }

    fn names(set: &KeySet, now: Micros) -> Vec<(String, &'static str)> {
        states(set, now, 10 * H).into_iter().map(|(k, s, _)| (k.kid.clone(), s)).collect()
    }

    fn pairs(p: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        p.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect()
    }

    #[test]
    fn rotation_timeline() {
        let set = KeySet { keys: vec![key("a", 0), key("b", H)] };
        assert_eq!(names(&set, H / 2), [("a".into(), "active"), ("b".into(), "pending")]);
        assert_eq!(names(&set, H), [("a".into(), "retired"), ("b".into(), "active")]);
        assert_eq!(names(&set, 11 * H), [("a".into(), "expired"), ("b".into(), "active")]);
        let mut set = set;
        set.keys[0].revoked = true;
        assert_eq!(names(&set, H / 2), [("b".into(), "pending"), ("a".into(), "revoked")]);
    }

    #[test]
    fn every_algorithm_has_its_own_timeline() {
        use KeyAlg::{ES256, RS256};
        // RS256 keys added later than EdDSA's, and rotated at other times; ES256 has one.
        let set = KeySet {
            keys: vec![
                key("e1", 0),
                key_of(RS256, "r1", 2 * H),
                key_of(ES256, "s1", 2 * H),
                key("e2", 3 * H),
                key_of(RS256, "r2", 5 * H),
            ],
        };
        let at = |now| names(&set, now);
        // Before any RS256 or ES256 key activates, EdDSA alone signs.
        assert_eq!(
            at(H),
            pairs(&[
                ("e1", "active"),
                ("e2", "pending"),
                ("r1", "pending"),
                ("r2", "pending"),
                ("s1", "pending")
            ])
        );
        assert_eq!(
            at(3 * H),
            pairs(&[
                ("e1", "retired"),
                ("e2", "active"),
                ("r1", "active"),
                ("r2", "pending"),
                ("s1", "active")
            ]),
            "e2 taking over retires only e1: one active key per algorithm"
        );
        assert_eq!(
            at(5 * H),
            pairs(&[
                ("e1", "retired"),
                ("e2", "active"),
                ("r1", "retired"),
                ("r2", "active"),
                ("s1", "active")
            ])
        );
        // Each retired key verifies for the lifetime after its own successor took over.
        let until: Vec<(String, Option<Micros>)> =
            states(&set, 5 * H, 10 * H).into_iter().map(|(k, _, u)| (k.kid.clone(), u)).collect();
        assert_eq!(until[0], ("e1".into(), Some(13 * H)));
        assert_eq!(until[2], ("r1".into(), Some(15 * H)));
        assert_eq!(at(13 * H)[0], ("e1".into(), "expired"));
        assert_eq!(at(13 * H)[2], ("r1".into(), "retired"));
        assert_eq!(at(15 * H)[2], ("r1".into(), "expired"));
        // Withdrawal is per key: a revoked RSA key leaves the EdDSA timeline alone.
        let mut set = set;
        set.keys[4].revoked = true;
        assert_eq!(
            names(&set, 5 * H),
            pairs(&[
                ("e1", "retired"),
                ("e2", "active"),
                ("r1", "active"),
                ("s1", "active"),
                ("r2", "revoked")
            ])
        );
    }

    #[test]
    fn the_algorithms_a_rotation_renews() {
        let mut set = KeySet { keys: vec![key("e1", 0)] };
        assert_eq!(algs_in_use(&set), [Alg::EdDSA]);
        set.keys.push(key_of(KeyAlg::ES256, "s1", 0));
        assert_eq!(algs_in_use(&set), [Alg::EdDSA, Alg::ES256]);
        set.keys[1].revoked = true;
        assert_eq!(algs_in_use(&set), [Alg::EdDSA], "a withdrawn algorithm is not brought back");
        assert!(has_live(&set, Alg::EdDSA) && !has_live(&set, Alg::ES256) && !has_live(&set, Alg::RS256));
        assert_eq!(algs_in_use(&KeySet::default()), [Alg::EdDSA]);
    }
}
