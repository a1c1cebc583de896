//! `gatehouse client ...` as outside scripts run it (SPEC §9), with the real
//! binary: on a stopped server's data directory and through a running server's
//! admin socket (effective at once, seen at the token endpoint); `--json` puts
//! exactly one JSON object on standard output and nothing else, even with debug
//! logging; failures print nothing there and exit 1 with the domain's reason; no
//! secret reaches the database file or any log.

use crate::binary::{cli, Running};
use crate::harness::*;
use base64::Engine as _;
use serde_json::{json, Value};
use std::path::Path;

const GRAFANA_CB: &str = "https://grafana.example.com/login/generic_oauth";

/// Runs a client command that must succeed; returns its standard output.
async fn ok(dir: &Path, args: &[&str]) -> String {
    let (st, p) = cli(dir, args).await;
    assert!(st.success(), "{args:?}: {}", p.stderr());
    p.stdout()
}

/// Runs a client command that must fail; returns its standard error.
async fn fails(dir: &Path, args: &[&str]) -> String {
    let (st, p) = cli(dir, args).await;
    assert_eq!(st.code(), Some(1), "{args:?}: {}", p.stdout());
    assert_eq!(p.stdout(), "", "{args:?}: nothing on standard output");
    p.stderr()
}

/// Standard output that is one JSON object (or array) on one line, and nothing else.
fn only_json(out: &str) -> Value {
    assert_eq!(out.lines().count(), 1, "one line: {out:?}");
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

/// `{"client_id": ..., "client_secret": ...}`, exactly those two keys.
fn id_and_secret(out: &str) -> (String, Option<String>) {
    let v = only_json(out);
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["client_id", "client_secret"], "{v}");
    (v["client_id"].as_str().unwrap().to_owned(), v["client_secret"].as_str().map(str::to_owned))
}

/// A client's refresh grant with Basic authentication: 401 `invalid_client` for a
/// wrong secret, 400 `invalid_grant` (the bogus token) once the client is known.
async fn token_status(s: &Running, id: &str, secret: &str) -> (u16, Value) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let call = post_form("/api/v1/auth/token", &[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .header("authorization", &format!("Basic {basic}"));
    let r = s.call(call).await;
    (r.status, r.json())
}

fn oauth_error(code: &str, text: &str) -> Value {
    json!({"error": code, "error_description": text, "detail": text})
}

const BAD_CLIENT: &str = "Client authentication failed";
const BAD_GRANT: &str = "the refresh token is invalid, expired or revoked";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_offline_then_through_the_running_server() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let mut secrets = Vec::new();

    // Offline, on the data directory; debug logging still leaves stdout alone.
    let out = ok(
        dir,
        &["--log-level", "debug", "client", "add", "Grafana", "--redirect-uri", GRAFANA_CB, "--json"],
    )
    .await;
    let (grafana, secret) = id_and_secret(&out);
    let secret = secret.expect("a confidential client has a secret");
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    secrets.push(secret.clone());
    let out = ok(
        dir,
        &["client", "add", "CLI tool", "--redirect-uri", "http://127.0.0.1/cb", "--public", "--json"],
    )
    .await;
    let (native, none) = id_and_secret(&out);
    assert_eq!(none, None, "a public client's secret is null");
    assert!(only_json(&out)["client_secret"].is_null());

    let list = only_json(&ok(dir, &["client", "list", "--json"]).await);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["CLI tool", "Grafana"], "by name");
    let shown = only_json(&ok(dir, &["client", "show", &grafana, "--json"]).await);
    assert_eq!(shown["redirect_uris"], json!([GRAFANA_CB]));
    assert_eq!((&shown["public"], &shown["trusted"]), (&json!(false), &json!(false)));
    assert_eq!(shown["id_token_signed_response_alg"], "RS256");
    assert!(shown.get("client_secret").is_none(), "never the secret: {shown}");
    let text = ok(dir, &["client", "show", &native]).await;
    assert!(text.contains("http://127.0.0.1/cb"), "{text}");

    // Failures: the domain's reason on stderr, exit 1, nothing on stdout.
    let err = fails(dir, &["client", "show", "nope", "--json"]).await;
    assert!(err.contains("client not found"), "{err}");
    let err =
        fails(dir, &["client", "add", "X", "--redirect-uri", "http://grafana.example.com/cb", "--json"])
            .await;
    assert!(
        err.contains("invalid client:") && err.contains("uses http:// to a host that is not loopback"),
        "{err}"
    );
    let err = fails(dir, &["client", "rotate-secret", &native]).await;
    assert!(err.contains("A public client has no secret"), "{err}");

    // Through the running server: effective at once.
    let s = Running::start(dir, &[]).await;
    assert_eq!(token_status(&s, &grafana, &secret).await, (400, oauth_error("invalid_grant", BAD_GRANT)));
    let out = ok(
        dir,
        &[
            "client",
            "add",
            "Gitea",
            "--redirect-uri",
            "https://git.example.com/cb",
            "--trusted",
            "--allowed-role",
            "admin",
            "--id-token-alg",
            "EdDSA",
            "--json",
        ],
    )
    .await;
    let (gitea, gitea_secret) = id_and_secret(&out);
    let gitea_secret = gitea_secret.unwrap();
    secrets.push(gitea_secret.clone());
    assert_eq!(token_status(&s, &gitea, &gitea_secret).await, (400, oauth_error("invalid_grant", BAD_GRANT)));
    let shown = only_json(&ok(dir, &["client", "show", &gitea, "--json"]).await);
    assert_eq!((&shown["trusted"], &shown["allowed_roles"]), (&json!(true), &json!(["admin"])));
    assert_eq!(shown["id_token_signed_response_alg"], "EdDSA");

    // Rotation: the old secret stops at once, the new one works.
    let text = ok(dir, &["client", "rotate-secret", &grafana]).await;
    assert!(text.contains("Store it now: it is shown only this once"), "{text}");
    let new_secret = text.lines().find_map(|l| l.trim().strip_prefix("client_secret: ")).unwrap().to_owned();
    secrets.push(new_secret.clone());
    assert_eq!(token_status(&s, &grafana, &secret).await, (401, oauth_error("invalid_client", BAD_CLIENT)));
    assert_eq!(token_status(&s, &grafana, &new_secret).await.0, 400);
    let (id, again) = id_and_secret(&ok(dir, &["client", "rotate-secret", &grafana, "--json"]).await);
    assert_eq!(id, grafana);
    secrets.push(again.unwrap());

    // Removal: the client is gone at once.
    let text = ok(dir, &["client", "remove", &gitea]).await;
    assert!(text.contains("removed client Gitea"), "{text}");
    assert_eq!(token_status(&s, &gitea, &gitea_secret).await.0, 401);
    let err = fails(dir, &["client", "remove", &gitea]).await;
    assert!(err.contains("client not found"), "{err}");
    assert_eq!(only_json(&ok(dir, &["client", "list", "--json"]).await).as_array().unwrap().len(), 2);
    assert_eq!(s.stop("TERM").await.code(), Some(0));

    // The secrets were shown, and only shown: not in the database, not in any log
    // (the server's and every command's standard error, audit lines included).
    let db = crate::pg::stored_bytes(&dir.join("data"));
    let logs: String = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "stderr"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(logs.contains("client_secret_rotated") && logs.contains("client_removed"), "audited");
    for secret in &secrets {
        let found = db.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "a client secret is in the database file");
        assert!(!logs.contains(secret.as_str()), "a client secret is in a log");
    }
}
