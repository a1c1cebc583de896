//! Refresh rotation: each refresh token is good for one exchange; presenting a
//! spent one again is taken as theft and revokes every session and access token of
//! its owner; of N threads racing with one token, exactly one wins.

use super::fixture::*;
use crate::domain::counters::Counters;
use crate::domain::Error;

const INVALID: Error = Error::Unauthenticated("Invalid refresh token");
const REUSE: Error =
    Error::Unauthenticated("Token reuse detected. All sessions revoked. Please log in again.");

#[test]
fn a_refresh_returns_a_new_pair_in_the_same_session() {
    let f = Fixture::new();
    f.register("alice");
    let first = f.login("alice");
    let second = f.auth.refresh(&ctx(), &first.refresh_token).unwrap();
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(f.who(&second).session_id(), f.who(&first).session_id());
    assert_eq!(second.scopes, first.scopes);
    f.auth.refresh(&ctx(), &second.refresh_token).unwrap();
}

#[test]
fn a_spent_token_presented_again_revokes_everything() {
    let f = Fixture::new();
    f.register("alice");
    let phone = f.login("alice");
    let laptop = f.login("alice");
    let rotated = f.auth.refresh(&ctx(), &phone.refresh_token).unwrap();
    assert_eq!(err(f.auth.refresh(&ctx(), &phone.refresh_token)), is(REUSE));
    for pair in [&phone, &laptop, &rotated] {
        assert_eq!(err(f.auth.authenticate(&pair.access_token)), is(REVOKED));
    }
    for pair in [&laptop, &rotated] {
        assert_eq!(err(f.auth.refresh(&ctx(), &pair.refresh_token)), is(REVOKED));
    }
    assert_eq!(Counters::get(&f.auth.counters().reuse_detected), 1);
    let fresh = f.login("alice");
    f.who(&fresh);
    f.auth.refresh(&ctx(), &fresh.refresh_token).unwrap();
}

#[test]
fn of_threads_refreshing_one_token_exactly_one_wins() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    let results: Vec<_> = std::thread::scope(|s| {
        let threads: Vec<_> =
            (0..8).map(|_| s.spawn(|| f.auth.refresh(&ctx(), &pair.refresh_token))).collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(won.len(), 1);
    // Every loser presented a spent token: reuse, so the winner's pair is revoked too.
    assert!(lost.into_iter().all(|r| err(r) == is(REUSE)));
    let winner = won.into_iter().next().unwrap().unwrap();
    assert_eq!(err(f.auth.authenticate(&winner.access_token)), is(REVOKED));
}

#[test]
fn only_live_refresh_tokens_are_exchanged() {
    let f = Fixture::new();
    f.register("alice");
    let pair = f.login("alice");
    assert_eq!(
        err(f.auth.refresh(&ctx(), &pair.access_token)),
        is(Error::Unauthenticated("Invalid token type"))
    );
    assert_eq!(err(f.auth.refresh(&ctx(), "garbage")), is(INVALID));
    assert_eq!(
        err(f.auth.authenticate(&pair.refresh_token)),
        is(Error::Unauthenticated("Invalid token type. Use an access token."))
    );
    f.advance(7 * 86_400 - 1);
    let last = f.auth.refresh(&ctx(), &pair.refresh_token).unwrap();
    f.advance(7 * 86_400);
    assert_eq!(err(f.auth.refresh(&ctx(), &last.refresh_token)), is(INVALID));
}
