//! Operator commands, one implementation for both ways they run: the CLI opens the
//! data directory itself when no server is running, or sends the same [`Request`] to
//! the running server's admin socket (`server::admin_socket`), which executes it
//! with the server's own auth core. Either way [`execute`] does the work and returns a [`Reply`]
//! with a line for people and JSON for scripts. The OpenID clients' commands are in
//! [`clients`].

pub mod clients;

mod import;

/// The admin socket's file name inside the data directory.
pub const SOCKET: &str = "admin.sock";

/// The longest request line the admin socket accepts. Most requests are tiny; an
/// `import tutorial` carries the tutorial's rows (about 500 bytes each, so some
/// 100,000 accounts). Only the service's own user can connect. A larger import
/// runs with the server stopped, on the data directory itself.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// The admin socket of the server on `data_dir` (0600; see `server::admin_socket`).
pub fn socket_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join(SOCKET)
}

use crate::clock::rfc3339;
use crate::domain::import::{ImportOptions, TutorialRow};
use crate::domain::keys::Alg;
use crate::domain::users::NewUser;
use crate::domain::{Account, ApiKeyInfo, Role};
use crate::domain::{Auth, Ctx, Error};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

/// One operator command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Create a user with any role.
    UserAdd {
        /// Username.
        name: String,
        /// Email.
        email: String,
        /// Role name.
        role: String,
        /// Display name.
        full_name: Option<String>,
        /// Password (travels only over the 0600 admin socket).
        password: String,
    },
    /// List users (a page, or a prefix search).
    UserList {
        /// Skip this many.
        skip: u64,
        /// At most this many.
        limit: u64,
        /// Username or email prefix.
        search: Option<String>,
    },
    /// One user.
    UserShow {
        /// Username.
        name: String,
    },
    /// Change a role (including to or from super_admin).
    UserSetRole {
        /// Username.
        name: String,
        /// Role name.
        role: String,
    },
    /// Reactivate.
    UserActivate {
        /// Username.
        name: String,
    },
    /// Deactivate.
    UserDeactivate {
        /// Username.
        name: String,
    },
    /// Clear a lockout.
    UserUnlock {
        /// Username.
        name: String,
    },
    /// Clear every second factor.
    UserResetMfa {
        /// Username.
        name: String,
    },
    /// Set a new password.
    UserResetPassword {
        /// Username.
        name: String,
        /// New password.
        password: String,
    },
    /// Revoke every session and access token (and on request every API key).
    UserRevokeSessions {
        /// Username.
        name: String,
        /// Also revoke every API key.
        #[serde(default)]
        include_api_keys: bool,
    },
    /// List a user's API keys.
    UserKeys {
        /// Username.
        name: String,
    },
    /// Revoke one of a user's API keys.
    UserRevokeKey {
        /// Username.
        name: String,
        /// The key's id (from `user keys`).
        key_id: String,
    },
    /// Delete the account.
    UserDelete {
        /// Username.
        name: String,
    },
    /// Rotate the signing key.
    KeysRotate {
        /// Withdraw older keys at once.
        emergency: bool,
        /// Minutes the new key is published before it signs.
        lead_minutes: u64,
    },
    /// List signing keys.
    KeysList,
    /// Write a consistent backup to this (absolute) path.
    Backup {
        /// Destination file (must not exist). `None`: the server writes the copy into
        /// its own data directory and replies with its path, for the CLI to move — a
        /// sandboxed service may not write where the operator wants the file.
        path: Option<PathBuf>,
    },
    /// Database health and row counts.
    Status,
    /// Import the tutorial's users: the rows of its `users` table, which the CLI
    /// read from the SQLite file (the server may not be allowed to read it).
    ImportTutorial {
        /// The file they came from, for the report.
        source: String,
        /// The rows.
        rows: Vec<TutorialRow>,
        /// Check and report, write nothing.
        #[serde(default)]
        dry_run: bool,
        /// Import the valid rows even if some are invalid.
        #[serde(default)]
        skip_invalid: bool,
    },
    /// Register an OpenID client (its secret, if any, is in the reply once).
    ClientAdd(clients::AddClient),
    /// List the OpenID clients.
    ClientList,
    /// One OpenID client.
    ClientShow {
        /// `client_id`.
        client_id: String,
    },
    /// Remove an OpenID client.
    ClientRemove {
        /// `client_id`.
        client_id: String,
    },
    /// A new secret for a confidential client (in the reply once).
    ClientRotateSecret {
        /// `client_id`.
        client_id: String,
    },
}

