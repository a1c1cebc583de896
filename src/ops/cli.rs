//! Running operator commands from the command line: build the [`Request`], send it
//! to the running server's admin socket if one listens, else open the data
//! directory and execute it here; print the reply for people or as JSON. This is
//! one of the two places (with `main`) where `anyhow` and printing live.

use super::{execute, socket, Request};
use crate::cli::{BackupArgs, HashArgs, KeysCommand, RestoreArgs, ServeArgs, Target, UserCommand};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::password::{HashParams, PasswordHasherConfig};
use crate::domain::{Auth, Policy};
use crate::store::{check_file, Store, StoreError, DB_FILE};
use anyhow::{anyhow, bail, Context};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn params(h: &HashArgs) -> HashParams {
    HashParams { log_n: h.scrypt_log_n, r: h.scrypt_r, p: h.scrypt_p }
}

/// Opens the data directory for an offline command.
fn open_auth(data_dir: &Path, hash: HashParams, policy: Policy) -> anyhow::Result<Auth> {
    let passwords = PasswordHasherConfig::new(hash, hash.memory_bytes()).context("scrypt parameters")?;
    let store = Arc::new(Store::open(data_dir)?);
    // The issuer only matters for signing tokens, which operator commands never do.
    Auth::new(store, passwords, Clock::system(), policy, "cli").map_err(|e| anyhow!("{e}"))
}

/// Sends `req` to the running server, or runs it offline on the data directory.
fn dispatch(target: &Target, req: Request, hash: HashParams, policy: Policy) -> anyhow::Result<()> {
    let reply = match socket::send(&target.data_dir, &req) {
        Some(r) => r.context("talking to the running server's admin socket")?,
        None => execute(&open_auth(&target.data_dir, hash, policy)?, req),
    };
    if target.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": reply.ok, "message": reply.message, "data": reply.data})
            )?
        );
    } else if reply.ok {
        println!("{}", reply.message);
    }
    if reply.ok {
        Ok(())
    } else {
        bail!("{}", reply.message)
    }
}

/// A password from standard input (`--password-stdin`) or a terminal prompt.
fn password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pass it on standard input with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Again: ")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// `gatehouse user ...`
pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    let none = HashParams::DEFAULT;
    let p = Policy::default();
    match cmd {
        UserCommand::Add(a) => {
            // Check everything before asking for the password or touching the data
            // directory, so a typo leaves no stray database behind.
            crate::store::records::Role::parse(&a.role).ok_or_else(|| {
                anyhow!("unknown role '{}': use user, moderator, admin or super_admin", a.role)
            })?;
            let new = crate::domain::users::NewUser {
                username: a.name,
                email: a.email,
                password: password(a.password_stdin)?,
                full_name: a.full_name,
            };
            crate::domain::users::validate_new(&new)
                .map_err(|e| anyhow!("{}", super::explain(e).replace("invalid input", "invalid user")))?;
            let req = Request::UserAdd {
                name: new.username,
                email: new.email,
                role: a.role,
                full_name: new.full_name,
                password: new.password,
            };
            dispatch(&a.target, req, params(&a.hash), p)
        }
        UserCommand::List(a) => {
            dispatch(&a.target, Request::UserList { skip: a.skip, limit: a.limit, search: a.search }, none, p)
        }
        UserCommand::Show(a) => dispatch(&a.target, Request::UserShow { name: a.name }, none, p),
        UserCommand::SetRole(a) => {
            dispatch(&a.target, Request::UserSetRole { name: a.name, role: a.role }, none, p)
        }
        UserCommand::Activate(a) => dispatch(&a.target, Request::UserActivate { name: a.name }, none, p),
        UserCommand::Deactivate(a) => dispatch(&a.target, Request::UserDeactivate { name: a.name }, none, p),
        UserCommand::Unlock(a) => dispatch(&a.target, Request::UserUnlock { name: a.name }, none, p),
        UserCommand::ResetPassword(a) => {
            let password = password(a.password_stdin)?;
            dispatch(&a.target, Request::UserResetPassword { name: a.name, password }, params(&a.hash), p)
        }
        UserCommand::RevokeSessions(a) => {
            dispatch(&a.target, Request::UserRevokeSessions { name: a.name }, none, p)
        }
        UserCommand::Delete(a) => dispatch(&a.target, Request::UserDelete { name: a.name }, none, p),
    }
}

