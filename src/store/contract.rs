//! The storage interface's contract, run against every engine: the embedded one
//! here, PostgreSQL from `postgres/tests.rs` (when a server is configured). A new
//! engine passes these before anything above the store may use it.

use super::records::oidc::{CodeRecord, ConsentRecord};
use super::records::{
    ApiKeyRecord, AuditEvent, AuditRecord, RefreshSession, RefreshState, Role, SessionRecord, User,
};
use super::*;

pub mod passkeys;

/// A plain user record for the store tests (every engine's, and redb's own).
pub fn user(name: &str, email: &str) -> User {
    User {
        id: 0,
        username: name.into(),
        email: email.into(),
        full_name: None,
        password_hash: "h".into(),
        role: Role::User,
        is_active: true,
        is_verified: false,
        created_at: 0,
        updated_at: 0,
        last_login: None,
        failed_logins: 0,
        locked_until: None,
        token_version: 0,
        session_epoch: 0,
    }
}

/// Inserts `u` in one write transaction.
pub fn insert(store: &Store, u: User) -> Result<User, StoreError> {
    store.write(|tx| tx.insert_user(u.clone()))
}

fn session(user_id: u64, id: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        user_id,
        id: id.into(),
        created_at: 0,
        last_used: 0,
        expires_at,
        ip: None,
        user_agent: None,
        session_epoch: 0,
        revoked: false,
        client_id: None,
        browser_secret: None,
        auth_time: 0,
        amr: vec![],
    }
}

fn audit(at: i64, event: AuditEvent, user_id: Option<u64>) -> AuditRecord {
    AuditRecord { at, event, user_id, username: None, ip: None, user_agent: None, detail: None }
}

/// Every case, in order, on a fresh store each (`fresh` makes one).
pub fn all(fresh: &dyn Fn() -> Store) {
    users_and_unique_indexes(&fresh());
    aborted_closures_keep_nothing(&fresh());
    paging_and_search(&fresh());
    ranges_of_one_user(&fresh());
    audit_log(&fresh());
    expiry(&fresh());
    second_factors(&fresh());
    passkeys::passkeys_and_challenges(&fresh());
}

/// A user's second factors, and the count of users with one kept in step.
pub fn second_factors(store: &Store) {
    use crate::store::records::mfa::{MfaRecord, TotpFactor};
    let with_totp = MfaRecord {
        totp: Some(TotpFactor { secret: vec![7; 20], enrolled_at: 1, last_step: 3 }),
        ..MfaRecord::default()
    };
    store.write(|tx| tx.put_mfa(1, &MfaRecord::default())).unwrap();
    assert_eq!(store.read(|r| r.mfa_users()).unwrap(), 0, "an empty record is no factor");
    store.write(|tx| tx.put_mfa(1, &with_totp)).unwrap();
    store.write(|tx| tx.put_mfa(1, &with_totp)).unwrap();
    store.write(|tx| tx.put_mfa(2, &with_totp)).unwrap();
    assert_eq!(store.read(|r| r.mfa_users()).unwrap(), 2);
    assert_eq!(store.read(|r| r.mfa(1)).unwrap().unwrap().totp.unwrap().last_step, 3);
    assert!(store.write(|tx| tx.delete_mfa(1)).unwrap());
    assert!(!store.write(|tx| tx.delete_mfa(1)).unwrap());
    assert!(store.read(|r| r.mfa(1)).unwrap().is_none());
    assert_eq!(store.read(|r| r.mfa_users()).unwrap(), 1);
}

