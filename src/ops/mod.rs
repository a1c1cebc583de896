//! Operator commands, one implementation for both ways they run: the CLI opens the
//! data directory itself when no server is running, or sends the same [`Request`] to
//! the running server's admin socket ([`socket`]), which executes it with the
//! server's own store. Either way [`execute`] does the work and returns a [`Reply`]
//! with a line for people and JSON for scripts.

pub mod cli;
pub mod socket;

use crate::clock::rfc3339;
use crate::domain::users::NewUser;
use crate::domain::{Auth, Ctx, Error};
use crate::store::records::{Role, User};
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
    /// Set a new password.
    UserResetPassword {
        /// Username.
        name: String,
        /// New password.
        password: String,
    },
    /// Revoke every session and access token.
    UserRevokeSessions {
        /// Username.
        name: String,
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
    fn ok(message: String, data: Value) -> Self {
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
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "username": u.username, "email": u.email, "full_name": u.full_name,
        "role": u.role.as_str(), "is_active": u.is_active, "is_verified": u.is_verified,
        "created_at": rfc3339(u.created_at), "last_login": u.last_login.map(rfc3339),
        "failed_logins": u.failed_logins, "locked_until": u.locked_until.map(rfc3339),
    })
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

fn done(verb: &str, u: &User) -> Result<Reply, String> {
    Ok(Reply::ok(format!("{} {verb} (id {}, role {})", u.username, u.id, u.role.as_str()), user_json(u)))
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
            Ok(Reply::ok(format!("{header}\n{}", lines.join("\n")), users.iter().map(user_json).collect()))
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
        Request::UserResetPassword { name, password } => done(
            "has a new password; every session revoked",
            &auth.reset_password(&ctx, &name, &password).map_err(explain)?,
        ),
        Request::UserRevokeSessions { name } => {
            done("has no session left", &auth.revoke_sessions_by_name(&ctx, &name).map_err(explain)?)
        }
        Request::UserDelete { name } => done("deleted", &auth.delete_user(&ctx, &name).map_err(explain)?),
        Request::KeysRotate { emergency, lead_minutes } => {
            let lead = std::time::Duration::from_secs(lead_minutes.saturating_mul(60));
            let kid = auth.rotate_keys_with_lead(emergency, lead).map_err(explain)?;
            let lead = lead_minutes;
            let message = if emergency {
                format!("new signing key {kid} is active now; every older key is withdrawn and its tokens no longer verify")
            } else {
                format!("new signing key {kid} is published now and signs {lead} minutes from now")
            };
            Ok(Reply::ok(message, json!({ "kid": kid, "emergency": emergency })))
        }
        Request::KeysList => {
            let keys = auth.list_signing_keys().map_err(explain)?;
            let rows: Vec<Value> = keys
                .iter()
                .map(|k| {
                    json!({"kid": k.kid, "state": k.state, "created_at": rfc3339(k.created_at),
                           "activates_at": rfc3339(k.activates_at), "verifies_until": k.verifies_until.map(rfc3339)})
                })
                .collect();
            let mut text =
                format!("{:<18} {:<8} {:<28} {:<28} VERIFIES UNTIL", "KID", "STATE", "CREATED", "SIGNS FROM");
            for k in &keys {
                let until = k.verifies_until.map(rfc3339).unwrap_or_else(|| "-".into());
                let (c, a) = (rfc3339(k.created_at), rfc3339(k.activates_at));
                text.push_str(&format!("\n{:<18} {:<8} {c:<28} {a:<28} {until}", k.kid, k.state));
            }
            Ok(Reply::ok(text, Value::Array(rows)))
        }
        Request::Backup { path } => {
            let path = match path {
                Some(p) => p,
                None => {
                    let dir =
                        auth.store().path().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
                    dir.join(format!(".backup-{}-{}.redb", std::process::id(), auth.clock().now_micros()))
                }
            };
            let counts = auth.store().backup_to(&path).map_err(|e| e.to_string())?;
            let users = counts.iter().find(|(t, _)| *t == "users").map_or(0, |(_, n)| *n);
            let data: serde_json::Map<String, Value> =
                counts.iter().map(|(t, n)| ((*t).to_owned(), json!(n))).collect();
            let mut data = Value::Object(data);
            data["path"] = json!(path);
            Ok(Reply::ok(format!("backup written to {} and verified ({users} users)", path.display()), data))
        }
        Request::Status => {
            let counts = auth.store().counts().map_err(|e| e.to_string())?;
            let data: serde_json::Map<String, Value> =
                counts.iter().map(|(t, n)| ((*t).to_owned(), json!(n))).collect();
            Ok(Reply::ok("database is healthy (checked by the running server)".into(), Value::Object(data)))
        }
    }
}
