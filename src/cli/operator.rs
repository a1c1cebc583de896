//! Running operator commands from the command line: build the [`Request`], send it
//! to the running server's admin socket if one listens, else open the data
//! directory and execute it here; print the reply for people or as JSON. This is
//! one of the two places (with `main`) where `anyhow` and printing live.

use super::admin_socket as socket;
use super::env_file::EnvFile;
use super::{
    BackupArgs, ClientCommand, HashArgs, KeysCommand, MigrateArgs, RestoreArgs, Target, UserCommand,
};
use crate::clock::Clock;
use crate::config::{Config, ServeArgs};
use crate::domain::maintenance::{self, OfflineCheck};
use crate::domain::{Auth, HashParams, Hashing, Policy, StoreLocation};
use crate::ops::clients::AddClient;
use crate::ops::{execute, Reply, Request};
use anyhow::{anyhow, bail, Context};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::time::Duration;

/// The scrypt parameters an offline hash uses: flag or variable, else serve's
/// environment file, else the default (see [`super::env_file`]).
fn params(h: &HashArgs) -> anyhow::Result<HashParams> {
    let file = EnvFile::load(h.env_file.as_deref())?;
    let d = HashParams::DEFAULT;
    Ok(HashParams {
        log_n: h
            .scrypt_log_n
            .map_or_else(|| file.get("GATEHOUSE_SCRYPT_LOG_N"), |v| Ok(Some(v)))?
            .unwrap_or(d.log_n),
        r: h.scrypt_r.map_or_else(|| file.get("GATEHOUSE_SCRYPT_R"), |v| Ok(Some(v)))?.unwrap_or(d.r),
        p: h.scrypt_p.map_or_else(|| file.get("GATEHOUSE_SCRYPT_P"), |v| Ok(Some(v)))?.unwrap_or(d.p),
    })
}

/// Opens the store (the data directory's file, or `--database`) for an offline
/// command. With a shared database this is safe while servers run: they see the
/// change as they see each other's.
fn open_auth(target: &Target, hash: HashParams, policy: Policy) -> anyhow::Result<Auth> {
    let at = target.db.location(&target.data_dir).map_err(|e| anyhow!("{e}"))?;
    let hashing = Hashing { params: hash, memory_bytes: hash.memory_bytes() };
    // The issuer only matters for signing tokens, which operator commands never do.
    Auth::open(&at, hashing, Clock::system(), policy, "cli").map_err(|e| anyhow!("{e}"))
}

/// Sends `req` to the running server, or runs it offline on the store.
fn send_or_run(target: &Target, req: Request, hash: HashParams, policy: Policy) -> anyhow::Result<Reply> {
    match socket::send(&target.data_dir, &req) {
        Some(r) => r.context("talking to the running server's admin socket"),
        None => Ok(execute(&open_auth(target, hash, policy)?, req)),
    }
}

/// [`send_or_run`], then prints the reply: its text, or with --json the whole
/// reply (`ok`, `message`, `data`).
pub(super) fn dispatch(
    target: &Target,
    req: Request,
    hash: HashParams,
    policy: Policy,
) -> anyhow::Result<()> {
    let reply = send_or_run(target, req, hash, policy)?;
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
            crate::domain::Role::parse(&a.role).ok_or_else(|| {
                anyhow!("unknown role '{}': use user, moderator, admin or super_admin", a.role)
            })?;
            let hash = params(&a.hash)?;
            let new = crate::domain::users::NewUser {
                username: a.name,
                email: a.email,
                password: password(a.password_stdin)?,
                full_name: a.full_name,
            };
            crate::domain::users::validate_new(&new).map_err(|e| {
                anyhow!("{}", crate::ops::explain(e).replace("invalid input", "invalid user"))
            })?;
            let req = Request::UserAdd {
                name: new.username,
                email: new.email,
                role: a.role,
                full_name: new.full_name,
                password: new.password,
            };
            dispatch(&a.target, req, hash, p)
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
        UserCommand::ResetMfa(a) => dispatch(&a.target, Request::UserResetMfa { name: a.name }, none, p),
        UserCommand::ResetPassword(a) => {
            let hash = params(&a.hash)?;
            let password = password(a.password_stdin)?;
            dispatch(&a.target, Request::UserResetPassword { name: a.name, password }, hash, p)
        }
        UserCommand::RevokeSessions(a) => {
            let req = Request::UserRevokeSessions { name: a.name, include_api_keys: a.include_api_keys };
            dispatch(&a.target, req, none, p)
        }
        UserCommand::Keys(a) => dispatch(&a.target, Request::UserKeys { name: a.name }, none, p),
        UserCommand::RevokeKey(a) => {
            dispatch(&a.target, Request::UserRevokeKey { name: a.name, key_id: a.key_id }, none, p)
        }
        UserCommand::Delete(a) => dispatch(&a.target, Request::UserDelete { name: a.name }, none, p),
    }
}