/// The outcome of a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// Whether it succeeded.
    pub ok: bool,
    /// One line for people.
    pub message: String,
    /// Details for scripts (`--json`).
    pub data: Value,
}

impl Reply {
    pub(crate) fn ok(message: String, data: Value) -> Self {
        Self { ok: true, message, data }
    }

    fn err(message: String) -> Self {
        Self { ok: false, message, data: Value::Null }
    }
}

fn role(name: &str) -> Result<Role, String> {
    Role::parse(name)
        .ok_or_else(|| format!("unknown role '{name}': use user, moderator, admin or super_admin"))
}

/// A user as operators see it (more than the API's UserResponse, never the hash).
pub fn user_json(u: &Account) -> Value {
    json!({
        "id": u.id, "username": u.username, "email": u.email, "full_name": u.full_name,
        "role": u.role.as_str(), "is_active": u.is_active, "is_verified": u.is_verified,
        "created_at": rfc3339(u.created_at), "last_login": u.last_login.map(rfc3339),
        "failed_logins": u.failed_logins, "locked_until": u.locked_until.map(rfc3339),
        "password_hash": if u.bcrypt_hash { "bcrypt (imported)" } else { "scrypt" },
    })
}

/// An API key as operators see it (never the key itself).
fn key_json(k: &ApiKeyInfo) -> Value {
    let scopes = &k.scopes;
    json!({
        "id": k.id, "name": k.name, "prefix": k.prefix, "scopes": scopes,
        "created_at": rfc3339(k.created_at), "expires_at": k.expires_at.map(rfc3339),
        "last_used_at": k.last_used.map(rfc3339),
    })
}

/// The reply to `keys rotate`: one new key per algorithm in use. `kid` stays the
/// EdDSA key's, as it was when there was only that one.
fn rotated(keys: &[(Alg, String)], emergency: bool, lead_minutes: u64) -> Reply {
    let names: Vec<String> = keys.iter().map(|(alg, kid)| format!("{kid} ({alg})")).collect();
    let names = names.join(", ");
    let (what, is, signs) = if keys.len() == 1 { ("key", "is", "signs") } else { ("keys", "are", "sign") };
    let message = if emergency {
        format!("new signing {what} {names} {is} active now; every older key is withdrawn and its tokens no longer verify")
    } else {
        format!("new signing {what} {names} {is} published now and {signs} {lead_minutes} minutes from now")
    };
    let eddsa = keys.iter().find(|(alg, _)| *alg == Alg::EdDSA).map(|(_, kid)| kid);
    let list: Vec<Value> = keys.iter().map(|(alg, kid)| json!({"alg": alg.as_str(), "kid": kid})).collect();
    Reply::ok(message, json!({ "kid": eddsa, "keys": list, "emergency": emergency }))
}

fn keys_reply(auth: &Auth, name: &str) -> Result<Reply, String> {
    let (u, keys) = auth.keys_by_name(name).map_err(explain)?;
    let mut text =
        format!("{:<16} {:<24} {:<12} {:<22} {:<22} SCOPES", "ID", "NAME", "PREFIX", "CREATED", "LAST USED");
    for k in &keys {
        let last = k.last_used.map(rfc3339).unwrap_or_else(|| "never".into());
        let scopes = k.scopes.join(" ");
        let created = rfc3339(k.created_at);
        text.push_str(&format!(
            "\n{:<16} {:<24} {:<12} {created:<22} {last:<22} {scopes}",
            k.id, k.name, k.prefix
        ));
    }
    if keys.is_empty() {
        text = format!("{} has no API keys", u.username);
    }
    Ok(Reply::ok(text, keys.iter().map(key_json).collect()))
}

