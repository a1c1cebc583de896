//! Signing keys over time: which key signs, which keys verify, and rotation.
//!
//! Every key has an activation time. At any moment the newest key whose activation
//! has passed signs; a key being rotated in is published (JWKS, and accepted for
//! verification) from the moment it is created, `key_lead` before it signs, so
//! caches holding the JWKS know it before any token carries it. A key that a newer
//! one has replaced keeps verifying for the longest token lifetime after that, so
//! every token it signed can expire naturally, and is then dropped. An emergency
//! rotation activates the new key at once and withdraws every older key: their
//! tokens stop verifying immediately.

use super::{Auth, Error};
use crate::clock::{Clock, Micros};
use crate::crypto::jwt::{self, Keyring, PublicKey};
use crate::store::records::{KeySet, SigningKeyRecord};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// The keyring in force, and when it next changes by itself.
#[derive(Debug)]
pub struct Loaded {
    ring: Arc<Keyring>,
    /// The next activation or expiry, after which the keyring must be rebuilt.
    next_change: Option<Micros>,
}

/// A key as `gatehouse keys list` and the JWKS see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
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
    /// Raw Ed25519 public key.
    pub public: Vec<u8>,
}

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Each key's state at `now`, oldest activation first.
fn states(
    set: &KeySet,
    now: Micros,
    lifetime: Micros,
) -> Vec<(&SigningKeyRecord, &'static str, Option<Micros>)> {
    let mut live: Vec<&SigningKeyRecord> = set.keys.iter().filter(|k| !k.revoked).collect();
    live.sort_by_key(|k| k.activates_at);
    let signer = live.iter().rev().find(|k| k.activates_at <= now).map(|k| k.kid.clone());
    let mut out = Vec::new();
    for (i, k) in live.iter().enumerate() {
        let successor = live.get(i + 1).filter(|n| n.activates_at <= now);
        let until = successor.map(|n| n.activates_at.saturating_add(lifetime));
        let state = if Some(&k.kid) == signer.as_ref() {
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
    for k in set.keys.iter().filter(|k| k.revoked) {
        out.push((k, "revoked", None));
    }
    out
}

fn build(set: &KeySet, now: Micros, issuer: &str, lifetime: Micros) -> Result<Loaded, Error> {
    let st = states(set, now, lifetime);
    let signer = st
        .iter()
        .find(|(_, s, _)| *s == "active")
        .ok_or_else(|| Error::Internal("no active signing key".into()))?;
    let mut others: Vec<PublicKey> = Vec::new();
    for (k, s, _) in &st {
        if matches!(*s, "pending" | "retired") {
            others.push(jwt::public_key(&k.pkcs8).map_err(|e| Error::Internal(e.to_string()))?);
        }
    }
    let ring = Keyring::new(&signer.0.pkcs8, &others, issuer).map_err(|e| Error::Internal(e.to_string()))?;
    let next_change = st
        .iter()
        .filter_map(|(k, s, until)| match *s {
            "pending" => Some(k.activates_at),
            "retired" => *until,
            _ => None,
        })
        .min();
    Ok(Loaded { ring: Arc::new(ring), next_change })
}

fn new_key(clock: &Clock, activates_at: Micros) -> Result<SigningKeyRecord, Error> {
    let pkcs8 = jwt::generate_pkcs8().map_err(|e| Error::Internal(e.to_string()))?;
    let public = jwt::public_key(&pkcs8).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(SigningKeyRecord {
        kid: public.kid,
        pkcs8,
        created_at: clock.now_micros(),
        activates_at,
        revoked: false,
    })
}

/// Loads the keys (creating the first one when `create` and there is none) and
/// builds the keyring in force now.
pub fn load(
    store: &Store,
    clock: &Clock,
    issuer: &str,
    lifetime: Duration,
    create: bool,
) -> Result<Loaded, Error> {
    let mut set = store.read(|r| r.keys())?;
    if set.keys.iter().all(|k| k.revoked) && create {
        set = store.write(|tx| {
            let mut set = tx.keys()?;
            if set.keys.iter().all(|k| k.revoked) {
                set.keys.push(new_key(clock, clock.now_micros())?);
                tx.put_keys(&set)?;
            }
            Ok::<_, Error>(set)
        })?;
    }
    build(&set, clock.now_micros(), issuer, micros(lifetime))
}

impl Auth {
    /// The keyring in force (a cheap `Arc` clone). When a pending key's activation
    /// or a retired key's expiry has passed, it is rebuilt first.
    pub fn keyring(&self) -> Arc<Keyring> {
        let now = self.clock.now_micros();
        if let Ok(k) = self.keys.read() {
            if k.next_change.is_none_or(|t| now < t) {
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
        match (self.keys.write(), fresh) {
            (Ok(mut k), Ok(new)) => {
                *k = new;
                Arc::clone(&k.ring)
            }
            (Ok(k), Err(e)) => {
                tracing::error!(error = %e, "could not reload signing keys; keeping the current ones");
                Arc::clone(&k.ring)
            }
            (Err(poisoned), _) => Arc::clone(&poisoned.into_inner().ring),
        }
    }

    fn issuer(&self) -> String {
        match self.keys.read() {
            Ok(k) => k.ring.issuer().to_owned(),
            Err(p) => p.into_inner().ring.issuer().to_owned(),
        }
    }

    /// Every key and its state now, for `keys list`.
    pub fn list_signing_keys(&self) -> Result<Vec<KeyInfo>, Error> {
        let set = self.store.read(|r| r.keys())?;
        let lifetime = micros(self.policy.max_token_lifetime());
        let mut out = Vec::new();
        for (k, state, until) in states(&set, self.clock.now_micros(), lifetime) {
            let public = jwt::public_key(&k.pkcs8).map_err(|e| Error::Internal(e.to_string()))?.bytes;
            out.push(KeyInfo {
                kid: k.kid.clone(),
                state,
                created_at: k.created_at,
                activates_at: k.activates_at,
                verifies_until: until,
                public,
            });
        }
        Ok(out)
    }

    /// The keys a verifier should know now (pending, active, retired): the JWKS.
    pub fn published_keys(&self) -> Vec<PublicKey> {
        self.keyring().public_keys()
    }

    /// Creates a new signing key that activates after the configured lead time (or
    /// at once, withdrawing every older key, when `emergency`). Keys whose tokens
    /// have all expired are deleted. Returns the new key's id.
    pub fn rotate_keys(&self, emergency: bool) -> Result<String, Error> {
        self.rotate_keys_with_lead(emergency, self.policy.key_lead)
    }

    /// [`Auth::rotate_keys`] with an explicit lead time.
    pub fn rotate_keys_with_lead(&self, emergency: bool, lead: Duration) -> Result<String, Error> {
        let now = self.clock.now_micros();
        let lifetime = micros(self.policy.max_token_lifetime());
        let activates = if emergency { now } else { now.saturating_add(micros(lead)) };
        let key = new_key(&self.clock, activates)?;
        let kid = key.kid.clone();
        self.store.write(|tx| {
            let mut set = tx.keys()?;
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
            set.keys.push(key);
            tx.put_keys(&set)?;
            Ok::<_, Error>(())
        })?;
        self.reload_keys();
        Ok(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Micros = 3_600_000_000;

    fn key(id: &str, activates_at: Micros) -> SigningKeyRecord {
        SigningKeyRecord { kid: id.into(), pkcs8: vec![], created_at: 0, activates_at, revoked: false }
    }

    fn names(set: &KeySet, now: Micros) -> Vec<(String, &'static str)> {
        states(set, now, 10 * H).into_iter().map(|(k, s, _)| (k.kid.clone(), s)).collect()
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
}
