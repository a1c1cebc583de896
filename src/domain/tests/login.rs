//! Password login and lockout: one refusal for every cause, failures counted
//! exactly (also from parallel threads), and the lock's end when the clock passes it.

use super::fixture::*;
use crate::domain::{Error, Policy};

#[test]
fn the_right_password_opens_a_session_for_the_account() {
    let f = Fixture::new();
    let alice = f.register("alice");
    let pair = f.login("ALICE");
    assert_eq!((pair.user.id, pair.expires_in), (alice.id, 1800));
    assert_eq!(pair.scopes, ["profile:read", "profile:write", "posts:read", "posts:write"]);
    let who = f.who(&pair);
    assert_eq!((who.id(), who.username()), (alice.id, "alice"));
    assert!(who.session_id().is_some());
    assert_eq!(f.account("alice").last_login, Some(micros(T0)));
}

#[test]
fn unknown_wrong_and_deactivated_get_the_same_refusal() {
    let f = Fixture::new();
    f.register("alice");
    f.register("gone");
    let gone = f.who(&f.login("gone"));
    f.auth.deactivate_self(&ctx(), &gone).unwrap();
    assert_eq!(err(f.try_login("alice", WRONG)), is(BAD_LOGIN));
    assert_eq!(err(f.try_login("nobody", PASSWORD)), is(BAD_LOGIN));
    assert_eq!(err(f.try_login("gone", PASSWORD)), is(BAD_LOGIN));
    assert_eq!(err(f.try_login(&"x".repeat(51), PASSWORD)), is(BAD_LOGIN));
}

#[test]
fn a_locked_account_and_a_locked_unknown_name_answer_alike() {
    let f = Fixture::new();
    f.register("alice");
    for name in ["alice", "nobody"] {
        for _ in 0..4 {
            assert_eq!(err(f.try_login(name, WRONG)), is(BAD_LOGIN), "{name}");
        }
        assert_eq!(err(f.try_login(name, WRONG)), is(Error::Locked(1800)), "{name}: the fifth failure locks");
        assert_eq!(err(f.try_login(name, PASSWORD)), is(Error::Locked(1800)), "{name}: locked");
    }
}

#[test]
fn the_fifth_failure_locks_for_thirty_minutes_and_the_lock_ends_on_time() {
    let f = Fixture::new();
    f.register("alice");
    for _ in 0..5 {
        let _ = f.try_login("alice", WRONG);
    }
    let locked = f.account("alice");
    assert_eq!((locked.failed_logins, locked.locked_until), (5, Some(micros(T0 + 1800))));
    f.advance(1799);
    assert_eq!(err(f.try_login("alice", PASSWORD)), is(Error::Locked(1)));
    f.advance(1);
    f.login("alice");
    let after = f.account("alice");
    assert_eq!((after.failed_logins, after.locked_until), (0, None));
}

#[test]
fn a_success_resets_the_count() {
    let f = Fixture::new();
    f.register("alice");
    for _ in 0..4 {
        let _ = f.try_login("alice", WRONG);
    }
    f.login("alice");
    for _ in 0..4 {
        assert_eq!(err(f.try_login("alice", WRONG)), is(BAD_LOGIN));
    }
    assert_eq!(f.account("alice").failed_logins, 4);
    f.login("alice");
}

#[test]
fn the_limit_and_the_lock_follow_the_policy() {
    let f = Fixture::with(Policy {
        max_failed_logins: 2,
        lockout: std::time::Duration::from_secs(60),
        ..Policy::default()
    });
    f.register("alice");
    assert_eq!(err(f.try_login("alice", WRONG)), is(BAD_LOGIN));
    assert_eq!(err(f.try_login("alice", WRONG)), is(Error::Locked(60)));
    f.advance(60);
    f.login("alice");
    let unlimited = Fixture::with(Policy { max_failed_logins: 0, ..Policy::default() });
    unlimited.register("bob");
    for _ in 0..10 {
        assert_eq!(err(unlimited.try_login("bob", WRONG)), is(BAD_LOGIN));
    }
    unlimited.login("bob");
}

#[test]
fn parallel_wrong_passwords_are_counted_exactly() {
    let f = Fixture::new();
    f.register("alice");
    let outcomes: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..5).map(|_| err(f.try_login("alice", WRONG))).collect::<Vec<_>>()))
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let refused = outcomes.iter().filter(|o| **o == is(BAD_LOGIN)).count();
    let locked = outcomes.iter().filter(|o| **o == is(Error::Locked(1800))).count();
    assert_eq!((refused, locked), (4, 16), "{outcomes:?}");
    assert_eq!(f.account("alice").failed_logins, 5, "exactly the limit, however the threads interleave");
}