fn refresh_policy(days: u64) -> Policy {
    Policy { refresh_ttl: Duration::from_secs(days.saturating_mul(86_400)), ..Policy::default() }
}

/// `gatehouse keys ...`
pub fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Rotate(a) => {
            let req = Request::KeysRotate { emergency: a.emergency, lead_minutes: a.lead_minutes };
            dispatch(&a.keys.target, req, HashParams::DEFAULT, refresh_policy(a.keys.refresh_token_days))
        }
        KeysCommand::List(a) => {
            dispatch(&a.target, Request::KeysList, HashParams::DEFAULT, refresh_policy(a.refresh_token_days))
        }
    }
}

/// `gatehouse backup FILE`. A running server writes the copy into its own data
/// directory (a sandboxed service can write nowhere else) and this process moves it
/// to FILE; with no server running, the copy is written to FILE directly.
pub fn backup(a: BackupArgs) -> anyhow::Result<()> {
    let dest = std::path::absolute(&a.file).context("resolving the backup path")?;
    if dest.exists() {
        bail!("{} exists; a backup never overwrites a file", dest.display());
    }
    let Some(reply) = socket::send(&a.target.data_dir, &Request::Backup { path: None }) else {
        return dispatch(
            &a.target,
            Request::Backup { path: Some(dest) },
            HashParams::DEFAULT,
            Policy::default(),
        );
    };
    let reply = reply.context("talking to the running server's admin socket")?;
    if !reply.ok {
        bail!("{}", reply.message);
    }
    let staged = reply.data["path"]
        .as_str()
        .map(std::path::PathBuf::from)
        .context("the server named no backup file")?;
    let moved = std::fs::rename(&staged, &dest).or_else(|_| {
        std::fs::copy(&staged, &dest)?;
        std::fs::remove_file(&staged)
    });
    if let Err(e) = moved {
        let _ = std::fs::remove_file(&staged);
        bail!("cannot write {}: {e}", dest.display());
    }
    let message = reply.message.replace(&staged.display().to_string(), &dest.display().to_string());
    if a.target.json {
        let mut data = reply.data;
        data["path"] = serde_json::json!(dest);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": true, "message": message, "data": data}))?
        );
    } else {
        println!("{message}");
    }
    Ok(())
}

/// `gatehouse restore FILE`: checks the backup, keeps the current database beside it
/// (`gatehouse.redb.before-restore-TIME`), and swaps the backup in with one rename.
pub fn restore(a: RestoreArgs) -> anyhow::Result<()> {
    if socket::send(&a.data_dir, &Request::Status).is_some() {
        bail!("the server is running on {}: stop it first, then restore", a.data_dir.display());
    }
    // Check a private copy, so the backup file itself is never modified.
    let staging = tempfile_dir(&a.data_dir)?;
    std::fs::copy(&a.file, staging.join(DB_FILE))
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let counts =
        check_file(&staging).map_err(|e| anyhow!("{} is not a usable backup: {e}", a.file.display()))?;
    let live = a.data_dir.join(DB_FILE);
    let incoming = a.data_dir.join(format!("{DB_FILE}.restoring"));
    std::fs::copy(staging.join(DB_FILE), &incoming)?;
    std::fs::File::open(&incoming)?.sync_all()?;
    if live.exists() {
        let kept = a.data_dir.join(format!("{DB_FILE}.before-restore-{}", Clock::system().now_secs()));
        std::fs::copy(&live, &kept)
            .with_context(|| format!("cannot keep the current database as {}", kept.display()))?;
        println!("current database kept as {}", kept.display());
    }
    std::fs::rename(&incoming, &live).context("swapping the backup in")?;
    let _ = std::fs::remove_dir_all(&staging);
    let users = counts.iter().find(|(t, _)| *t == "users").map_or(0, |(_, n)| *n);
    println!("restored {} ({users} users); start the server", a.file.display());
    Ok(())
}

