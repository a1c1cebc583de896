//! The registered OpenID clients: register, list, change, remove, rotate a
//! secret, and authenticate a client at the token endpoint
//! (`client_secret_basic`, `client_secret_post`, or `none` for a public client).
//!
//! A secret is 256 random bits, shown once and stored only as its SHA-256 (it has
//! too much entropy to be guessed, so a slow hash would add nothing), compared in
//! constant time.
//!
//! Every change is audited with who made it ([`Actor`]: an admin over HTTP, whose
//! account the entry names, or the operator on the command line) and, for an
//! update, which settings changed.

use super::redirect_uri;
use super::OAuthCode;
use crate::crypto::keys::Alg;
use crate::crypto::secrets::{b64url, constant_time_eq, random_bytes, sha256};
use crate::domain::admin::{actor_text, Actor};
use crate::domain::validation::FieldError;
use crate::domain::{AuditEvent, Auth, Ctx, Error, Role};
use crate::store::records::oidc::ClientRecord;
/// How a client's ID tokens are signed (the word the layers above use).
pub use crate::store::records::oidc::IdTokenAlg;
use crate::store::records::User;

/// What registering a client takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// What people see.
    pub name: String,
    /// Where codes may be sent (at least one).
    pub redirect_uris: Vec<String>,
    /// Where logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public (native or browser) client: no secret, PKCE mandatory.
    pub public: bool,
    /// First-party: no consent page.
    pub trusted: bool,
    /// Roles allowed to sign in to it (empty: every role).
    pub allowed_roles: Vec<Role>,
    /// How its ID tokens are signed (RS256 unless asked otherwise).
    pub id_token_alg: IdTokenAlg,
}

/// A change to a client: each `Some` field replaces the old value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientUpdate {
    /// New name.
    pub name: Option<String>,
    /// New redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New trusted flag.
    pub trusted: Option<bool>,
    /// New allowed roles.
    pub allowed_roles: Option<Vec<Role>>,
    /// New ID-token algorithm.
    pub id_token_alg: Option<IdTokenAlg>,
}

/// A client as the layers above see it (never its secret or the secret's digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// `client_id`.
    pub id: String,
    /// Name.
    pub name: String,
    /// No secret; PKCE mandatory.
    pub public: bool,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// No consent page.
    pub trusted: bool,
    /// Roles allowed (empty: all).
    pub allowed_roles: Vec<Role>,
    /// ID-token signing algorithm.
    pub id_token_alg: IdTokenAlg,
    /// Registered.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

