//! Ending tokens: logout (the presented access token and one refresh session),
//! RFC 7009 revocation by whoever holds a token, and revoking one session, which
//! refuses every access token carrying its id.

use super::fixture::*;
use crate::domain::revocation::Revoked;
use crate::domain::Error;

#[test]
fn logout_ends_its_session_and_the_presented_token_only() {
    let f = Fixture::new();
    f.register("alice");
    let phone = f.login("alice");
    let laptop = f.login("alice");
    f.auth.logout(&ctx(), &f.who(&phone), &phone.refresh_token).unwrap();
    assert_eq!(err(f.auth.authenticate(&phone.access_token)), is(REVOKED));
    assert_eq!(err(f.auth.refresh(&ctx(), &phone.refresh_token)), is(REVOKED));
    f.who(&laptop);
    f.auth.refresh(&ctx(), &laptop.refresh_token).unwrap();
}

#[test]
fn logout_refuses_someone_elses_refresh_token() {
    let f = Fixture::new();
    f.register("alice");
    f.register("mallory");
    let alice = f.login("alice");
    let mallory = f.who(&f.login("mallory"));
    let invalid = is(Error::BadRequest("Invalid token"));
    assert_eq!(err(f.auth.logout(&ctx(), &mallory, &alice.refresh_token)), invalid);
    assert_eq!(err(f.auth.logout(&ctx(), &mallory, "not-a-token")), invalid);
    f.auth.refresh(&ctx(), &alice.refresh_token).unwrap();
}

#[test]
fn revoking_an_access_token_denylists_it_once() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    assert_eq!(f.auth.revoke_token(&ctx(), &pair.access_token).unwrap(), Revoked::AccessToken);
    assert_eq!(err(f.auth.authenticate(&pair.access_token)), is(REVOKED));
    assert_eq!(f.auth.revoke_token(&ctx(), &pair.access_token).unwrap(), Revoked::Nothing);
    // The session goes on: its refresh token still works.
    let next = f.auth.refresh(&ctx(), &pair.refresh_token).unwrap();
    f.who(&next);
}

#[test]
fn revoking_a_refresh_token_ends_its_whole_session() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    let other = f.login("alice");
    let rotated = f.auth.refresh(&ctx(), &pair.refresh_token).unwrap();
    assert_eq!(f.auth.revoke_token(&ctx(), &rotated.refresh_token).unwrap(), Revoked::Session);
    for p in [&pair, &rotated] {
        assert_eq!(
            err(f.auth.authenticate(&p.access_token)),
            is(REVOKED),
            "every access token of the session"
        );
    }
    assert_eq!(err(f.auth.refresh(&ctx(), &rotated.refresh_token)), is(REVOKED));
    assert_eq!(f.auth.revoke_token(&ctx(), &rotated.refresh_token).unwrap(), Revoked::Nothing);
    f.who(&other);
}

#[test]
fn revoking_what_is_not_a_live_token_is_not_an_error() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    for token in ["garbage", "a.b.c", "gh_madeup"] {
        assert_eq!(f.auth.revoke_token(&ctx(), token).unwrap(), Revoked::Nothing, "{token}");
    }
    f.advance(1800);
    assert_eq!(f.auth.revoke_token(&ctx(), &pair.access_token).unwrap(), Revoked::Nothing, "expired");
}

#[test]
fn a_revoked_session_refuses_its_access_tokens() {
    let f = Fixture::new();
    f.register("alice");
    let phone = f.login("alice");
    let laptop = f.login("alice");
    let me = f.who(&laptop);
    let phone_sid = f.who(&phone).session_id().unwrap().to_owned();
    let listed: Vec<_> = f.auth.sessions(&me).unwrap().into_iter().map(|s| (s.id, s.current)).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&(phone_sid.clone(), false)));
    f.auth.revoke_session(&ctx(), &me, &phone_sid).unwrap();
    assert_eq!(err(f.auth.authenticate(&phone.access_token)), is(REVOKED));
    assert_eq!(err(f.auth.refresh(&ctx(), &phone.refresh_token)), is(REVOKED));
    assert_eq!(err(f.auth.revoke_session(&ctx(), &me, &phone_sid)), is(Error::NotFound("Session not found")));
    // The session in use is untouched, and is the only one listed now.
    f.who(&laptop);
    assert_eq!(f.auth.sessions(&me).unwrap().len(), 1);
}

#[test]
fn revoking_the_session_in_use_signs_out() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    let me = f.who(&pair);
    f.auth.revoke_session(&ctx(), &me, me.session_id().unwrap()).unwrap();
    assert_eq!(err(f.auth.authenticate(&pair.access_token)), is(REVOKED));
    assert_eq!(err(f.auth.refresh(&ctx(), &pair.refresh_token)), is(REVOKED));
}