fn tempfile_dir(data_dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(data_dir)?;
    let dir = data_dir.join(format!(".restore-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// Outcome of `gatehouse check`, which maps to the exit code.
#[derive(Debug)]
pub enum CheckFailure {
    /// Exit 2.
    Config(String),
    /// Exit 3.
    Database(String),
}

/// `gatehouse check`: the configuration, the TLS files, and the database.
pub fn check(args: &ServeArgs) -> Result<String, CheckFailure> {
    let config = Config::from_args(args).map_err(|e| CheckFailure::Config(e.to_string()))?;
    if let crate::config::TlsSource::Files { cert, key } = &config.tls {
        for f in [cert, key] {
            std::fs::metadata(f)
                .map_err(|e| CheckFailure::Config(format!("cannot read {}: {e}", f.display())))?;
        }
    }
    if let Some(r) = socket::send(&config.data_dir, &Request::Status) {
        let reply = r.map_err(|e| CheckFailure::Database(e.to_string()))?;
        return if reply.ok {
            Ok("configuration valid; the running server reports the database healthy".into())
        } else {
            Err(CheckFailure::Database(reply.message))
        };
    }
    if !config.data_dir.join(DB_FILE).exists() {
        return Ok(format!(
            "configuration valid; no database yet in {} (serve creates it)",
            config.data_dir.display()
        ));
    }
    match check_file(&config.data_dir) {
        Ok(counts) => {
            let users = counts.iter().find(|(t, _)| *t == "users").map_or(0, |(_, n)| *n);
            Ok(format!("configuration valid; database healthy ({users} users)"))
        }
        Err(e @ StoreError::InUse(_)) => {
            Err(CheckFailure::Database(format!("{e}; and its admin socket does not answer")))
        }
        Err(e) => Err(CheckFailure::Database(e.to_string())),
    }
}

/// `gatehouse hash calibrate`: the largest memory cost within the budget, then as
/// many sequential passes (p) as fit the time target.
pub fn hash_calibrate(target_ms: u64, max_memory_mib: u64) -> anyhow::Result<()> {
    const R: u32 = 8;
    let budget = max_memory_mib.saturating_mul(1024 * 1024);
    let mut log_n: u8 = 20;
    while log_n > 10 && (HashParams { log_n, r: R, p: 1 }).memory_bytes() > budget {
        log_n -= 1;
    }
    let time_one = |log_n: u8| -> anyhow::Result<f64> {
        let params = HashParams { log_n, r: R, p: 1 };
        let hasher = PasswordHasherConfig::new(params, params.memory_bytes()).context("scrypt parameters")?;
        hasher.hash("calibration-Password-1!")?; // warm up: first-touch page faults
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            hasher.hash("calibration-Password-1!")?;
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(best)
    };
    let mut ms = time_one(log_n)?;
    while ms > target_ms as f64 && log_n > 10 {
        log_n -= 1;
        ms = time_one(log_n)?;
    }
    let p = ((target_ms as f64 / ms).floor() as u32).clamp(1, 16);
    let mib = HashParams { log_n, r: R, p }.memory_bytes() / (1024 * 1024);
    println!("one pass of scrypt log2N={log_n}, r={R} takes {ms:.0} ms here and needs {mib} MiB");
    println!("recommended for ~{target_ms} ms within {max_memory_mib} MiB: --scrypt-log-n {log_n} --scrypt-r {R} --scrypt-p {p}");
    println!(
        "(about {:.0} ms per login; set --hash-memory-mib to {mib} x the logins you want hashed at once)",
        ms * f64::from(p)
    );
    Ok(())
}

/// `gatehouse cert show`.
pub fn cert_show(tls_cert: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let path =
        tls_cert.map_or_else(|| data_dir.join(crate::server::tls::SELF_SIGNED_CERT), Path::to_path_buf);
    let d = crate::server::tls::details(&path, Clock::system().now_secs())?;
    println!("certificate:  {}", path.display());
    println!("SHA-256:      {}", d.fingerprint);
    println!("names:        {}", d.names.join(", "));
    println!("valid from:   {}", d.not_before);
    println!("valid until:  {} ({} days left)", d.not_after, d.days_left);
    Ok(())
}

/// `gatehouse cert regenerate`.
pub fn cert_regenerate(data_dir: &Path, hostnames: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let info = crate::server::tls::regenerate(data_dir, hostnames)?;
    println!("new self-signed certificate: {}", info.cert_path.display());
    println!("SHA-256 fingerprint: {}", info.fingerprint);
    println!("a running server serves it after SIGHUP (systemctl reload gatehouse)");
    Ok(())
}