impl From<&ClientRecord> for ClientInfo {
    fn from(c: &ClientRecord) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            public: c.secret.is_none(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            trusted: c.trusted,
            allowed_roles: c.allowed_roles.clone(),
            id_token_alg: c.id_token_alg,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A client just registered (or re-keyed): the secret is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedClient {
    /// The client.
    pub info: ClientInfo,
    /// Its secret (`None` for a public client).
    pub secret: Option<String>,
}

/// The crypto algorithm behind an ID-token algorithm.
pub fn signing_alg(a: IdTokenAlg) -> Alg {
    match a {
        IdTokenAlg::RS256 => Alg::RS256,
        IdTokenAlg::ES256 => Alg::ES256,
        IdTokenAlg::EdDSA => Alg::EdDSA,
    }
}

/// `RS256`, `ES256` or `EdDSA`.
pub fn alg_name(a: IdTokenAlg) -> &'static str {
    match a {
        IdTokenAlg::RS256 => "RS256",
        IdTokenAlg::ES256 => "ES256",
        IdTokenAlg::EdDSA => "EdDSA",
    }
}

/// Parses `RS256`, `ES256` or `EdDSA`.
pub fn parse_alg(s: &str) -> Option<IdTokenAlg> {
    [IdTokenAlg::RS256, IdTokenAlg::ES256, IdTokenAlg::EdDSA].into_iter().find(|a| alg_name(*a) == s)
}

fn field(name: &'static str, msg: String) -> FieldError {
    FieldError { field: name.to_owned(), msg, kind: "value_error" }
}

/// Checks a name and URIs; every problem at once.
fn validate(name: &str, redirects: &[String], post_logout: &[String]) -> Result<(), Error> {
    let mut errors = Vec::new();
    let n = name.trim().chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        errors.push(field("name", "Value error, a name of 1 to 100 printable characters".into()));
    }
    if redirects.is_empty() || redirects.len() > 20 {
        errors.push(field("redirect_uris", "Value error, 1 to 20 redirect URIs".into()));
    }
    if post_logout.len() > 20 {
        errors.push(field("post_logout_redirect_uris", "Value error, at most 20 URIs".into()));
    }
    for (list, name) in [(redirects, "redirect_uris"), (post_logout, "post_logout_redirect_uris")] {
        for u in list {
            if let Some(why) = redirect_uri::problem(u) {
                errors.push(field(name, format!("Value error, {u:.80} {why}")));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

fn new_secret() -> Result<String, Error> {
    random_bytes::<32>().map(|b| b64url(&b)).map_err(|e| Error::Internal(e.to_string()))
}

fn new_id() -> Result<String, Error> {
    random_bytes::<16>().map(|b| b64url(&b)).map_err(|e| Error::Internal(e.to_string()))
}

const NOT_FOUND: Error = Error::NotFound("Client not found");

/// Each role once, in the order given.
fn unique(roles: &[Role]) -> Vec<Role> {
    let mut out: Vec<Role> = Vec::with_capacity(roles.len());
    for r in roles {
        if !out.contains(r) {
            out.push(*r);
        }
    }
    out
}

/// The account an entry names: the admin who acted (the operator has none).
fn actor_user<'a>(actor: Actor<'a>) -> Option<&'a User> {
    match actor {
        Actor::Admin(p) => Some(&p.user),
        Actor::Operator => None,
    }
}

/// `client ID (NAME)`, what changed if anything, and who did it.
fn audit_text(c: &ClientRecord, what: &str, actor: Actor<'_>) -> String {
    let sep = if what.is_empty() { "" } else { ": " };
    format!("client {} ({}){sep}{what}; {}", c.id, c.name, actor_text(actor))
}

/// The settings `u` changes in `c`, by name (`trusted` and the algorithm with their
/// new value), for the audit log.
fn changes(c: &ClientRecord, u: &ClientUpdate) -> String {
    let mut out: Vec<String> = Vec::new();
    if u.name.as_ref().is_some_and(|v| v.trim() != c.name) {
        out.push("name".into());
    }
    if u.redirect_uris.as_ref().is_some_and(|v| *v != c.redirect_uris) {
        out.push("redirect_uris".into());
    }
    if u.post_logout_redirect_uris.as_ref().is_some_and(|v| *v != c.post_logout_redirect_uris) {
        out.push("post_logout_redirect_uris".into());
    }
    if let Some(v) = u.trusted.filter(|v| *v != c.trusted) {
        out.push(format!("trusted={v}"));
    }
    if u.allowed_roles.as_ref().is_some_and(|v| unique(v) != c.allowed_roles) {
        out.push("allowed_roles".into());
    }
    if let Some(a) = u.id_token_alg.filter(|a| *a != c.id_token_alg) {
        out.push(format!("id_token_signed_response_alg={}", alg_name(a)));
    }
    if out.is_empty() {
        "nothing changed".into()
    } else {
        format!("changed {}", out.join(", "))
    }
}

impl Auth {
    /// Registers a client; its ID-token signing key is made if none exists yet.
    pub fn create_client(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        new: &NewClient,
    ) -> Result<CreatedClient, Error> {
        validate(&new.name, &new.redirect_uris, &new.post_logout_redirect_uris)?;
        self.ensure_signing_keys(&[signing_alg(new.id_token_alg)])?;
        let secret = if new.public { None } else { Some(new_secret()?) };
        let now = self.clock.now_micros();
        let record = ClientRecord {
            id: new_id()?,
            name: new.name.trim().to_owned(),
            secret: secret.as_deref().map(|s| sha256(s.as_bytes())),
            redirect_uris: new.redirect_uris.clone(),
            post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
            trusted: new.trusted,
            allowed_roles: unique(&new.allowed_roles),
            id_token_alg: new.id_token_alg,
            created_at: now,
            updated_at: now,
        };
        self.store.write(|tx| {
            tx.put_client(&record)?;
            let kind = if new.public { "public" } else { "confidential" };
            let what = audit_text(&record, kind, actor);
            tx.append_audit(&self.audit_record(
                ctx,
                AuditEvent::ClientRegistered,
                actor_user(actor),
                Some(what),
            ))?;
            Ok::<_, Error>(())
        })?;
        Ok(CreatedClient { info: ClientInfo::from(&record), secret })
    }

    /// Every registered client, by name.
    pub fn clients(&self) -> Result<Vec<ClientInfo>, Error> {
        let mut all: Vec<ClientInfo> =
            self.store.read(|r| r.clients())?.iter().map(ClientInfo::from).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// One client.
    pub fn client(&self, id: &str) -> Result<ClientInfo, Error> {
        self.store.read(|r| r.client(id))?.as_ref().map(ClientInfo::from).ok_or(NOT_FOUND)
    }

    /// Changes a client's settings (not its secret: see [`Auth::rotate_client_secret`]).
    pub fn update_client(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        id: &str,
        u: &ClientUpdate,
    ) -> Result<ClientInfo, Error> {
        if let Some(alg) = u.id_token_alg {
            self.ensure_signing_keys(&[signing_alg(alg)])?;
        }
        self.store.write(|tx| {
            let mut c = tx.client(id)?.ok_or(NOT_FOUND)?;
            let changed = changes(&c, u);
            if let Some(v) = &u.name {
                c.name = v.trim().to_owned();
            }
            if let Some(v) = &u.redirect_uris {
                c.redirect_uris.clone_from(v);
            }
            if let Some(v) = &u.post_logout_redirect_uris {
                c.post_logout_redirect_uris.clone_from(v);
            }
            if let Some(v) = u.trusted {
                c.trusted = v;
            }
            if let Some(v) = &u.allowed_roles {
                c.allowed_roles = unique(v);
            }
            if let Some(v) = u.id_token_alg {
                c.id_token_alg = v;
            }
            validate(&c.name, &c.redirect_uris, &c.post_logout_redirect_uris)?;
            c.updated_at = self.clock.now_micros();
            tx.put_client(&c)?;
            let what = audit_text(&c, &changed, actor);
            tx.append_audit(&self.audit_record(
                ctx,
                AuditEvent::ClientUpdated,
                actor_user(actor),
                Some(what),
            ))?;
            Ok(ClientInfo::from(&c))
        })
    }

    /// Removes a client. Codes it holds stop working; tokens already issued to it
    /// expire (or are refused at refresh: the client is gone).
    pub fn remove_client(&self, ctx: &Ctx, actor: Actor<'_>, id: &str) -> Result<ClientInfo, Error> {
        self.store.write(|tx| {
            let c = tx.client(id)?.ok_or(NOT_FOUND)?;
            tx.delete_client(id)?;
            let what = audit_text(&c, "", actor);
            tx.append_audit(&self.audit_record(
                ctx,
                AuditEvent::ClientRemoved,
                actor_user(actor),
                Some(what),
            ))?;
            Ok(ClientInfo::from(&c))
        })
    }

    /// A new secret for a confidential client (the old one stops working at once).
    pub fn rotate_client_secret(
        &self,
        ctx: &Ctx,
        actor: Actor<'_>,
        id: &str,
    ) -> Result<CreatedClient, Error> {
        let secret = new_secret()?;
        let digest = sha256(secret.as_bytes());
        let info = self.store.write(|tx| {
            let mut c = tx.client(id)?.ok_or(NOT_FOUND)?;
            if c.secret.is_none() {
                return Err(Error::Conflict("A public client has no secret"));
            }
            c.secret = Some(digest);
            c.updated_at = self.clock.now_micros();
            tx.put_client(&c)?;
            let what = audit_text(&c, "", actor);
            let rec = self.audit_record(ctx, AuditEvent::ClientSecretRotated, actor_user(actor), Some(what));
            tx.append_audit(&rec)?;
            Ok(ClientInfo::from(&c))
        })?;
        Ok(CreatedClient { info, secret: Some(secret) })
    }

    /// The client making a token request: a confidential client with its secret
    /// (basic or post), or a public client by its id alone. Anything else is
    /// `invalid_client` (401).
    pub(crate) fn authenticate_client(&self, id: &str, secret: Option<&str>) -> Result<ClientRecord, Error> {
        const BAD: Error = Error::OAuth(OAuthCode::InvalidClient, "Client authentication failed");
        let client = self.store.read(|r| r.client(id))?.ok_or(BAD)?;
        match (&client.secret, secret) {
            (None, None) => Ok(client),
            (Some(want), Some(got)) if constant_time_eq(want, &sha256(got.as_bytes())) => Ok(client),
            _ => Err(BAD),
        }
    }
}

#[cfg(test)]
mod tests;
