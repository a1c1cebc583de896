//! Command-line definitions (clap) and dispatch.
//!
//! Every `serve` option is a flag and a `GATEHOUSE_*` environment variable. The names
//! in SPEC §6 are fixed because scripts outside this repository rely on them. Parsing
//! stops at raw values; `serve`'s flags are [`crate::config::ServeArgs`], which
//! [`crate::config`] validates into a `Config`.

pub mod admin_socket;
pub mod env_file;
pub mod import;
pub mod operator;

use crate::config::{DatabaseArgs, ServeArgs};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// gatehouse: users, logins, tokens and API keys for internal tools, from one binary.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log verbosity: error, warn, info, debug, trace or off, optionally per module
    /// (e.g. `info,gatehouse::server=debug`).
    #[arg(long, global = true, env = "GATEHOUSE_LOG_LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: tracing_subscriber::filter::Targets,
    /// Log format: human-readable text on a terminal, JSON lines otherwise (auto).
    #[arg(long, global = true, env = "GATEHOUSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON when not.
    Auto,
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--log-level`: a level, or `target=level` pairs separated by commas. No regular
/// expressions or span filters (that would cost the binary a regex engine).
fn parse_log_level(s: &str) -> Result<tracing_subscriber::filter::Targets, String> {
    s.parse().map_err(|e| {
        format!("{e} (expected a level such as info or debug, or e.g. info,gatehouse::server=debug)")
    })
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server.
    ///
    /// With no flags: data in ./gatehouse-data, HTTPS on 127.0.0.1:8443, and a
    /// local CA generated on first start that signs a 90-day certificate, renewed
    /// automatically while serving (clients trust DATA_DIR/tls-ca.pem once; its
    /// SHA-256 fingerprint is printed). A flag given twice takes its last value.
    #[command(args_override_self = true)]
    Serve(Box<ServeArgs>),
    /// Manage users (through the running server, or directly on the data directory).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the token-signing keys (the running server picks a rotation up at once).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the OpenID clients: the tools that sign people in through gatehouse
    /// (through the running server, effective at once, or directly on the data directory).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Write a consistent, verified copy of the database while the server keeps serving.
    ///
    /// Example: gatehouse backup /var/backups/gatehouse-$(date +%F).redb
    Backup(BackupArgs),
    /// Move users in from another system (through the running server, or directly
    /// on the data directory).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Replace the database with a backup (the server must be stopped). The backup is
    /// checked first and the current database is kept beside it.
    Restore(RestoreArgs),
    /// Copy everything from one store to another, empty one, and verify the copy
    /// (rows and a SHA-256 digest per table): a data directory's file to PostgreSQL
    /// or back. Stop the servers using the source first.
    ///
    /// Example: gatehouse migrate-store --from /var/lib/gatehouse --to postgres://gatehouse@db/gatehouse
    MigrateStore(MigrateArgs),
    /// Check the configuration (the same flags and variables as serve) and the
    /// database. Exit codes: 0 fine, 2 configuration invalid, 3 database unusable.
    Check(Box<ServeArgs>),
    /// Password hashing on this machine.
    #[command(subcommand)]
    Hash(HashCommand),
    /// The TLS certificate.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    ///
    /// Example: gatehouse completions bash > /etc/bash_completion.d/gatehouse
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) generated from these definitions.
    Man,
}

/// `gatehouse import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import the users of the tutorial's FastAPI app from its SQLite database: ids
    /// (where free), usernames, emails, names, roles, active/verified flags, times,
    /// lockouts, bcrypt hashes (verified at the next sign-in, then scrypt) and API
    /// keys (kept as digests). The file is only read. Running it again changes
    /// nothing. Sign-in tokens are not carried over: people sign in once.
    ///
    /// Example: gatehouse import tutorial --sqlite /srv/tutorial/auth.db --dry-run
    Tutorial(ImportTutorialArgs),
}

/// `gatehouse import tutorial`
#[derive(Debug, Clone, Args)]
pub struct ImportTutorialArgs {
    /// The tutorial's database file (its `users` table is read; stop the app first).
    #[arg(long, value_name = "PATH")]
    pub sqlite: PathBuf,
    /// Check everything and report, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid rows even if some are invalid (listed as skipped). Without
    /// it, one invalid row stops the import and nothing is written.
    #[arg(long)]
    pub skip_invalid: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse hash ...`
#[derive(Debug, Subcommand)]
pub enum HashCommand {
    /// Measure scrypt here and recommend --scrypt-log-n/-r/-p for a time and memory
    /// budget per login.
    ///
    /// Example (a Raspberry Pi): gatehouse hash calibrate --target-ms 250 --max-memory-mib 64
    Calibrate {
        /// Time one login's hash should take, in milliseconds.
        #[arg(long, default_value_t = 250)]
        target_ms: u64,
        /// Memory one hash may use, in MiB.
        #[arg(long, default_value_t = 32)]
        max_memory_mib: u64,
    },
}

/// `gatehouse cert ...`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show the certificate serve uses: file, SHA-256 fingerprint, public-key pin,
    /// names, validity; for the generated one also the local CA that signed it.
    Show {
        /// Certificate file (default: the generated one in the data directory).
        #[arg(long, env = "GATEHOUSE_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// Data directory.
        #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
        data_dir: PathBuf,
    },
    /// Replace the local CA and the certificate it signed with new ones (new keys,
    /// new fingerprints): clients must trust the new DATA_DIR/tls-ca.pem. A running
    /// server serves it within the hour, or at once after SIGHUP (systemctl reload).
    /// Pass the same --hostname as serve (GATEHOUSE_HOSTNAME is read too).
    Regenerate {
        /// Names for the certificate besides localhost, 127.0.0.1 and ::1.
        #[arg(long = "hostname", env = "GATEHOUSE_HOSTNAME", value_delimiter = ',')]
        hostnames: Vec<String>,
        /// Data directory.
        #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
        data_dir: PathBuf,
    },
}

/// `gatehouse backup`
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Destination file (must not exist).
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse restore`
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// Backup file written by `gatehouse backup`.
    pub file: PathBuf,
    /// Data directory of the stopped server.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub data_dir: PathBuf,
}

