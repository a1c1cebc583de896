//! Writers at the same moment (issue 16: concurrent write transactions share one
//! durable commit). Each case mixes writes so that they land in the same batches,
//! and checks that the single-writer guarantees are unchanged: exact counts, one
//! winner for one refresh token, a refusal that stays its own.

use crate::harness::*;
use gatehouse::store::records::Role;
use serde_json::{json, Value};

const TOKEN: &str = "/api/v1/auth/token";
const REFRESH: &str = "/api/v1/auth/refresh";

async fn all<F>(tasks: Vec<tokio::task::JoinHandle<F>>) -> Vec<F> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failures_below_the_limit_are_counted_exactly() {
    let t = TestServer::start_with(&["--max-failed-logins", "1000"]).await;
    t.register("alice").await;
    let tasks = (0..24)
        .map(|_| {
            let c = t.client.clone();
            tokio::spawn(async move {
                c.call(post_form(TOKEN, &[("username", "alice"), ("password", "WrongPass123!")])).await.status
            })
        })
        .collect();
    assert!(all(tasks).await.iter().all(|s| *s == 401));
    let user = t.server.as_ref().unwrap().auth().user_by_name("alice").unwrap();
    assert_eq!(user.failed_logins, 24, "every failure saw the one before it");
    assert_eq!(user.locked_until, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failures_lock_at_exactly_the_limit_once() {
    let t = TestServer::start_with(&["--max-failed-logins", "5"]).await;
    let (_, admin) = t.as_role("root", Role::Admin).await;
    t.register("alice").await;
    let tasks = (0..24)
        .map(|_| {
            let c = t.client.clone();
            tokio::spawn(async move {
                let r =
                    c.call(post_form(TOKEN, &[("username", "alice"), ("password", "WrongPass123!")])).await;
                (r.status, r.header("retry-after").is_some())
            })
        })
        .collect();
    let seen = all(tasks).await;
    assert!(seen.iter().all(|(s, _)| *s == 401), "{seen:?}");
    // Four plain refusals, then the fifth failure locks, and every later attempt is
    // told it is locked, whichever batch it shared.
    assert_eq!(seen.iter().filter(|(_, locked)| !locked).count(), 4, "{seen:?}");
    let user = t.server.as_ref().unwrap().auth().user_by_name("alice").unwrap();
    assert_eq!(user.failed_logins, 5);
    assert!(user.locked_until.is_some());
    let metrics = t.check(get("/metrics").bearer(&admin), 200, None).await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(text.contains("gatehouse_lockouts_total 1\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_winner_for_a_contested_token_while_other_writes_succeed() {
    let t = TestServer::start().await;
    t.register("alice").await;
    let contested = t.login("alice").await["refresh_token"].clone();
    let mut own = Vec::new();
    for _ in 0..8 {
        own.push(t.login("alice").await["refresh_token"].clone());
    }
    let refresh = |token: Value| {
        let c = t.client.clone();
        tokio::spawn(async move { c.call(post_json(REFRESH, json!({"refresh_token": token}))).await.status })
    };
    let racers: Vec<_> = (0..12).map(|_| refresh(contested.clone())).collect();
    let owners: Vec<_> = own.into_iter().map(refresh).collect();
    let newcomers: Vec<_> = (0..8)
        .map(|i| {
            let c = t.client.clone();
            let body = json!({"username": format!("new{i}"), "email": format!("new{i}@example.com"), "password": PASSWORD});
            tokio::spawn(async move { c.call(post_json("/api/v1/users/register", body)).await.status })
        })
        .collect();
    let racers = all(racers).await;
    assert_eq!(racers.iter().filter(|s| **s == 200).count(), 1, "{racers:?}");
    assert!(racers.iter().all(|s| *s == 200 || *s == 401), "{racers:?}");
    let owners = all(owners).await;
    let newcomers = all(newcomers).await;
    // The racers' reuse revoked alice's other sessions, but only after the winner;
    // whatever each owner saw, it was a definite answer, never a failure of the store.
    assert!(owners.iter().all(|s| *s == 200 || *s == 401), "{owners:?}");
    assert_eq!(newcomers, vec![201; 8], "registrations are untouched by the refresh race");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_registration_does_not_fail_its_neighbours() {
    let t = TestServer::start().await;
    t.register("taken").await;
    let tasks = (0..12)
        .map(|i| {
            let c = t.client.clone();
            let name = if i % 4 == 0 { "taken".to_owned() } else { format!("user{i}") };
            let body = json!({"username": name, "email": format!("u{i}@example.com"), "password": PASSWORD});
            tokio::spawn(async move { c.call(post_json("/api/v1/users/register", body)).await.status })
        })
        .collect();
    let mut statuses = all(tasks).await;
    statuses.sort();
    assert_eq!(statuses, [vec![201; 9], vec![409; 3]].concat());
}
