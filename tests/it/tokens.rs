//! Login, token use, refresh rotation, logout and revocation (SPEC §1, §2).

use crate::harness::*;

#[tokio::test]
async fn tutorial_flow() {
    let t = TestServer::start().await;
    let token = t.user_token("alice").await;
    let me = t
        .check(get("/api/v1/users/me").bearer(&token), 200, None)
        .await;
    assert_eq!(me.json()["username"], "alice");
}
