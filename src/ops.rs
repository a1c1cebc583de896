//! One-shot operator commands that work on a stopped server's data directory.
//! They use the same domain rules as the HTTP API (validation, hashing, uniqueness).

use crate::cli::{KeysListArgs, KeysRotateArgs, UserAddArgs, UserSetRoleArgs};
use crate::clock::rfc3339;
use crate::clock::Clock;
use crate::crypto::password::{HashParams, PasswordHasherConfig};
use crate::domain::users::{validate_new, NewUser};
use crate::domain::{Auth, Ctx, Error, Policy};
use crate::store::records::Role;
use crate::store::Store;
use anyhow::{anyhow, bail, Context};
use std::io::BufRead;
use std::sync::Arc;

fn parse_role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).ok_or_else(|| anyhow!("unknown role '{s}': use user, moderator, admin or super_admin"))
}

/// Opens the data directory's store with an auth core for operator commands.
fn open_auth(data_dir: &std::path::Path, params: HashParams) -> anyhow::Result<Auth> {
    open_auth_with(data_dir, params, Policy::default())
}

fn open_auth_with(data_dir: &std::path::Path, params: HashParams, policy: Policy) -> anyhow::Result<Auth> {
    let passwords = PasswordHasherConfig::new(params, params.memory_bytes()).context("scrypt parameters")?;
    let store = Arc::new(Store::open(data_dir)?);
    // The issuer only matters for signing, which operator commands do not do.
    Auth::new(store, passwords, Clock::system(), policy, "cli").map_err(|e| anyhow!("{e}"))
}

fn key_policy(refresh_days: u64, lead_minutes: u64) -> Policy {
    Policy {
        refresh_ttl: std::time::Duration::from_secs(refresh_days.saturating_mul(86_400)),
        key_lead: std::time::Duration::from_secs(lead_minutes.saturating_mul(60)),
        ..Policy::default()
    }
}

/// `gatehouse keys rotate`.
pub fn keys_rotate(args: &KeysRotateArgs) -> anyhow::Result<()> {
    let auth = open_auth_with(
        &args.data_dir,
        HashParams::DEFAULT,
        key_policy(args.refresh_token_days, args.lead_minutes),
    )?;
    let kid = auth.rotate_keys(args.emergency).map_err(|e| anyhow!("{e}"))?;
    if args.emergency {
        println!("new signing key {kid} is active now; every older key is withdrawn and its tokens no longer verify");
    } else {
        println!(
            "new signing key {kid} is published now and signs from {} minutes from now",
            args.lead_minutes
        );
    }
    Ok(())
}

/// `gatehouse keys list`.
pub fn keys_list(args: &KeysListArgs) -> anyhow::Result<()> {
    let auth = open_auth_with(&args.data_dir, HashParams::DEFAULT, key_policy(args.refresh_token_days, 60))?;
    let keys = auth.list_signing_keys().map_err(|e| anyhow!("{e}"))?;
    if !args.json {
        println!("{:<18} {:<8} {:<28} {:<28} VERIFIES UNTIL", "KID", "STATE", "CREATED", "SIGNS FROM");
    }
    for k in keys {
        let until = k.verifies_until.map(rfc3339);
        if args.json {
            let line = serde_json::json!({
                "kid": k.kid, "state": k.state, "created_at": rfc3339(k.created_at),
                "activates_at": rfc3339(k.activates_at), "verifies_until": until,
            });
            println!("{line}");
        } else {
            let (c, a) = (rfc3339(k.created_at), rfc3339(k.activates_at));
            println!("{:<18} {:<8} {c:<28} {a:<28} {}", k.kid, k.state, until.as_deref().unwrap_or("-"));
        }
    }
    Ok(())
}

/// `gatehouse user set-role`: any role, including super_admin.
pub fn user_set_role(args: &UserSetRoleArgs) -> anyhow::Result<()> {
    let role = parse_role(&args.role)?;
    let auth = open_auth(&args.data_dir, HashParams::DEFAULT)?;
    match auth.set_role_by_name(&Ctx::cli(), &args.name, role) {
        Ok(u) => {
            println!("{} is now {} (their access tokens are revoked)", u.username, u.role.as_str());
            Ok(())
        }
        Err(Error::NotFound(_)) => bail!("no user named '{}'", args.name),
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// `gatehouse user add`: creates a user with any role (the only way to a super_admin).
pub fn user_add(args: &UserAddArgs) -> anyhow::Result<()> {
    let role = parse_role(&args.role)?;
    if !args.password_stdin {
        bail!("pass the password on standard input with --password-stdin (e.g. from a secrets file)");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let req = NewUser {
        username: args.name.clone(),
        email: args.email.clone(),
        password: line.trim_end_matches(['\r', '\n']).to_owned(),
        full_name: args.full_name.clone(),
    };
    // Check the input before touching the data directory, so a typo in the
    // password leaves no stray database behind.
    validate_new(&req).map_err(explain)?;
    let params = HashParams { log_n: args.scrypt_log_n, r: args.scrypt_r, p: args.scrypt_p };
    let auth = open_auth(&args.data_dir, params)?;
    let u = auth.create_user(&Ctx::cli(), &req, role).map_err(explain)?;
    println!("created user {} (id {}, role {})", u.username, u.id, u.role.as_str());
    Ok(())
}

fn explain(e: Error) -> anyhow::Error {
    match e {
        Error::Invalid(list) => {
            let lines: Vec<String> = list.iter().map(|e| format!("  {}: {}", e.field, e.msg)).collect();
            anyhow!("invalid user:\n{}", lines.join("\n"))
        }
        Error::Conflict(what) => anyhow!("{what}"),
        other => anyhow!("{other}"),
    }
}