pub(crate) fn explain(e: Error) -> String {
    match e {
        Error::Invalid(list) => {
            let lines: Vec<String> = list.iter().map(|e| format!("  {}: {}", e.field, e.msg)).collect();
            format!("invalid input:\n{}", lines.join("\n"))
        }
        Error::NotFound(what) => what.to_lowercase(),
        Error::Conflict(what) => what.to_owned(),
        other => other.to_string(),
    }
}

/// Runs `req` against `auth`.
pub fn execute(auth: &Auth, req: Request) -> Reply {
    match run(auth, req) {
        Ok(r) => r,
        Err(message) => Reply::err(message),
    }
}

fn done(verb: &str, u: &Account) -> Result<Reply, String> {
    Ok(Reply::ok(format!("{} {verb} (id {}, role {})", u.username, u.id, u.role.as_str()), user_json(u)))
}

/// A line saying how many accounts still have an imported bcrypt hash ("" if none).
fn bcrypt_note(auth: &Auth) -> Result<String, String> {
    let (bcrypt, total) = auth.bcrypt_hashes().map_err(explain)?;
    Ok(if bcrypt == 0 {
        String::new()
    } else {
        format!("\n{bcrypt} of {total} accounts still have an imported bcrypt password hash (replaced by scrypt at their next sign-in)")
    })
}

