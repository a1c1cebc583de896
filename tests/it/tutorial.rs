//! The tutorial's own test cases (test_auth_system.py), unchanged in intent, run
//! against gatehouse over real TLS.

use crate::harness::*;
use serde_json::json;

async fn registered_user(t: &TestServer) {
    let r = t
        .call(post_json(
            "/api/v1/users/register",
            json!({"username": "testuser", "email": "test@example.com", "password": "TestPass123!", "full_name": "Test User"}),
        ))
        .await;
    assert_eq!(r.status, 201);
}

async fn auth_tokens(t: &TestServer) -> serde_json::Value {
    registered_user(t).await;
    let r = t
        .call(post_form("/api/v1/auth/token", &[("username", "testuser"), ("password", "TestPass123!")]))
        .await;
    assert_eq!(r.status, 200);
    r.json()
}

#[tokio::test]
async fn test_register_success() {
    let t = TestServer::start().await;
    let r = t
        .call(post_json(
            "/api/v1/users/register",
            json!({"username": "newuser", "email": "new@example.com", "password": "SecurePass123!"}),
        ))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["username"], "newuser");
    assert!(r.json().get("hashed_password").is_none());
}

#[tokio::test]
async fn test_register_duplicate_username() {
    let t = TestServer::start().await;
    registered_user(&t).await;
    let r = t
        .call(post_json(
            "/api/v1/users/register",
            json!({"username": "testuser", "email": "different@example.com", "password": "SecurePass123!"}),
        ))
        .await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn test_register_weak_password() {
    let t = TestServer::start().await;
    let r = t
        .call(post_json(
            "/api/v1/users/register",
            json!({"username": "weakuser", "email": "weak@example.com", "password": "weak"}),
        ))
        .await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn test_login_success() {
    let t = TestServer::start().await;
    let data = auth_tokens(&t).await;
    assert!(data.get("access_token").is_some());
    assert!(data.get("refresh_token").is_some());
    assert_eq!(data["token_type"], "bearer");
}

#[tokio::test]
async fn test_login_wrong_password() {
    let t = TestServer::start().await;
    registered_user(&t).await;
    let r = t
        .call(post_form("/api/v1/auth/token", &[("username", "testuser"), ("password", "WrongPass123!")]))
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn test_get_profile_authenticated() {
    let t = TestServer::start().await;
    let tokens = auth_tokens(&t).await;
    let r = t.call(get("/api/v1/users/me").bearer(tokens["access_token"].as_str().unwrap())).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn test_get_profile_no_token() {
    let t = TestServer::start().await;
    assert_eq!(t.call(get("/api/v1/users/me")).await.status, 401);
}

#[tokio::test]
async fn test_get_profile_invalid_token() {
    let t = TestServer::start().await;
    assert_eq!(t.call(get("/api/v1/users/me").bearer("invalid-token")).await.status, 401);
}

#[tokio::test]
async fn test_refresh_success() {
    let t = TestServer::start().await;
    let tokens = auth_tokens(&t).await;
    let r =
        t.call(post_json("/api/v1/auth/refresh", json!({"refresh_token": tokens["refresh_token"]}))).await;
    assert_eq!(r.status, 200);
    let data = r.json();
    assert_ne!(data["access_token"], tokens["access_token"]);
    assert_ne!(data["refresh_token"], tokens["refresh_token"]);
}

#[tokio::test]
async fn test_refresh_reuse_detection() {
    let t = TestServer::start().await;
    let tokens = auth_tokens(&t).await;
    let body = json!({"refresh_token": tokens["refresh_token"]});
    assert_eq!(t.call(post_json("/api/v1/auth/refresh", body.clone())).await.status, 200);
    let r2 = t.call(post_json("/api/v1/auth/refresh", body)).await;
    assert_eq!(r2.status, 401);
    assert!(r2.detail().to_lowercase().contains("reuse"));
}
