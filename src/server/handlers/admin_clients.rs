//! /api/v1/admin/clients: the OpenID clients (the tools that sign people in
//! through gatehouse) for the admin page and scripts: list, register, show, change,
//! remove, and a new secret. A secret is in the answer to a registration or a
//! rotation only, once, with `Cache-Control: no-store`; the database keeps its
//! SHA-256. Every change is audited by the domain, naming the admin.
//!
//! Who may (the route table's rows): admins and super_admins see the clients
//! (`role admin/super_admin`, scope `admin`, Bearer or API key: nothing secret
//! is listed). Changing them takes `manage:system`, which only a super_admin
//! holds, with a Bearer token (scope `admin`), never an API key: a client's
//! settings are access policy for every account, not user administration. Its
//! allowed roles are what keeps a tool for super_admins closed to admins, its
//! trusted flag skips the consent page for every user, and its redirect URIs
//! decide where sign-ins of anyone who follows a link are sent. An admin who
//! could change those could widen a tool's allowed roles to let themselves in, or
//! register a trusted client that collects sign-ins of accounts above theirs,
//! which the tutorial's rules never let an admin touch. The operator's CLI
//! (`gatehouse client ...`) can do everything, as for users.

use crate::domain::admin::Actor;
use crate::domain::oidc::clients::{parse_alg, ClientUpdate, IdTokenAlg, NewClient};
use crate::domain::Role;
use crate::ops::clients::{client_json, created_json};
use crate::server::error::ApiError;
use crate::server::extract::{json_object, Fields};
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use hyper::{Response, StatusCode};
use serde_json::Value;

const ROLES: [&str; 4] = ["user", "moderator", "admin", "super_admin"];
const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// Role names already checked against [`ROLES`].
fn roles(names: Option<Vec<String>>) -> Option<Vec<Role>> {
    names.map(|n| n.iter().filter_map(|r| Role::parse(r)).collect())
}

/// GET: every client, by name.
pub fn list(state: &AppState) -> Result<Response<Body>, ApiError> {
    let all: Vec<Value> = state.auth.clients()?.iter().map(client_json).collect();
    Ok(json(StatusCode::OK, &all))
}

/// POST `{name, redirect_uris, post_logout_redirect_uris?, public?, trusted?,
/// allowed_roles?, id_token_signed_response_alg?}` → 201 with `client_secret`.
pub async fn create(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let name = f.required("name");
    let redirect_uris = f.required_strings("redirect_uris");
    let post_logout_redirect_uris = f.optional_strings("post_logout_redirect_uris").unwrap_or_default();
    let public = f.optional_bool("public").unwrap_or(false);
    let trusted = f.optional_bool("trusted").unwrap_or(false);
    let allowed_roles = roles(f.optional_choices("allowed_roles", &ROLES)).unwrap_or_default();
    let alg = f.optional_choice("id_token_signed_response_alg", &ALGS);
    f.finish()?;
    let new = NewClient {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        public,
        trusted,
        allowed_roles,
        id_token_alg: alg.as_deref().and_then(parse_alg).unwrap_or(IdTokenAlg::RS256),
    };
    let created = state.blocking(move |auth| auth.create_client(&ctx, Actor::Admin(&who), &new)).await?;
    Ok(no_store(json(StatusCode::CREATED, &created_json(&created))))
}

/// GET /{client_id}.
pub fn get(state: &AppState, req: &Req) -> Result<Response<Body>, ApiError> {
    Ok(json(StatusCode::OK, &client_json(&state.auth.client(req.param("client_id"))?)))
}

/// PUT /{client_id}: each field given (and not null) replaces the old value;
/// `public` cannot change.
pub async fn update(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let id = req.param("client_id").to_owned();
    let mut f = Fields::new(json_object(&req.head, &req.body)?);
    let update = ClientUpdate {
        name: f.optional("name"),
        redirect_uris: f.optional_strings("redirect_uris"),
        post_logout_redirect_uris: f.optional_strings("post_logout_redirect_uris"),
        trusted: f.optional_bool("trusted"),
        allowed_roles: roles(f.optional_choices("allowed_roles", &ROLES)),
        id_token_alg: f.optional_choice("id_token_signed_response_alg", &ALGS).and_then(|a| parse_alg(&a)),
    };
    f.finish()?;
    let info = state.blocking(move |auth| auth.update_client(&ctx, Actor::Admin(&who), &id, &update)).await?;
    Ok(json(StatusCode::OK, &client_json(&info)))
}

/// DELETE /{client_id} → 204.
pub async fn delete(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let id = req.param("client_id").to_owned();
    state.blocking(move |auth| auth.remove_client(&ctx, Actor::Admin(&who), &id)).await?;
    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// POST /{client_id}/rotate-secret → 200 with the new `client_secret`.
pub async fn rotate_secret(state: &AppState, req: Req) -> Result<Response<Body>, ApiError> {
    let ctx = req.ctx();
    let who = req.caller()?.clone();
    let id = req.param("client_id").to_owned();
    let rotated =
        state.blocking(move |auth| auth.rotate_client_secret(&ctx, Actor::Admin(&who), &id)).await?;
    Ok(no_store(json(StatusCode::OK, &created_json(&rotated))))
}