/// `gatehouse migrate-store`
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Where the data is now: a data directory, or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    pub from: String,
    /// Where it goes (must be empty): a data directory, or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    pub to: String,
    /// PEM file of the certificate authorities trusted for TLS to the database
    /// [default: the system's].
    #[arg(long, env = "GATEHOUSE_DATABASE_CA", value_name = "PEM")]
    pub database_ca: Option<PathBuf>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long)]
    pub json: bool,
}

/// `gatehouse keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key for every algorithm in use (EdDSA; RS256 and ES256
    /// once an OpenID client uses them). Each is published in the JWKS at once and starts
    /// signing after --lead-minutes, so verifiers that cache the JWKS learn it first;
    /// the old key keeps verifying until every token it signed has expired.
    /// With --emergency the new key signs at once and every older key is withdrawn:
    /// all tokens signed so far stop working.
    ///
    /// Example: gatehouse keys rotate --data-dir /var/lib/gatehouse
    Rotate(KeysRotateArgs),
    /// List the signing keys with their state (pending, active, retired, expired,
    /// revoked) and dates.
    List(KeysListArgs),
}

/// `gatehouse keys rotate`
#[derive(Debug, Clone, Args)]
pub struct KeysRotateArgs {
    /// Minutes the new key is published before it signs.
    #[arg(long, default_value_t = 60)]
    pub lead_minutes: u64,
    /// Sign with the new key at once and withdraw every older key.
    #[arg(long)]
    pub emergency: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: KeysListArgs,
}

/// `gatehouse keys list` (and what `keys rotate` shares with it)
#[derive(Debug, Clone, Args)]
pub struct KeysListArgs {
    /// Refresh-token lifetime the server uses (retired keys verify this long).
    #[arg(long, env = "GATEHOUSE_REFRESH_TOKEN_DAYS", default_value_t = 7)]
    pub refresh_token_days: u64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// Where an operator command acts: the running server's admin socket when one is
/// listening in the data directory, else the data directory itself.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Data directory (of the running or stopped server).
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: DatabaseArgs,
    /// Print JSON for scripts instead of text for people.
    #[arg(long)]
    pub json: bool,
}