pub fn users_and_unique_indexes(store: &Store) {
    assert_eq!(insert(store, user("alice", "Alice@Example.com")).unwrap().id, 1);
    assert_eq!(insert(store, user("bob", "bob@example.com")).unwrap().id, 2);
    assert!(matches!(
        insert(store, user("ALICE", "x@example.com")),
        Err(StoreError::Duplicate(UniqueField::Username))
    ));
    assert!(matches!(
        insert(store, user("carol", "alice@EXAMPLE.com")),
        Err(StoreError::Duplicate(UniqueField::Email))
    ));
    let mut a = store.read(|r| r.user_by_name("Alice")).unwrap().unwrap();
    a.email = "BOB@example.com".into();
    assert!(matches!(store.write(|tx| tx.update_user(&a)), Err(StoreError::Duplicate(UniqueField::Email))));
    a.email = "new@example.com".into();
    a.role = Role::Admin;
    store.write(|tx| tx.update_user(&a)).unwrap();
    store
        .read(|r| {
            assert_eq!(r.user_id_by_email("alice@example.com")?, None);
            assert_eq!(r.user_id_by_email("NEW@example.com")?, Some(1));
            let s = r.stats()?;
            assert_eq!((s.total, s.active, s.by_role), (2, 2, [1, 0, 1, 0]));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let b = store.read(|r| r.user(2)).unwrap().unwrap();
    store.write(|tx| tx.delete_user(&b)).unwrap();
    assert_eq!(store.read(|r| r.user_id_by_name("bob")).unwrap(), None);
    assert_eq!(store.read(|r| r.stats()).unwrap().total, 1);
    assert_eq!(insert(store, user("bob", "bob@example.com")).unwrap().id, 3, "ids are never reused");
}

pub fn aborted_closures_keep_nothing(store: &Store) {
    let r: Result<(), StoreError> = store.write(|tx| {
        tx.insert_user(user("alice", "a@example.com"))?;
        Err(StoreError::Database("boom".into()))
    });
    assert!(r.is_err());
    assert_eq!(store.read(|r| r.user_id_by_name("alice")).unwrap(), None);
    assert_eq!(store.read(|r| r.stats()).unwrap().total, 0);
    assert_eq!(insert(store, user("alice", "a@example.com")).unwrap().id, 1, "the aborted id is free again");
}

pub fn paging_and_search(store: &Store) {
    store
        .write(|tx| {
            for i in 0..30 {
                tx.insert_user(user(&format!("u{i:02}"), &format!("mail{i:02}@example.com")))?;
            }
            tx.insert_user(user("alice", "wonder@example.com"))?;
            tx.insert_user(user("bob", "alice.b@example.com"))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let page = store.read(|r| r.users_page(10, 5)).unwrap();
    assert_eq!(page.users.iter().map(|u| u.id).collect::<Vec<_>>(), [11, 12, 13, 14, 15]);
    assert_eq!(page.rows_scanned, 5);
    assert!(store.read(|r| r.users_page(u64::MAX, 10)).unwrap().users.is_empty());
    let u3 = store.read(|r| r.user(3)).unwrap().unwrap();
    store.write(|tx| tx.delete_user(&u3)).unwrap();
    let page = store.read(|r| r.users_page(2, 3)).unwrap();
    assert_eq!(
        page.users.iter().map(|u| u.id).collect::<Vec<_>>(),
        [4, 5, 6],
        "sparse ids: skip counts rows"
    );
    assert_eq!(page.rows_scanned, 5);
    assert_eq!(store.read(|r| r.search_users("AL", 10)).unwrap(), [31, 32]);
    assert_eq!(store.read(|r| r.search_users("u1", 3)).unwrap(), [11, 12, 13]);
    assert_eq!(store.read(|r| r.search_users("mail0", 20)).unwrap().len(), 9, "one was deleted");
    assert!(store.read(|r| r.search_users("zed", 10)).unwrap().is_empty());
}

pub fn ranges_of_one_user(store: &Store) {
    let key = |id: &str, user_id: u64| ApiKeyRecord {
        id: id.into(),
        verifier: [9; 32],
        user_id,
        name: id.into(),
        prefix: "gh_x".into(),
        scopes: None,
        created_at: 0,
        expires_at: None,
        last_used: None,
        legacy: false,
    };
    let consent = ConsentRecord { scopes: vec!["openid".into()], granted_at: 5 };
    store
        .write(|tx| {
            tx.put_api_key(&[1; 16], &key("a", 1))?;
            tx.put_api_key(&[2; 16], &key("b", 1))?;
            tx.put_api_key(&[3; 16], &key("c", 2))?;
            for (u, s) in [(1, "s2"), (1, "s1"), (2, "s3"), (u64::MAX, "last")] {
                tx.put_session(&session(u, s, 10))?;
            }
            tx.put_consent(1, "grafana", &consent)?;
            tx.put_consent(1, "gitea", &consent)?;
            tx.put_consent(2, "grafana", &consent)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let ids =
        |uid| store.read(|r| r.api_keys_of(uid)).unwrap().into_iter().map(|(_, k)| k.id).collect::<Vec<_>>();
    assert_eq!(ids(1), ["a", "b"]);
    store.write(|tx| tx.delete_api_key(&[1; 16], &key("a", 1))).unwrap();
    assert_eq!(ids(1), ["b"]);
    assert!(store.read(|r| r.api_key(&[1; 16])).unwrap().is_none());
    let sessions = |uid, max| {
        store.read(|r| r.sessions_of(uid, max)).unwrap().into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(sessions(1, 10), ["s1", "s2"]);
    assert_eq!(sessions(1, 1), ["s1"]);
    assert_eq!(sessions(2, 10), ["s3"], "a neighbour's rows stay out");
    let consents = store.read(|r| r.consents_of(1)).unwrap();
    assert_eq!(consents.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["gitea", "grafana"]);
    assert!(store.write(|tx| tx.delete_consent(1, "gitea")).unwrap());
    assert!(!store.write(|tx| tx.delete_consent(1, "gitea")).unwrap());
    assert_eq!(store.read(|r| r.consent(2, "grafana")).unwrap(), Some(consent));
}

pub fn audit_log(store: &Store) {
    let h = 3_600_000_000;
    store
        .write(|tx| {
            tx.append_audit(&audit(h, AuditEvent::LoginSuccess, Some(1)))?;
            tx.append_audit(&audit(h + 1, AuditEvent::LoginFailure, Some(2)))?;
            tx.append_audit(&audit(h + 1, AuditEvent::LoginFailure, Some(1)))?;
            tx.append_audit(&audit(2 * h, AuditEvent::Logout, Some(1)))?;
            tx.append_audit(&audit(2 * h + 5, AuditEvent::LoginSuccess, None))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let q = |q: AuditQuery| {
        store.read(|r| r.audit(&q)).unwrap().iter().map(|a| (a.at, a.event)).collect::<Vec<_>>()
    };
    let all = AuditQuery { limit: 100, ..AuditQuery::default() };
    assert_eq!(q(all.clone()).len(), 5);
    assert_eq!(q(all.clone())[0], (2 * h + 5, AuditEvent::LoginSuccess), "newest first");
    assert_eq!(
        q(AuditQuery { user_id: Some(1), ..all.clone() }),
        [(2 * h, AuditEvent::Logout), (h + 1, AuditEvent::LoginFailure), (h, AuditEvent::LoginSuccess)]
    );
    assert_eq!(
        q(AuditQuery { user_id: Some(1), skip: 1, limit: 1, ..all.clone() }),
        [(h + 1, AuditEvent::LoginFailure)]
    );
    assert_eq!(q(AuditQuery { event: Some(AuditEvent::LoginFailure), ..all.clone() }).len(), 2);
    assert_eq!(q(AuditQuery { user_id: Some(1), event: Some(AuditEvent::Logout), ..all.clone() }).len(), 1);
    assert_eq!(q(AuditQuery { since: Some(h + 1), until: Some(2 * h), ..all.clone() }).len(), 2);
    assert_eq!(store.read(|r| r.login_hours(0, 10)).unwrap(), [(1, 1, 2), (2, 1, 0)]);
    assert_eq!(store.write(|tx| tx.trim_audit(3, 100)).unwrap(), 2);
    assert_eq!(q(all.clone()).last(), Some(&(h + 1, AuditEvent::LoginFailure)), "the oldest went first");
    assert_eq!(store.write(|tx| tx.purge_audit(2 * h, 100)).unwrap(), 1);
    assert_eq!(q(AuditQuery { user_id: Some(2), ..all.clone() }), []);
    assert_eq!(store.write(|tx| tx.purge_login_hours(2 * h, 100)).unwrap(), 1);
    assert_eq!(store.read(|r| r.login_hours(0, 10)).unwrap(), [(2, 1, 0)]);
    let counts: HashMap<_, _> = store.counts().unwrap().into_iter().collect();
    assert_eq!((counts["audit"], counts["audit_by_user"], counts["audit_by_event"]), (2, 1, 2));
}

use std::collections::HashMap;

pub fn expiry(store: &Store) {
    let refresh = |family: &str, expires_at| RefreshSession {
        user_id: 1,
        family: family.into(),
        scopes: vec![],
        session_epoch: 0,
        created_at: 0,
        expires_at,
        state: RefreshState::Active,
    };
    let code = |expires_at| CodeRecord {
        client_id: "c".into(),
        user_id: 1,
        redirect_uri: "https://x".into(),
        scopes: vec![],
        nonce: None,
        code_challenge: None,
        auth_time: 0,
        amr: vec![],
        session_epoch: 0,
        expires_at,
        redeemed: None,
    };
    store
        .write(|tx| {
            tx.put_refresh(&[1; 32], &refresh("f1", 10))?;
            tx.put_session(&session(1, "f1", 10))?;
            tx.put_refresh(&[2; 32], &refresh("f2", 30))?;
            tx.put_session(&session(1, "f2", 30))?;
            tx.revoke_jti("old", -5)?;
            tx.revoke_jti("new", 50)?;
            tx.put_code(&[7; 32], &code(10))?;
            tx.put_code(&[8; 32], &code(100))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert!(store.read(|r| r.is_revoked("old")).unwrap());
    let swept = store
        .write(|tx| {
            Ok::<_, StoreError>((
                tx.purge_refresh(20, 10)?,
                tx.purge_denylist(0, 10)?,
                tx.purge_codes(20, 10)?,
            ))
        })
        .unwrap();
    assert_eq!(swept, (1, 1, 1));
    store
        .read(|r| {
            assert!(r.refresh(&[1; 32])?.is_none() && r.refresh(&[2; 32])?.is_some());
            assert!(r.session(1, "f1")?.is_none(), "the session went with its last token");
            assert!(r.session(1, "f2")?.is_some());
            assert!(!r.is_revoked("old")? && r.is_revoked("new")?);
            assert!(r.code(&[7; 32])?.is_none() && r.code(&[8; 32])?.is_some());
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn the_embedded_engine_keeps_the_contract() {
    let dirs = std::cell::RefCell::new(Vec::new());
    all(&|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        dirs.borrow_mut().push(dir);
        store
    });
}

/// Both engines export the same rows for the same writes, and rows exported
/// from one import into the other.
pub fn round_trip(a: &Store, b: &Store) {
    paging_and_search(a);
    ranges_of_one_user(a);
    audit_log(a);
    passkeys::fill(a);
    let rows = |s: &Store| {
        let mut out = Vec::new();
        s.export(&mut |t, k, v| {
            out.push((t, k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    };
    let before = rows(a);
    b.import(&mut |sink| {
        for (t, k, v) in &before {
            sink(t, k, v)?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(rows(b), before);
    assert!(
        matches!(b.import(&mut |_| Ok(())), Err(StoreError::NotEmpty(_))),
        "a non-empty target is refused"
    );
    assert_eq!(b.read(|r| r.search_users("al", 10)).unwrap(), [31, 32]);
    assert_eq!(b.read(|r| r.passkey_by_credential(&[0xa2; 16])).unwrap().map(|p| p.user_id), Some(2));
    assert_eq!(b.read(|r| r.login_hours(0, 10)).unwrap(), a.read(|r| r.login_hours(0, 10)).unwrap());
    // New entries in the copy never reuse a copied key.
    b.write(|tx| tx.append_audit(&audit(2 * 3_600_000_000 + 5, AuditEvent::Logout, Some(1)))).unwrap();
    let n = b.read(|r| r.audit(&AuditQuery { limit: 100, ..AuditQuery::default() })).unwrap().len();
    assert_eq!(n, 3);
}

#[test]
fn rows_copy_between_embedded_stores() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    round_trip(&Store::open(d1.path()).unwrap(), &Store::open(d2.path()).unwrap());
}
