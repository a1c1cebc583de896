//! The authorization endpoint's decisions (RFC 6749 §4.1, OpenID Connect Core
//! §3.1.2): check a request, then — given the signed-in browser, if any — decide
//! what happens next: sign in, consent, or back to the client with a code or an
//! error.
//!
//! Until the client and its redirect URI are known good, an error is shown to the
//! user and never sent anywhere ([`Refusal::Page`]); after, errors go back to the
//! client ([`Refusal::Redirect`]). Every response to the client carries `iss`
//! (RFC 9207) and the request's `state`.

use super::browser::BrowserSession;
use super::clients::ClientInfo;
use super::{has_scope, redirect_uri, OAuthCode, CODE_TTL_SECS};
use crate::clock::Micros;
use crate::crypto::secrets::{b64url, random_bytes, sha256};
use crate::domain::roles::{known_scope, scope_allowed};
use crate::domain::{AuditEvent, Auth, Ctx, Error};
use crate::store::records::oidc::{ClientRecord, CodeRecord, ConsentRecord};

/// An authorization request's parameters as sent (query or form); absent and
/// empty are the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type` (only `code`).
    pub response_type: Option<String>,
    /// `response_mode` (only `query`).
    pub response_mode: Option<String>,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// `state`, echoed back.
    pub state: Option<String>,
    /// `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// `code_challenge` (PKCE).
    pub code_challenge: Option<String>,
    /// `code_challenge_method` (only `S256`).
    pub code_challenge_method: Option<String>,
    /// `prompt`: `none`, or any of `login`, `consent`, `select_account`.
    pub prompt: Option<String>,
    /// `max_age`, seconds.
    pub max_age: Option<String>,
    /// `login_hint`: a username to offer on the sign-in page.
    pub login_hint: Option<String>,
    /// `request` (request objects are not supported).
    pub request: Option<String>,
    /// `request_uri` (not supported).
    pub request_uri: Option<String>,
    /// Ours: the browser was sent to sign in at this time (seconds); a sign-in
    /// before it does not count (how `prompt=login` and `max_age` are honoured
    /// without a loop).
    pub login_after: Option<String>,
}

/// A request whose client and redirect URI are good.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    client: ClientRecord,
    /// The redirect URI, as registered (and presented).
    pub redirect_uri: String,
    /// `state`, echoed back.
    pub state: Option<String>,
    nonce: Option<String>,
    /// Scopes asked for (known ones, in order, without duplicates).
    pub scopes: Vec<String>,
    code_challenge: Option<String>,
    prompt_none: bool,
    prompt_login: bool,
    prompt_consent: bool,
    max_age: Option<i64>,
    /// A username to offer on the sign-in page.
    pub login_hint: Option<String>,
    login_after: Option<i64>,
}

impl AuthorizeRequest {
    /// The client it is for.
    pub fn client(&self) -> ClientInfo {
        ClientInfo::from(&self.client)
    }
}

/// Back to the client: its redirect URI with these query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRedirect {
    /// The registered redirect URI (it may carry a query of its own).
    pub uri: String,
    /// `code` or `error`/`error_description`, then `state` and `iss`.
    pub params: Vec<(&'static str, String)>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Client or redirect URI not good: tell the user, send nothing anywhere.
    Page(String),
    /// Tell the client.
    Redirect(ClientRedirect),
}

