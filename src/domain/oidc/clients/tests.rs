//! The client registry: secrets shown once and kept as digests, rotation, the
//! audit trail of every change with its actor, updates checked as a whole.

use super::*;
use crate::clock::Clock;
use crate::crypto::password::HashParams;
use crate::domain::access::{Credential, Principal};
use crate::domain::users::NewUser;
use crate::domain::{AuditQuery, Hashing, Policy};

fn open(dir: &std::path::Path) -> Auth {
    let params = HashParams { log_n: 4, r: 8, p: 1 };
    let hashing = Hashing { params, memory_bytes: params.memory_bytes() };
    let at = crate::domain::StoreLocation::Dir(dir.to_path_buf());
    Auth::open(&at, hashing, Clock::pinned(1_767_225_600), Policy::default(), "https://gh.test").unwrap()
}

fn admin(auth: &Auth) -> Principal {
    let new = NewUser {
        username: "ada".into(),
        email: "ada@example.com".into(),
        password: "SecurePass123!".into(),
        full_name: None,
    };
    let id = auth.create_user(&Ctx::cli(), &new, Role::Admin).unwrap().id;
    let user = auth.store.read(|r| r.user(id)).unwrap().unwrap();
    Principal::new(user, &[], Credential::ApiKey { id: "k".into() })
}

fn grafana(public: bool) -> NewClient {
    NewClient {
        name: " Grafana ".into(),
        redirect_uris: vec!["https://grafana.example.com/login/generic_oauth".into()],
        post_logout_redirect_uris: vec![],
        public,
        trusted: false,
        allowed_roles: vec![Role::Admin, Role::User, Role::Admin],
        id_token_alg: IdTokenAlg::RS256,
    }
}

fn last_entry(auth: &Auth) -> crate::domain::AuditEntry {
    auth.audit_log(&AuditQuery { limit: 1, ..AuditQuery::default() }).unwrap().remove(0)
}

#[test]
fn the_secret_is_shown_once_and_kept_as_a_digest() {
    let dir = tempfile::tempdir().unwrap();
    let auth = open(dir.path());
    let created = auth.create_client(&Ctx::cli(), Actor::Operator, &grafana(false)).unwrap();
    let secret = created.secret.unwrap();
    assert_eq!(created.info.name, "Grafana", "trimmed");
    assert_eq!(created.info.allowed_roles, [Role::Admin, Role::User], "each role once");
    let stored = auth.store.read(|r| r.client(&created.info.id)).unwrap().unwrap();
    assert_eq!(stored.secret, Some(sha256(secret.as_bytes())));
    assert!(auth.authenticate_client(&created.info.id, Some(&secret)).is_ok());
    assert!(auth.authenticate_client(&created.info.id, Some("wrong")).is_err());
    assert!(
        auth.authenticate_client(&created.info.id, None).is_err(),
        "a confidential client needs its secret"
    );

    let rotated = auth.rotate_client_secret(&Ctx::cli(), Actor::Operator, &created.info.id).unwrap();
    let new_secret = rotated.secret.unwrap();
    assert_ne!(new_secret, secret);
    assert!(auth.authenticate_client(&created.info.id, Some(&secret)).is_err(), "the old one stops at once");
    assert!(auth.authenticate_client(&created.info.id, Some(&new_secret)).is_ok());

    let public = auth.create_client(&Ctx::cli(), Actor::Operator, &grafana(true)).unwrap();
    assert!(public.secret.is_none() && public.info.public);
    assert!(matches!(
        auth.rotate_client_secret(&Ctx::cli(), Actor::Operator, &public.info.id),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn every_change_is_audited_with_who_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let auth = open(dir.path());
    let ada = admin(&auth);
    let by_ada = Actor::Admin(&ada);
    let c = auth.create_client(&Ctx::cli(), by_ada, &grafana(false)).unwrap().info;
    let e = last_entry(&auth);
    assert_eq!((e.event, e.username.as_deref()), (AuditEvent::ClientRegistered, Some("ada")));
    assert_eq!(e.detail.unwrap(), format!("client {} (Grafana): confidential; by ada (id 1)", c.id));

    let u = ClientUpdate {
        name: Some("Grafana".into()),
        trusted: Some(true),
        allowed_roles: Some(vec![Role::User, Role::Admin]),
        ..ClientUpdate::default()
    };
    let info = auth.update_client(&Ctx::cli(), Actor::Operator, &c.id, &u).unwrap();
    assert!(info.trusted);
    let e = last_entry(&auth);
    assert_eq!((e.event, e.user_id), (AuditEvent::ClientUpdated, None));
    let want = format!("client {} (Grafana): changed trusted=true, allowed_roles; by the operator", c.id);
    assert_eq!(e.detail.unwrap(), want, "the unchanged name is not listed");
    auth.update_client(&Ctx::cli(), by_ada, &c.id, &ClientUpdate::default()).unwrap();
    assert!(last_entry(&auth).detail.unwrap().contains("(Grafana): nothing changed; by ada"));

    auth.rotate_client_secret(&Ctx::cli(), by_ada, &c.id).unwrap();
    let e = last_entry(&auth);
    assert_eq!(e.event, AuditEvent::ClientSecretRotated);
    assert_eq!(e.detail.unwrap(), format!("client {} (Grafana); by ada (id 1)", c.id));
    auth.remove_client(&Ctx::cli(), by_ada, &c.id).unwrap();
    assert_eq!(last_entry(&auth).event, AuditEvent::ClientRemoved);
    assert!(matches!(auth.client(&c.id), Err(Error::NotFound(_))));
    assert!(matches!(auth.remove_client(&Ctx::cli(), by_ada, &c.id), Err(Error::NotFound(_))));
}

#[test]
fn an_update_is_checked_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let auth = open(dir.path());
    let c = auth.create_client(&Ctx::cli(), Actor::Operator, &grafana(false)).unwrap().info;
    let bad = ClientUpdate {
        redirect_uris: Some(vec![]),
        post_logout_redirect_uris: Some(vec!["http://grafana.example.com/".into()]),
        ..ClientUpdate::default()
    };
    match auth.update_client(&Ctx::cli(), Actor::Operator, &c.id, &bad) {
        Err(Error::Invalid(list)) => {
            let fields: Vec<&str> = list.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["redirect_uris", "post_logout_redirect_uris"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(auth.client(&c.id).unwrap(), c, "nothing was written");
}