/// scrypt parameters for commands that hash offline (the running server uses its
/// own). Each comes from its flag, else its variable, else serve's environment file,
/// else the built-in default, so an offline user gets the cost the service uses.
#[derive(Debug, Clone, Args)]
pub struct HashArgs {
    /// scrypt log2(N), as for serve [default: from the environment file, else 15].
    #[arg(long, env = "GATEHOUSE_SCRYPT_LOG_N")]
    pub scrypt_log_n: Option<u8>,
    /// scrypt r, as for serve [default: from the environment file, else 8].
    #[arg(long, env = "GATEHOUSE_SCRYPT_R")]
    pub scrypt_r: Option<u32>,
    /// scrypt p, as for serve [default: from the environment file, else 3].
    #[arg(long, env = "GATEHOUSE_SCRYPT_P")]
    pub scrypt_p: Option<u32>,
    /// serve's environment file, read for the scrypt settings given neither as a
    /// flag nor as a variable [default: /etc/gatehouse/gatehouse.env when it exists;
    /// `none` reads none].
    #[arg(long, env = "GATEHOUSE_ENV_FILE", value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// A user named on the command line.
#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    /// Username.
    pub name: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse user ...` (works whether or not the server is running)
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with any role, including super_admin (the only way to make one).
    /// The password is read from the terminal, or from standard input with --password-stdin.
    ///
    /// Example: gatehouse user add alice --email alice@example.com --role super_admin
    Add(UserAddArgs),
    /// List users, 100 at a time, or those whose username or email starts with --search.
    List(UserListArgs),
    /// Show one user.
    Show(UserArgs),
    /// Change a user's role, including to or from super_admin (the HTTP API never
    /// grants super_admin). The user's access tokens are revoked.
    ///
    /// Example: gatehouse user set-role alice admin
    SetRole(UserSetRoleArgs),
    /// Reactivate a deactivated user (also clears a lockout).
    Activate(UserArgs),
    /// Deactivate a user: logins fail and every token and session is revoked.
    Deactivate(UserArgs),
    /// Clear a lockout after too many failed logins.
    Unlock(UserArgs),
    /// Clear a user's second factors (authenticator app, recovery codes, passkeys)
    /// when they lost their device. Audited. If their role is named by
    /// --require-mfa they enroll again at their next sign-in.
    ///
    /// Example: gatehouse user reset-mfa alice
    ResetMfa(UserArgs),
    /// Set a new password (terminal prompt or --password-stdin); revokes every session.
    ResetPassword(UserPasswordArgs),
    /// Revoke every access token and refresh session of a user; with
    /// --include-api-keys their API keys too (otherwise keys keep working).
    RevokeSessions(UserRevokeArgs),
    /// List a user's API keys (id, name, prefix, scopes, dates; never the key).
    ///
    /// Example: gatehouse user keys alice
    Keys(UserArgs),
    /// Revoke one of a user's API keys by its id (from `user keys`).
    ///
    /// Example: gatehouse user revoke-key alice 3f9a0c1d2e4b5a6f
    RevokeKey(UserRevokeKeyArgs),
    /// Delete a user and their API keys (the audit log keeps their history).
    Delete(UserArgs),
}

/// `gatehouse user add`
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// Username: 3-50 of letters, digits, '-' and '_' (stored lower-case).
    pub name: String,
    /// Email address.
    #[arg(long)]
    pub email: String,
    /// Role: user, moderator, admin or super_admin.
    #[arg(long, default_value = "user")]
    pub role: String,
    /// Optional display name.
    #[arg(long)]
    pub full_name: Option<String>,
    /// Read the password from the first line of standard input (for scripts).
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub hash: HashArgs,
}

/// `gatehouse user list`
#[derive(Debug, Clone, Args)]
pub struct UserListArgs {
    /// Skip this many users (in id order).
    #[arg(long, default_value_t = 0)]
    pub skip: u64,
    /// Show at most this many (up to 100).
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// Only users whose username or email starts with this.
    #[arg(long)]
    pub search: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse user revoke-sessions`
#[derive(Debug, Clone, Args)]
pub struct UserRevokeArgs {
    /// Username.
    pub name: String,
    /// Also revoke every API key of the user.
    #[arg(long)]
    pub include_api_keys: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse user revoke-key`
#[derive(Debug, Clone, Args)]
pub struct UserRevokeKeyArgs {
    /// Username.
    pub name: String,
    /// The key's id.
    pub key_id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse user set-role`
#[derive(Debug, Clone, Args)]
pub struct UserSetRoleArgs {
    /// Username.
    pub name: String,
    /// New role: user, moderator, admin or super_admin.
    pub role: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse user reset-password`
#[derive(Debug, Clone, Args)]
pub struct UserPasswordArgs {
    /// Username.
    pub name: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub hash: HashArgs,
}

/// `gatehouse client ...` (works whether or not the server is running). With
/// --json, standard output carries exactly one JSON object (an array for `list`) and
/// nothing else; `add` and `rotate-secret` print `{"client_id": ..., "client_secret": ...}`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a tool that signs people in through gatehouse (OpenID Connect). A
    /// confidential client gets a secret, shown this once and stored only as a hash.
    ///
    /// Example: gatehouse client add Grafana --redirect-uri https://grafana.example.com/login/generic_oauth --json
    Add(ClientAddArgs),
    /// List the registered clients.
    List(Target),
    /// Show one client's settings (never its secret).
    Show(ClientArgs),
    /// Remove a client: its codes and refresh tokens stop working at once.
    Remove(ClientArgs),
    /// Give a confidential client a new secret (shown this once); the old one stops
    /// working at once.
    RotateSecret(ClientArgs),
}

/// A client named on the command line.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The client's id (from `client list`).
    pub client_id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}

/// `gatehouse client add`
#[derive(Debug, Clone, Args)]
pub struct ClientAddArgs {
    /// The name people see on the consent and account pages (1-100 characters).
    pub name: String,
    /// Where the client receives its codes, exactly (repeatable): https://, or
    /// http:// to localhost, 127.x.x.x or [::1] only.
    #[arg(long = "redirect-uri", value_name = "URI", required = true)]
    pub redirect_uris: Vec<String>,
    /// Where the client may send the browser after signing out (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a native or single-page app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// A first-party tool: users are not asked to consent.
    #[arg(long)]
    pub trusted: bool,
    /// Only users with this role may sign in to it (repeatable; default: every role).
    #[arg(long = "allowed-role", value_name = "ROLE",
          value_parser = ["user", "moderator", "admin", "super_admin"])]
    pub allowed_roles: Vec<String>,
    /// How its ID tokens are signed.
    #[arg(long, value_name = "ALG", default_value = "RS256", value_parser = ["RS256", "ES256", "EdDSA"])]
    pub id_token_alg: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: Target,
}
