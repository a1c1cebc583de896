//! `gatehouse client ...`: the registered OpenID clients, for the operator. The
//! same domain calls as the admin API (`server::handlers::admin_clients`), audited
//! as the operator's; [`client_json`] is the one JSON shape of a client, for
//! scripts (`--json`) and for the API alike.
//!
//! A secret is in the reply of `add` and `rotate-secret` only, once; the database
//! keeps its SHA-256.

use super::Reply;
use crate::clock::rfc3339;
use crate::domain::admin::Actor;
use crate::domain::oidc::clients::{alg_name, parse_alg, ClientInfo, CreatedClient, NewClient};
use crate::domain::{Auth, Ctx, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `client add` asks for, as it travels to the admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddClient {
    /// Name people see.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret; PKCE mandatory.
    #[serde(default)]
    pub public: bool,
    /// No consent page.
    #[serde(default)]
    pub trusted: bool,
    /// Role names allowed to sign in (none: every role).
    #[serde(default)]
    pub allowed_roles: Vec<String>,
    /// `RS256`, `ES256` or `EdDSA`.
    pub id_token_alg: String,
}

/// A client as scripts and the admin API see it (never the secret or its digest).
pub fn client_json(c: &ClientInfo) -> Value {
    let roles: Vec<&str> = c.allowed_roles.iter().map(|r| r.as_str()).collect();
    json!({
        "client_id": c.id, "name": c.name, "public": c.public, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "trusted": c.trusted,
        "allowed_roles": roles, "id_token_signed_response_alg": alg_name(c.id_token_alg),
        "created_at": rfc3339(c.created_at), "updated_at": rfc3339(c.updated_at),
    })
}

/// [`client_json`] with the secret shown this once (`null` for a public client).
pub fn created_json(c: &CreatedClient) -> Value {
    let mut v = client_json(&c.info);
    v["client_secret"] = json!(c.secret);
    v
}

fn roles(names: &[String]) -> Result<Vec<Role>, String> {
    names
        .iter()
        .map(|n| {
            Role::parse(n).ok_or_else(|| {
                format!("unknown role '{n}' for --allowed-role: use user, moderator, admin or super_admin")
            })
        })
        .collect()
}

fn explain(e: crate::domain::Error) -> String {
    super::explain(e).replace("invalid input", "invalid client")
}

/// `client add`.
pub fn add(auth: &Auth, ctx: &Ctx, a: AddClient) -> Result<Reply, String> {
    let alg = parse_alg(&a.id_token_alg).ok_or_else(|| {
        format!("unknown ID-token algorithm '{}': use RS256, ES256 or EdDSA", a.id_token_alg)
    })?;
    let new = NewClient {
        name: a.name,
        redirect_uris: a.redirect_uris,
        post_logout_redirect_uris: a.post_logout_redirect_uris,
        public: a.public,
        trusted: a.trusted,
        allowed_roles: roles(&a.allowed_roles)?,
        id_token_alg: alg,
    };
    let c = auth.create_client(ctx, Actor::Operator, &new).map_err(explain)?;
    let i = &c.info;
    let mut text = match &c.secret {
        Some(secret) => format!(
            "registered client {} (confidential)\n  client_id:     {}\n  client_secret: {secret}\n\
             Store the secret now: it is shown only this once (gatehouse keeps only its hash).",
            i.name, i.id
        ),
        None => format!(
            "registered public client {} (no secret: it must use PKCE)\n  client_id:     {}",
            i.name, i.id
        ),
    };
    text.push_str(&format!("\n  redirect URIs: {}", i.redirect_uris.join(" ")));
    Ok(Reply::ok(text, created_json(&c)))
}

/// `client list`.
pub fn list(auth: &Auth) -> Result<Reply, String> {
    let all = auth.clients().map_err(explain)?;
    if all.is_empty() {
        return Ok(Reply::ok("no clients registered".into(), json!([])));
    }
    let mut text = format!(
        "{:<24} {:<24} {:<12} {:<8} {:<6} REDIRECT URIS",
        "CLIENT_ID", "NAME", "TYPE", "TRUSTED", "ALG"
    );
    for c in &all {
        let kind = if c.public { "public" } else { "confidential" };
        let trusted = if c.trusted { "yes" } else { "no" };
        let alg = alg_name(c.id_token_alg);
        text.push_str(&format!(
            "\n{:<24} {:<24} {kind:<12} {trusted:<8} {alg:<6} {}",
            c.id,
            c.name,
            c.redirect_uris.join(" ")
        ));
    }
    Ok(Reply::ok(text, all.iter().map(client_json).collect()))
}

/// `client show`.
pub fn show(auth: &Auth, id: &str) -> Result<Reply, String> {
    let v = client_json(&auth.client(id).map_err(explain)?);
    let text = v
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k:>28}: {v}")).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    Ok(Reply::ok(text, v))
}

/// `client remove`.
pub fn remove(auth: &Auth, ctx: &Ctx, id: &str) -> Result<Reply, String> {
    let c = auth.remove_client(ctx, Actor::Operator, id).map_err(explain)?;
    let text = format!(
        "removed client {} ({}): its codes and refresh tokens stop working at once, its access tokens at their expiry",
        c.name, c.id
    );
    Ok(Reply::ok(text, client_json(&c)))
}

/// `client rotate-secret`.
pub fn rotate_secret(auth: &Auth, ctx: &Ctx, id: &str) -> Result<Reply, String> {
    let c = auth.rotate_client_secret(ctx, Actor::Operator, id).map_err(explain)?;
    let secret = c.secret.as_deref().unwrap_or_default();
    let text = format!(
        "new secret for client {} ({}); the old one no longer works\n  client_secret: {secret}\n\
         Store it now: it is shown only this once (gatehouse keeps only its hash).",
        c.info.name, c.info.id
    );
    Ok(Reply::ok(text, created_json(&c)))
}
