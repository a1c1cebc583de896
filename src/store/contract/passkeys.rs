//! The contract's passkey and WebAuthn-challenge clauses: credential ids unique
//! across users, the credential index kept in step, challenges single-use and
//! swept in expiry order.

use crate::store::records::passkeys::{ChallengePurpose, ChallengeRecord, PasskeyRecord};
use crate::store::{Store, StoreError, UniqueField};

fn passkey(user_id: u64, id: &str, credential: u8) -> PasskeyRecord {
    PasskeyRecord {
        id: id.into(),
        user_id,
        credential_id: vec![credential; 16],
        public_key: vec![1, 2, 3],
        user_handle: vec![user_id as u8; 8],
        sign_count: 0,
        name: format!("key {id}"),
        backup_eligible: false,
        transports: vec!["usb".into()],
        created_at: 1,
        last_used_at: None,
    }
}

fn challenge(expires_at: i64) -> ChallengeRecord {
    ChallengeRecord { purpose: ChallengePurpose::Authenticate, expires_at }
}

/// Passkeys of two users and three outstanding challenges (also what
/// `round_trip` copies).
pub fn fill(store: &Store) {
    for p in [passkey(1, "b", 0xb1), passkey(1, "a", 0xa1), passkey(2, "a", 0xa2)] {
        store.write(|tx| tx.insert_passkey(&p)).unwrap();
    }
    for (c, exp) in [(b"c3", 30), (b"c1", 10), (b"c2", 20)] {
        store.write(|tx| tx.put_challenge(c, &challenge(exp))).unwrap();
    }
}

/// Every passkey and challenge method.
pub fn passkeys_and_challenges(store: &Store) {
    fill(store);
    let ids = |u| store.read(|r| r.passkeys_of(u)).unwrap().into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(1), ["a", "b"], "in id order");
    assert_eq!(ids(2), ["a"]);
    let found = store.read(|r| r.passkey_by_credential(&[0xa2; 16])).unwrap().unwrap();
    assert_eq!((found.user_id, found.id.as_str()), (2, "a"));
    assert!(
        matches!(
            store.write(|tx| tx.insert_passkey(&passkey(3, "z", 0xa1))),
            Err(StoreError::Duplicate(UniqueField::Credential))
        ),
        "a credential id belongs to one user"
    );
    let mut used = passkey(1, "a", 0xa1);
    used.sign_count = 9;
    store.write(|tx| tx.update_passkey(&used)).unwrap();
    assert_eq!(store.read(|r| r.passkey(1, "a")).unwrap().unwrap().sign_count, 9);
    assert!(
        store.write(|tx| tx.update_passkey(&passkey(1, "a", 0x77))).is_err(),
        "credential ids never change"
    );
    assert!(store.write(|tx| tx.delete_passkey(1, "a")).unwrap());
    assert!(!store.write(|tx| tx.delete_passkey(1, "a")).unwrap());
    assert!(
        store.read(|r| r.passkey_by_credential(&[0xa1; 16])).unwrap().is_none(),
        "the index entry went too"
    );
    store.write(|tx| tx.insert_passkey(&passkey(3, "z", 0xa1))).unwrap();

    assert_eq!(store.write(|tx| tx.take_challenge(b"c2")).unwrap(), Some(challenge(20)));
    assert_eq!(store.write(|tx| tx.take_challenge(b"c2")).unwrap(), None, "single use");
    store.write(|tx| tx.put_challenge(b"c3", &challenge(40))).unwrap();
    store.write(|tx| tx.put_challenge(b"c4", &challenge(50))).unwrap();
    assert_eq!(store.write(|tx| tx.purge_challenges(10, 100)).unwrap(), 0, "expiring at `now` is kept");
    assert_eq!(store.write(|tx| tx.purge_challenges(11, 100)).unwrap(), 1);
    assert_eq!(store.write(|tx| tx.trim_challenges(1, 100)).unwrap(), 1, "the first to expire goes");
    assert_eq!(store.write(|tx| tx.take_challenge(b"c3")).unwrap(), None);
    assert_eq!(store.write(|tx| tx.take_challenge(b"c4")).unwrap(), Some(challenge(50)));
    assert_eq!(store.write(|tx| tx.trim_challenges(0, 100)).unwrap(), 0);
}
