//! The load generator's OpenID scenarios. `code`: the token endpoint exchanging an
//! authorization code (PKCE S256, a public trusted client); the authorization
//! request that makes each code is sent first on the same connection, outside the
//! statistics. `userinfo`: GET /oidc/userinfo with an access token each connection
//! got from one code flow before the clock started.

use super::{request, Conn, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{COOKIE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use serde_json::Value;

/// The PKCE verifier of every flow (the benchmark measures the server, not secrecy).
const VERIFIER: &str = "loadgen-pkce-verifier-0123456789-abcdefghijklmnopqrstuv";
const FORM: &str = "application/x-www-form-urlencoded";

/// The registered client the OpenID scenarios sign in to.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub redirect_uri: String,
}

fn challenge() -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, VERIFIER.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// Signs `user` in as the pages do; returns the session cookie (`name=value`).
pub async fn session(ctx: &Ctx, conn: &mut Conn, user: &str) -> Result<String> {
    let form = serde_urlencoded::to_string([("username", user), ("password", ctx.password.as_str())])?;
    let req = request(Method::POST, "/api/v1/auth/login", None, FORM, form.into())?;
    let (status, headers, body) = conn.send_full(req, ctx.timeout).await?;
    if status != StatusCode::OK {
        bail!("page sign-in as {user}: {status} {}", String::from_utf8_lossy(&body));
    }
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no gatehouse_session cookie"))
}

/// One authorization request with the browser session: the code it redirects with.
pub async fn code(ctx: &Ctx, conn: &mut Conn, cookie: &str, client: &Client) -> Result<String> {
    let q = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("state", "lg"),
        ("code_challenge", challenge().as_str()),
        ("code_challenge_method", "S256"),
    ])?;
    let mut req = request(Method::GET, &format!("/oidc/authorize?{q}"), None, "", Bytes::new())?;
    req.headers_mut().insert(COOKIE, cookie.parse()?);
    let (status, headers, body) = conn.send_full(req, ctx.timeout).await?;
    let location = headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .with_context(|| format!("authorize: {status} to '{location}' {}", String::from_utf8_lossy(&body)))
}

/// The token request that exchanges `code` (public client: PKCE, no secret).
pub fn exchange(client: &Client, code: &str) -> Result<Request<Full<Bytes>>> {
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("client_id", client.id.as_str()),
        ("code_verifier", VERIFIER),
    ])?;
    request(Method::POST, "/api/v1/auth/token", None, FORM, form.into())
}

/// An access token for the client: a page sign-in, a code, its exchange.
pub async fn access_token(ctx: &Ctx, conn: &mut Conn, user: &str, client: &Client) -> Result<String> {
    let cookie = session(ctx, conn, user).await?;
    let code = code(ctx, conn, &cookie, client).await?;
    let (status, body) = conn.send(exchange(client, &code)?, ctx.timeout).await?;
    if status != StatusCode::OK {
        bail!("code exchange: {status} {}", String::from_utf8_lossy(&body));
    }
    let v: Value = serde_json::from_slice(&body)?;
    v.get("access_token").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| anyhow!("no access_token"))
}

/// GET /oidc/userinfo.
pub fn userinfo(token: &str) -> Result<Request<Full<Bytes>>> {
    request(Method::GET, "/oidc/userinfo", Some(token), "", Bytes::new())
}
