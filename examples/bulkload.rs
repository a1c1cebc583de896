//! Bench-only bulk loader: fills a *stopped* server's data directory with N users
//! named `<prefix>0 .. <prefix>N-1` (emails `<name>@example.com`, role `user`), all
//! with one password hashed once at the server's default scrypt parameters, in large
//! write transactions through the storage interface (unique indexes and dashboard
//! counters are kept exactly as registration keeps them). It exists so that
//! bench/size.sh can compare a 1,000-user and a 1,000,000-user database without
//! hashing a million passwords; it is not a product path (no validation, no audit).
//!
//! ```text
//! cargo run --release --example bulkload -- --data-dir /tmp/d --users 1000000
//! ```
//!
//! Prints one JSON line: users added, seconds, bytes of the database file.

use anyhow::{bail, Context, Result};
use clap::Parser;
use gatehouse::crypto::password::{HashParams, PasswordHasherConfig};
use gatehouse::store::records::{HashCost, Role, User};
use gatehouse::store::{Store, StoreError, Writes};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Bulk-load benchmark users into a stopped server's data directory.
#[derive(Debug, Parser)]
#[command(name = "bulkload")]
struct Args {
    /// Data directory (created if absent); no server may be running on it.
    #[arg(long)]
    data_dir: PathBuf,
    /// Users to add.
    #[arg(long)]
    users: u64,
    /// Usernames are <prefix><i>.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Index of the first user.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Password of every user (hashed once).
    #[arg(long, default_value = "BenchPass123!")]
    password: String,
    /// Users per write transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: u64,
    /// scrypt log2(N) of the shared hash (the server's default is 15).
    #[arg(long, default_value_t = 15)]
    scrypt_log_n: u8,
    /// scrypt r.
    #[arg(long, default_value_t = 8)]
    scrypt_r: u32,
    /// scrypt p.
    #[arg(long, default_value_t = 3)]
    scrypt_p: u32,
}

fn user(a: &Args, i: u64, hash: &str, now: i64) -> User {
    let username = format!("{}{i}", a.prefix);
    User {
        id: 0,
        email: format!("{username}@example.com"),
        username,
        full_name: None,
        password_hash: hash.to_owned(),
        role: Role::User,
        is_active: true,
        is_verified: false,
        created_at: now,
        updated_at: now,
        last_login: None,
        failed_logins: 0,
        locked_until: None,
        token_version: 0,
        session_epoch: 0,
    }
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let params = HashParams { log_n: a.scrypt_log_n, r: a.scrypt_r, p: a.scrypt_p };
    let hasher = PasswordHasherConfig::new(params, params.memory_bytes())?;
    let hash = hasher.hash(&a.password)?;
    let store = Store::open(&a.data_dir).with_context(|| format!("opening {}", a.data_dir.display()))?;
    let now = gatehouse::clock::Clock::system().now_micros();
    let started = Instant::now();
    let end = a.start + a.users;
    let mut next = a.start;
    while next < end {
        let upto = (next + a.batch).min(end);
        store.write(|tx: &mut dyn Writes| {
            let known = tx.hash_cost()?.unwrap_or_default();
            if (HashParams { log_n: known.log_n, r: known.r, p: known.p }).work() < params.work() {
                tx.put_hash_cost(&HashCost { log_n: params.log_n, r: params.r, p: params.p })?;
            }
            for i in next..upto {
                tx.insert_user(user(&a, i, &hash, now))?;
            }
            Ok::<_, StoreError>(())
        })?;
        next = upto;
        eprint!("\r{next}/{end} users");
    }
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    drop(store);
    let file = a.data_dir.join(gatehouse::store::DB_FILE);
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        json!({"bulkload": {"users": a.users, "seconds": (seconds * 1000.0).round() / 1000.0, "db_bytes": bytes}})
    );
    Ok(())
}