/// `gatehouse client ...`. With --json, standard output carries one JSON object
/// and nothing else (logs go to standard error): the client, the list, or for
/// `add` and `rotate-secret` exactly `{"client_id": ..., "client_secret": ...}`.
/// A failure prints nothing there and exits non-zero with the reason.
pub fn client(cmd: ClientCommand) -> anyhow::Result<()> {
    let (target, req, secret_only) = match cmd {
        ClientCommand::Add(a) => {
            let add = AddClient {
                name: a.name,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                public: a.public,
                trusted: a.trusted,
                allowed_roles: a.allowed_roles,
                id_token_alg: a.id_token_alg,
            };
            (a.target, Request::ClientAdd(add), true)
        }
        ClientCommand::List(t) => (t, Request::ClientList, false),
        ClientCommand::Show(a) => (a.target, Request::ClientShow { client_id: a.client_id }, false),
        ClientCommand::Remove(a) => (a.target, Request::ClientRemove { client_id: a.client_id }, false),
        ClientCommand::RotateSecret(a) => {
            (a.target, Request::ClientRotateSecret { client_id: a.client_id }, true)
        }
    };
    let reply = send_or_run(&target, req, HashParams::DEFAULT, Policy::default())?;
    if !reply.ok {
        bail!("{}", reply.message);
    }
    if !target.json {
        println!("{}", reply.message);
        return Ok(());
    }
    let out = if secret_only {
        serde_json::json!({"client_id": reply.data["client_id"], "client_secret": reply.data["client_secret"]})
    } else {
        reply.data
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
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
    if std::env::var_os("GATEHOUSE_DATABASE").is_some_and(|v| !v.is_empty()) {
        bail!("restore replaces the data directory's file; to load a backup into PostgreSQL, put it in an empty directory as gatehouse.redb and run: gatehouse migrate-store --from DIR --to postgres://... (into an empty database)");
    }
    if socket::send(&a.data_dir, &Request::Status).is_some() {
        bail!("the server is running on {}: stop it first, then restore", a.data_dir.display());
    }
    let done = maintenance::restore(&a.data_dir, &a.file, Clock::system().now_secs())
        .map_err(|e| anyhow!("{} is not a usable backup: {e}", a.file.display()))?;
    if let Some(kept) = &done.kept {
        println!("current database kept as {}", kept.display());
    }
    println!("restored {} ({} users); start the server", a.file.display(), done.users);
    Ok(())
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
        let bcrypt = reply.data["imported_bcrypt_hashes"].as_u64().unwrap_or(0);
        let note = if bcrypt > 0 {
            format!(" ({bcrypt} accounts still have an imported bcrypt password hash)")
        } else {
            String::new()
        };
        return if reply.ok {
            Ok(format!("configuration valid; the running server reports the database healthy{note}"))
        } else {
            Err(CheckFailure::Database(reply.message))
        };
    }
    match maintenance::check_offline(&config.store) {
        OfflineCheck::NoDatabase => Ok(format!(
            "configuration valid; no database yet in {} (serve creates it)",
            config.data_dir.display()
        )),
        OfflineCheck::Healthy { users } => {
            Ok(format!("configuration valid; database healthy ({users} users)"))
        }
        OfflineCheck::InUse(e) => {
            Err(CheckFailure::Database(format!("{e}; and its admin socket does not answer")))
        }
        OfflineCheck::Broken(e) => Err(CheckFailure::Database(e)),
    }
}

/// `gatehouse migrate-store`: copy and verify, then print each table's count and digest.
pub fn migrate_store(a: &MigrateArgs) -> anyhow::Result<()> {
    let at = |s: &str| -> anyhow::Result<StoreLocation> {
        if !crate::domain::DatabaseOptions::is_url(s) {
            return Ok(StoreLocation::Dir(s.into()));
        }
        let mut o = crate::domain::DatabaseOptions::new(s, 2).map_err(|e| anyhow!("{e}"))?;
        o.ca_file = a.database_ca.clone();
        Ok(StoreLocation::Postgres(Box::new(o)))
    };
    let (from, to) = (at(&a.from)?, at(&a.to)?);
    if let StoreLocation::Dir(d) = &from {
        if socket::send(d, &Request::Status).is_some() {
            bail!("a server is running on {}: stop it first, so the copy is complete", d.display());
        }
    }
    let tables = crate::domain::migrate_store::migrate_store(&from, &to)
        .map_err(|e| anyhow!("copying {} to {}: {e}", from.describe(), to.describe()))?;
    if a.json {
        let rows: Vec<_> = tables
            .iter()
            .map(|t| serde_json::json!({"table": t.table, "rows": t.rows, "sha256": t.digest}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"ok": true, "tables": rows}))?);
        return Ok(());
    }
    for t in &tables {
        println!("{:<20} {:>10} rows  sha256 {}", t.table, t.rows, t.digest);
    }
    println!("copied {} to {} and verified every table", from.describe(), to.describe());
    Ok(())
}

