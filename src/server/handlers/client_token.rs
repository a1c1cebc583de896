//! The token endpoint's client side (RFC 6749 §4.1.3, §6; SPEC §9): a request that
//! authenticates a client — `client_secret_basic` (HTTP Basic), `client_secret_post`
//! (form fields) or just `client_id` for a public client — is an OpenID client's,
//! and is answered exactly as RFC 6749 §5 says: `{access_token, token_type,
//! expires_in, refresh_token?, id_token?, scope}`, or a 400/401 with `error` and
//! `error_description`. Requests without client credentials keep the tutorial's
//! behaviour (`auth.rs`).

use crate::domain::oidc::exchange::{ClientCredentials, ClientGrant, ClientTokens};
use crate::domain::oidc::OAuthCode;
use crate::domain::Error;
use crate::server::error::ApiError;
use crate::server::request::Req;
use crate::server::respond::{json, no_store, Body};
use crate::server::state::AppState;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

fn oauth(code: OAuthCode, why: &'static str) -> ApiError {
    Error::OAuth(code, why).into()
}

/// The form's fields (a form body only; anything else has none).
pub fn form_pairs(req: &Req) -> Vec<(String, String)> {
    let form = req.head.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
    });
    if form {
        serde_urlencoded::from_bytes(&req.body).unwrap_or_default()
    } else {
        Vec::new()
    }
}

fn field(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
}

/// `Authorization: Basic` credentials, each part form-decoded (RFC 6749 §2.3.1).
fn basic(req: &Req) -> Result<Option<ClientCredentials>, ApiError> {
    let Some(h) = req.head.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some((scheme, value)) = h.trim().split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || oauth(OAuthCode::InvalidClient, "Client authentication failed");
    let raw = STANDARD.decode(value.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| -> Result<String, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={s}")).map_err(|_| bad())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok(Some(ClientCredentials { id: decode(id)?, secret: Some(decode(secret)?).filter(|s| !s.is_empty()) }))
}

/// The client a token request authenticates, if it names one.
pub fn credentials(req: &Req, pairs: &[(String, String)]) -> Result<Option<ClientCredentials>, ApiError> {
    let posted =
        field(pairs, "client_id").map(|id| ClientCredentials { id, secret: field(pairs, "client_secret") });
    match (basic(req)?, posted) {
        (Some(_), Some(p)) if p.secret.is_some() => {
            Err(oauth(OAuthCode::InvalidRequest, "use one client authentication method, not two"))
        }
        (Some(b), Some(p)) if p.id != b.id => {
            Err(oauth(OAuthCode::InvalidRequest, "client_id differs from Basic"))
        }
        (Some(b), _) => Ok(Some(b)),
        (None, p) => Ok(p),
    }
}

/// RFC 6749 §5.1's response.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    scope: String,
}

/// POST /api/v1/auth/token from a client: `authorization_code` or `refresh_token`.
pub async fn token(
    state: &AppState,
    req: &Req,
    pairs: Vec<(String, String)>,
    who: ClientCredentials,
) -> Result<Response<Body>, ApiError> {
    let grant = match field(&pairs, "grant_type").as_deref() {
        Some("authorization_code") => ClientGrant::Code {
            code: field(&pairs, "code")
                .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "code is required"))?,
            redirect_uri: field(&pairs, "redirect_uri"),
            code_verifier: field(&pairs, "code_verifier"),
        },
        Some("refresh_token") => ClientGrant::Refresh {
            token: field(&pairs, "refresh_token")
                .ok_or_else(|| oauth(OAuthCode::InvalidRequest, "refresh_token is required"))?,
        },
        Some(_) => {
            return Err(oauth(
                OAuthCode::UnsupportedGrantType,
                "clients use authorization_code or refresh_token",
            ))
        }
        None => return Err(oauth(OAuthCode::InvalidRequest, "grant_type is required")),
    };
    let ctx = req.ctx();
    let t: ClientTokens = state.blocking(move |auth| auth.client_grant(&ctx, &who, &grant)).await?;
    let body = TokenResponse {
        access_token: t.access_token,
        token_type: "Bearer",
        expires_in: t.expires_in,
        refresh_token: t.refresh_token,
        id_token: t.id_token,
        scope: t.scopes.join(" "),
    };
    Ok(no_store(json(StatusCode::OK, &body)))
}
