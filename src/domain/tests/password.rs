//! Changing the password revokes every token issued before it, exactly, even in
//! the same second; a refused change revokes nothing.

use super::fixture::*;
use crate::domain::Error;

const NEW: &str = "NewSecure456!";
const WRONG_CURRENT: Error = Error::BadRequest("Current password is incorrect");

#[test]
fn a_change_revokes_every_token_issued_before_it_in_the_same_second() {
    let f = Fixture::new();
    f.register("alice");
    let phone = f.login("alice");
    let laptop = f.login("alice");
    f.auth.change_password(&ctx(), &f.who(&phone), PASSWORD, NEW).unwrap();
    // The clock has not moved: issued in the same second, before the change.
    for pair in [&phone, &laptop] {
        assert_eq!(err(f.auth.authenticate(&pair.access_token)), is(REVOKED));
        assert_eq!(err(f.auth.refresh(&ctx(), &pair.refresh_token)), is(REVOKED));
    }
    assert_eq!(err(f.try_login("alice", PASSWORD)), is(BAD_LOGIN));
    // Issued in the same second, after the change: valid.
    let after = f.try_login("alice", NEW).unwrap();
    f.who(&after);
    f.auth.refresh(&ctx(), &after.refresh_token).unwrap();
}

#[test]
fn a_refused_change_revokes_nothing() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    let who = f.who(&pair);
    assert_eq!(err(f.auth.change_password(&ctx(), &who, WRONG, NEW)), is(WRONG_CURRENT));
    assert_eq!(err(f.auth.change_password(&ctx(), &who, "", NEW)), is(WRONG_CURRENT));
    let weak = err(f.auth.change_password(&ctx(), &who, PASSWORD, "weak"));
    assert!(weak.starts_with("Invalid(") && weak.contains("new_password"), "{weak}");
    f.who(&pair);
    f.auth.refresh(&ctx(), &pair.refresh_token).unwrap();
    f.login("alice");
}

#[test]
fn a_change_from_a_stale_principal_is_refused() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    let stale = f.who(&pair);
    f.auth.change_password(&ctx(), &stale, PASSWORD, NEW).unwrap();
    // The same principal, read before the first change, presents the old password
    // again: the stored hash moved on, so the second change is refused.
    assert_eq!(err(f.auth.change_password(&ctx(), &stale, PASSWORD, "Other-Secure789!")), is(WRONG_CURRENT));
    f.try_login("alice", NEW).unwrap();
}