/// `gatehouse hash calibrate`: the largest memory cost within the budget, then as
/// many sequential passes (p) as fit the time target.
pub fn hash_calibrate(target_ms: u64, max_memory_mib: u64) -> anyhow::Result<()> {
    let c = crate::domain::hash_cost::calibrate(target_ms, max_memory_mib).map_err(|e| anyhow!("{e}"))?;
    let HashParams { log_n, r, p } = c.params;
    let mib = HashParams { log_n, r, p }.memory_bytes() / (1024 * 1024);
    let ms = c.pass_ms;
    println!("one pass of scrypt log2N={log_n}, r={r} takes {ms:.0} ms here and needs {mib} MiB");
    println!("recommended for ~{target_ms} ms within {max_memory_mib} MiB: --scrypt-log-n {log_n} --scrypt-r {r} --scrypt-p {p}");
    println!(
        "(about {:.0} ms per login; set --hash-memory-mib to {mib} x the logins you want hashed at once)",
        ms * f64::from(p)
    );
    Ok(())
}

/// `gatehouse cert show`: the operator's certificate, or the local CA and the
/// certificate it signed.
pub fn cert_show(tls_cert: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    use crate::certs::{inspect, local_ca, CA_FILE, CHAIN_FILE};
    let now = Clock::system().now_secs();
    let path = tls_cert.map_or_else(|| data_dir.join(CHAIN_FILE), Path::to_path_buf);
    let chain = inspect::read_chain(&path)?;
    let leaf = inspect::summarize(&chain[0])?;
    let ca_path = data_dir.join(CA_FILE);
    let generated = tls_cert.is_none() && ca_path.exists();
    if generated {
        let ca = inspect::summarize(&inspect::read_chain(&ca_path)?[0])?;
        println!("local CA:     {}", ca_path.display());
        println!("  subject:    {}", ca.subject);
        println!("  SHA-256:    {} (stable: pin or trust this one)", ca.fingerprint);
        println!("  may sign:   {}", ca.permitted.join(", "));
        print_validity(&ca, now);
    }
    println!("certificate:  {}", path.display());
    println!(
        "  SHA-256:    {}{}",
        leaf.fingerprint,
        if generated { " (changes at each renewal)" } else { "" }
    );
    println!("  public key: {}", leaf.key_pin);
    println!("  names:      {}", leaf.names.join(", "));
    print_validity(&leaf, now);
    if generated {
        let due = leaf.not_after - local_ca::RENEW_BEFORE_DAYS * 86_400;
        println!("  renewal:    automatic, from {} (the key is kept)", inspect::rfc3339(due));
    } else if tls_cert.is_none() {
        println!(
            "(an earlier release's self-signed certificate: serve's next start replaces it with a local CA"
        );
        println!(" and a 90-day certificate for the same key)");
    }
    Ok(())
}

fn print_validity(c: &crate::certs::inspect::Summary, now: i64) {
    use crate::certs::inspect::rfc3339;
    println!("  valid from: {}", rfc3339(c.not_before));
    println!(
        "  until:      {} ({} days left; {} days in all)",
        rfc3339(c.not_after),
        c.days_left(now),
        c.lifetime_days()
    );
}

/// `gatehouse cert regenerate`: a new local CA and certificate, with new keys.
pub fn cert_regenerate(data_dir: &Path, hostnames: &[String]) -> anyhow::Result<()> {
    use crate::certs::{local_ca, CHAIN_FILE};
    std::fs::create_dir_all(data_dir)?;
    local_ca::regenerate(data_dir, hostnames, Clock::system().now_secs())?;
    println!("new local CA and certificate (new keys) in {}", data_dir.display());
    cert_show(None, data_dir)?;
    println!();
    println!("Clients must now trust the new {} (or {CHAIN_FILE}).", local_ca::CA_FILE);
    println!(
        "A running server serves it within the hour, or at once after SIGHUP (systemctl reload gatehouse)."
    );
    Ok(())
}