fn run(auth: &Auth, req: Request) -> Result<Reply, String> {
    let ctx = Ctx::cli();
    match req {
        Request::UserAdd { name, email, role: r, full_name, password } => {
            let new = NewUser { username: name, email, password, full_name };
            let u = auth
                .create_user(&ctx, &new, role(&r)?)
                .map_err(|e| explain(e).replace("invalid input", "invalid user"))?;
            Ok(Reply::ok(
                format!("created user {} (id {}, role {})", u.username, u.id, u.role.as_str()),
                user_json(&u),
            ))
        }
        Request::UserList { skip, limit, search } => {
            let users = match search {
                Some(q) => auth.search_users(&q, limit),
                None => auth.list_users(skip, limit),
            }
            .map_err(explain)?;
            let lines: Vec<String> = users
                .iter()
                .map(|u| {
                    let state = if !u.is_active {
                        "inactive"
                    } else if u.locked_until.is_some() {
                        "locked?"
                    } else {
                        "active"
                    };
                    format!(
                        "{:>6}  {:<24} {:<12} {:<9} {}",
                        u.id,
                        u.username,
                        u.role.as_str(),
                        state,
                        u.email
                    )
                })
                .collect();
            let header = format!("{:>6}  {:<24} {:<12} {:<9} EMAIL", "ID", "USERNAME", "ROLE", "STATE");
            let mut text = format!("{header}\n{}", lines.join("\n"));
            text.push_str(&bcrypt_note(auth)?);
            Ok(Reply::ok(text, users.iter().map(user_json).collect()))
        }
        Request::UserShow { name } => {
            let u = auth.user_by_name(&name).map_err(explain)?;
            let v = user_json(&u);
            let text = v
                .as_object()
                .map(|o| o.iter().map(|(k, v)| format!("{k:>14}: {v}")).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            Ok(Reply::ok(text, v))
        }
        Request::UserSetRole { name, role: r } => {
            let u = auth.set_role_by_name(&ctx, &name, role(&r)?).map_err(|e| match e {
                Error::NotFound(_) => format!("no user named '{name}'"),
                other => explain(other),
            })?;
            let message =
                format!("{} is now {} (their access tokens are revoked)", u.username, u.role.as_str());
            Ok(Reply::ok(message, user_json(&u)))
        }
        Request::UserActivate { name } => {
            done("activated", &auth.set_active_by_name(&ctx, &name, true).map_err(explain)?)
        }
        Request::UserDeactivate { name } => done(
            "deactivated; every session revoked",
            &auth.set_active_by_name(&ctx, &name, false).map_err(explain)?,
        ),
        Request::UserUnlock { name } => done("unlocked", &auth.unlock_by_name(&ctx, &name).map_err(explain)?),
        Request::UserResetMfa { name } => done(
            "has no second factor now; a role that requires one enrolls at the next sign-in",
            &auth.reset_mfa_by_name(&ctx, &name).map_err(explain)?,
        ),
        Request::UserResetPassword { name, password } => done(
            "has a new password; every session revoked",
            &auth.reset_password(&ctx, &name, &password).map_err(explain)?,
        ),
        Request::UserRevokeSessions { name, include_api_keys } => {
            let u = auth.revoke_sessions_by_name(&ctx, &name, include_api_keys).map_err(explain)?;
            done(if include_api_keys { "has no session or API key left" } else { "has no session left" }, &u)
        }
        Request::UserKeys { name } => keys_reply(auth, &name),
        Request::UserRevokeKey { name, key_id } => {
            let k = auth.revoke_key_by_name(&ctx, &name, &key_id).map_err(explain)?;
            Ok(Reply::ok(format!("API key {} ({}) of {name} revoked", k.id, k.name), key_json(&k)))
        }
        Request::UserDelete { name } => done("deleted", &auth.delete_user(&ctx, &name).map_err(explain)?),
        Request::KeysRotate { emergency, lead_minutes } => {
            let lead = std::time::Duration::from_secs(lead_minutes.saturating_mul(60));
            let keys = auth.rotate_keys_with_lead(emergency, lead).map_err(explain)?;
            Ok(rotated(&keys, emergency, lead_minutes))
        }
        Request::KeysList => {
            let keys = auth.list_signing_keys().map_err(explain)?;
            let rows: Vec<Value> = keys
                .iter()
                .map(|k| {
                    json!({"kid": k.kid, "alg": k.alg.as_str(), "state": k.state, "created_at": rfc3339(k.created_at),
                           "activates_at": rfc3339(k.activates_at), "verifies_until": k.verifies_until.map(rfc3339)})
                })
                .collect();
            let mut text = format!(
                "{:<18} {:<6} {:<8} {:<28} {:<28} VERIFIES UNTIL",
                "KID", "ALG", "STATE", "CREATED", "SIGNS FROM"
            );
            for k in &keys {
                let until = k.verifies_until.map(rfc3339).unwrap_or_else(|| "-".into());
                let (c, a) = (rfc3339(k.created_at), rfc3339(k.activates_at));
                text.push_str(&format!(
                    "\n{:<18} {:<6} {:<8} {c:<28} {a:<28} {until}",
                    k.kid,
                    k.alg.as_str(),
                    k.state
                ));
            }
            Ok(Reply::ok(text, Value::Array(rows)))
        }
        Request::Backup { path } => {
            let (path, counts) = auth.backup(path).map_err(|e| e.to_string())?;
            let users = counts.iter().find(|(t, _)| *t == "users").map_or(0, |(_, n)| *n);
            let data: serde_json::Map<String, Value> =
                counts.iter().map(|(t, n)| ((*t).to_owned(), json!(n))).collect();
            let mut data = Value::Object(data);
            data["path"] = json!(path);
            Ok(Reply::ok(format!("backup written to {} and verified ({users} users)", path.display()), data))
        }
        Request::Status => {
            let counts = auth.table_counts().map_err(|e| e.to_string())?;
            let mut data: serde_json::Map<String, Value> =
                counts.iter().map(|(t, n)| ((*t).to_owned(), json!(n))).collect();
            let (bcrypt, _) = auth.bcrypt_hashes().map_err(explain)?;
            data.insert("imported_bcrypt_hashes".into(), json!(bcrypt));
            let message =
                format!("database is healthy (checked by the running server){}", bcrypt_note(auth)?);
            Ok(Reply::ok(message, Value::Object(data)))
        }
        Request::ImportTutorial { source, rows, dry_run, skip_invalid } => {
            import::run(auth, &source, &rows, ImportOptions { dry_run, skip_invalid })
        }
        Request::ClientAdd(add) => clients::add(auth, &ctx, add),
        Request::ClientList => clients::list(auth),
        Request::ClientShow { client_id } => clients::show(auth, &client_id),
        Request::ClientRemove { client_id } => clients::remove(auth, &ctx, &client_id),
        Request::ClientRotateSecret { client_id } => clients::rotate_secret(auth, &ctx, &client_id),
    }
}