/// What happens next for a good request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send the browser to sign in and back. `fresh_after`: a sign-in older than
    /// this (seconds) does not count (`prompt=login`, `max_age`).
    SignIn {
        /// Seconds.
        fresh_after: Option<i64>,
    },
    /// Ask the user to allow the client these scopes.
    Consent,
    /// Back to the client (with a code, or an error).
    Redirect(ClientRedirect),
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A PKCE S256 challenge: 43 base64url characters (a SHA-256).
fn valid_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Auth {
    fn redirect(&self, req: &AuthorizeRequest, mut params: Vec<(&'static str, String)>) -> ClientRedirect {
        if let Some(s) = &req.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", self.keyring().issuer().to_owned()));
        ClientRedirect { uri: req.redirect_uri.clone(), params }
    }

    /// A redirect carrying `code` (and `description`) for the client.
    pub fn error_redirect(
        &self,
        req: &AuthorizeRequest,
        code: OAuthCode,
        description: &str,
    ) -> ClientRedirect {
        let params = vec![("error", code.as_str().to_owned()), ("error_description", description.to_owned())];
        self.redirect(req, params)
    }

    /// Checks an authorization request. Reads only.
    pub fn check_authorize(&self, p: &AuthorizeParams) -> Result<AuthorizeRequest, Refusal> {
        let page = |m: &str| Refusal::Page(m.to_owned());
        let Some(client_id) = nonempty(&p.client_id) else {
            return Err(page("The request has no client_id."));
        };
        let client = match self.store.read(|r| r.client(client_id)) {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(page("The application that sent you here is not registered with gatehouse."))
            }
            Err(e) => return Err(page(&format!("gatehouse could not look the application up ({e})."))),
        };
        let Some(uri) = nonempty(&p.redirect_uri) else {
            return Err(page("The request has no redirect_uri."));
        };
        if !redirect_uri::matches(&client.redirect_uris, uri, client.secret.is_none()) {
            return Err(page("The redirect_uri is not one registered for this application."));
        }
        let mut req = AuthorizeRequest {
            redirect_uri: uri.to_owned(),
            state: p.state.clone().filter(|s| !s.is_empty()),
            nonce: nonempty(&p.nonce).map(str::to_owned),
            scopes: Vec::new(),
            code_challenge: nonempty(&p.code_challenge).map(str::to_owned),
            prompt_none: false,
            prompt_login: false,
            prompt_consent: false,
            max_age: None,
            login_hint: nonempty(&p.login_hint).map(|h| h.chars().take(100).collect()),
            login_after: nonempty(&p.login_after).and_then(|v| v.parse().ok()),
            client,
        };
        self.check_rest(p, &mut req)
            .map_err(|(code, why)| Refusal::Redirect(self.error_redirect(&req, code, why)))?;
        Ok(req)
    }

    /// The checks whose failures go back to the client.
    fn check_rest(
        &self,
        p: &AuthorizeParams,
        req: &mut AuthorizeRequest,
    ) -> Result<(), (OAuthCode, &'static str)> {
        use OAuthCode::{InvalidRequest, UnsupportedResponseType};
        if nonempty(&p.request).is_some() || nonempty(&p.request_uri).is_some() {
            return Err((InvalidRequest, "request and request_uri are not supported"));
        }
        match nonempty(&p.response_type) {
            None => return Err((InvalidRequest, "response_type is required")),
            Some("code") => {}
            Some(_) => return Err((UnsupportedResponseType, "only response_type=code is supported")),
        }
        if nonempty(&p.response_mode).is_some_and(|m| m != "query") {
            return Err((InvalidRequest, "only response_mode=query is supported"));
        }
        if req.state.as_ref().is_some_and(|s| s.len() > 2048)
            || req.nonce.as_ref().is_some_and(|n| n.len() > 512)
        {
            return Err((InvalidRequest, "state or nonce is too long"));
        }
        for s in nonempty(&p.scope).unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            if let Some(k) = known_scope(s).filter(|k| !req.scopes.iter().any(|have| have == k)) {
                req.scopes.push(k.to_owned());
            }
        }
        match (req.code_challenge.as_deref(), nonempty(&p.code_challenge_method)) {
            (None, None) if req.client.secret.is_none() => {
                return Err((
                    InvalidRequest,
                    "PKCE (code_challenge with S256) is required for public clients",
                ))
            }
            (None, None) => {}
            (None, Some(_)) => return Err((InvalidRequest, "code_challenge_method without code_challenge")),
            (Some(_), Some("S256")) => {}
            (Some(_), _) => {
                return Err((InvalidRequest, "code_challenge_method must be S256 (plain is refused)"))
            }
        }
        if req.code_challenge.as_deref().is_some_and(|c| !valid_challenge(c)) {
            return Err((InvalidRequest, "code_challenge must be 43 base64url characters (S256)"));
        }
        for v in nonempty(&p.prompt).unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            match v {
                "none" => req.prompt_none = true,
                "login" => req.prompt_login = true,
                "consent" => req.prompt_consent = true,
                "select_account" => {}
                _ => return Err((InvalidRequest, "prompt must be none, login, consent or select_account")),
            }
        }
        if req.prompt_none && (req.prompt_login || req.prompt_consent) {
            return Err((InvalidRequest, "prompt=none cannot be combined with other values"));
        }
        if let Some(m) = nonempty(&p.max_age) {
            req.max_age = Some(
                m.parse::<u32>()
                    .map_err(|_| (InvalidRequest, "max_age must be a whole number of seconds"))?
                    .into(),
            );
        }
        Ok(())
    }

    /// What happens next for `req`, given the browser's session. Writes only when
    /// it issues a code.
    pub fn authorize_next(
        &self,
        ctx: &Ctx,
        req: &AuthorizeRequest,
        session: Option<&BrowserSession>,
    ) -> Result<Next, Error> {
        let now = self.clock.now_secs();
        let fresh_enough = |s: &BrowserSession| {
            let auth = s.auth_time.div_euclid(1_000_000);
            req.login_after.is_none_or(|after| auth >= after) && req.max_age.is_none_or(|m| now - auth <= m)
        };
        let session = match session {
            Some(s) if fresh_enough(s) && !(req.prompt_login && req.login_after.is_none()) => s,
            _ if req.prompt_none => {
                return Ok(Next::Redirect(self.error_redirect(
                    req,
                    OAuthCode::LoginRequired,
                    "the user is not signed in",
                )))
            }
            _ => {
                return Ok(Next::SignIn {
                    fresh_after: (req.prompt_login || req.max_age.is_some()).then_some(now),
                })
            }
        };
        if !req.client.allowed_roles.is_empty() && !req.client.allowed_roles.contains(&session.role()) {
            let why = "your role may not sign in to this application";
            return Ok(Next::Redirect(self.error_redirect(req, OAuthCode::AccessDenied, why)));
        }
        if !req.client.trusted && (req.prompt_consent || !self.consented(session.user_id(), req)?) {
            if req.prompt_none {
                let why = "the user has not allowed this application yet";
                return Ok(Next::Redirect(self.error_redirect(req, OAuthCode::ConsentRequired, why)));
            }
            return Ok(Next::Consent);
        }
        self.issue_code(ctx, req, session).map(Next::Redirect)
    }

    fn consented(&self, user_id: u64, req: &AuthorizeRequest) -> Result<bool, Error> {
        let given = self.store.read(|r| r.consent(user_id, &req.client.id))?;
        Ok(given.is_some_and(|c| req.scopes.iter().all(|s| has_scope(&c.scopes, s))))
    }

    /// The user's answer on the consent page: allowing records the consent and
    /// issues a code; denying sends `access_denied`.
    pub fn consent_answer(
        &self,
        ctx: &Ctx,
        req: &AuthorizeRequest,
        session: &BrowserSession,
        allow: bool,
    ) -> Result<ClientRedirect, Error> {
        if !allow {
            return Ok(self.error_redirect(req, OAuthCode::AccessDenied, "the user did not allow it"));
        }
        if !req.client.allowed_roles.is_empty() && !req.client.allowed_roles.contains(&session.role()) {
            return Ok(self.error_redirect(
                req,
                OAuthCode::AccessDenied,
                "your role may not sign in to this application",
            ));
        }
        let consent = ConsentRecord { scopes: req.scopes.clone(), granted_at: self.clock.now_micros() };
        self.store.write(|tx| {
            let mut merged =
                tx.consent(session.user_id(), &req.client.id)?.map(|c| c.scopes).unwrap_or_default();
            for s in &consent.scopes {
                if !has_scope(&merged, s) {
                    merged.push(s.clone());
                }
            }
            tx.put_consent(
                session.user_id(),
                &req.client.id,
                &ConsentRecord { scopes: merged, ..consent.clone() },
            )?;
            let what = format!("to {} ({}): {}", req.client.name, req.client.id, consent.scopes.join(" "));
            tx.append_audit(&self.audit_record(
                ctx,
                AuditEvent::ConsentGranted,
                Some(&session.user),
                Some(what),
            ))?;
            Ok::<_, Error>(())
        })?;
        self.issue_code(ctx, req, session)
    }

    /// A single-use code for the client, bound to its redirect URI, PKCE challenge
    /// and nonce, valid [`CODE_TTL_SECS`].
    fn issue_code(
        &self,
        _ctx: &Ctx,
        req: &AuthorizeRequest,
        session: &BrowserSession,
    ) -> Result<ClientRedirect, Error> {
        let code = b64url(&random_bytes::<32>().map_err(|e| Error::Internal(e.to_string()))?);
        let scopes: Vec<String> =
            req.scopes.iter().filter(|s| scope_allowed(session.role(), s)).cloned().collect();
        let record = CodeRecord {
            client_id: req.client.id.clone(),
            user_id: session.user_id(),
            redirect_uri: req.redirect_uri.clone(),
            scopes,
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            session_epoch: session.user.session_epoch,
            expires_at: self.clock.now_secs().saturating_add(CODE_TTL_SECS),
            redeemed: None,
        };
        let key = sha256(code.as_bytes());
        self.store.write(|tx| Ok::<_, Error>(tx.put_code(&key, &record)?))?;
        Ok(self.redirect(req, vec![("code", code)]))
    }
}

/// Micros → whole seconds (OpenID's `auth_time`).
pub(super) fn secs(t: Micros) -> i64 {
    t.div_euclid(1_000_000)
}
