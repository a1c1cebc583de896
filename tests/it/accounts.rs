//! Registration, profile, validation and body handling (SPEC §1).

use crate::harness::*;
use serde_json::json;

const REGISTER: &str = "/api/v1/users/register";

#[tokio::test]
async fn register_returns_user_response_without_secrets() {
    let t = TestServer::start().await;
    let r = t
        .check(
            post_json(REGISTER, json!({"username": "NewUser", "email": "New@Example.COM", "password": PASSWORD, "full_name": "New User"})),
            201,
            None,
        )
        .await;
    let u = r.json();
    assert_eq!(u["id"], 1);
    assert_eq!(u["username"], "newuser", "stored lower-case");
    assert_eq!(u["email"], "New@example.com", "domain lower-cased");
    assert_eq!(u["full_name"], "New User");
    assert_eq!(u["role"], "user");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["is_verified"], false);
    assert_eq!(u["created_at"], "2026-01-01T00:00:00.000000Z");
    let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(!String::from_utf8_lossy(&r.body).contains("scrypt"));
}
