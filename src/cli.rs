//! Command-line definitions (clap) and dispatch.
//!
//! Every `serve` option is a flag and a `GATEHOUSE_*` environment variable. The names
//! in SPEC §6 are fixed because scripts outside this repository rely on them. Parsing
//! stops at raw values; [`crate::config`] validates them into a `Config`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// gatehouse: users, logins, tokens and API keys for internal tools, from one binary.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log verbosity: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, global = true, env = "GATEHOUSE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
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

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server.
    ///
    /// With no flags: data in ./gatehouse-data, HTTPS on 127.0.0.1:8443, and a
    /// self-signed certificate generated on first start (its SHA-256 fingerprint is
    /// printed so clients can pin it). A flag given twice takes its last value.
    #[command(args_override_self = true)]
    Serve(Box<ServeArgs>),
    /// Manage users (through the running server, or directly on the data directory).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the token-signing keys (the running server picks a rotation up at once).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write a consistent, verified copy of the database while the server keeps serving.
    ///
    /// Example: gatehouse backup /var/backups/gatehouse-$(date +%F).redb
    Backup(BackupArgs),
    /// Replace the database with a backup (the server must be stopped). The backup is
    /// checked first and the current database is kept beside it.
    Restore(RestoreArgs),
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
    /// Show the certificate serve uses: file, SHA-256 fingerprint, names, validity.
    Show {
        /// Certificate file (default: the generated one in the data directory).
        #[arg(long, env = "GATEHOUSE_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// Data directory.
        #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
        data_dir: PathBuf,
    },
    /// Replace the generated self-signed certificate with a new one (new key, new
    /// fingerprint). A running server serves it after SIGHUP (systemctl reload).
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

/// `gatehouse keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key. It is published in the JWKS at once and starts
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

/// `gatehouse serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Directory holding the database, certificate and key (created 0700).
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub data_dir: PathBuf,
    /// Address and port to listen on. Port 0 picks a free port (see --ready-file).
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Once listening, write the bound address (e.g. 127.0.0.1:8443) to this file.
    #[arg(long, env = "GATEHOUSE_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS. Only for use behind a TLS-terminating proxy
    /// on the same host; passwords and tokens otherwise cross the network in clear.
    #[arg(long, env = "GATEHOUSE_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Also listen for plain HTTP on this address (e.g. 0.0.0.0:80) and answer every
    /// request with a permanent redirect to the HTTPS listener.
    #[arg(long, env = "GATEHOUSE_REDIRECT_HTTP", value_name = "ADDR:PORT")]
    pub redirect_http: Option<SocketAddr>,
    /// Serve Prometheus metrics at /metrics on this plain-HTTP address (no
    /// authentication: keep it on loopback or a private network). Without it,
    /// /metrics is on the main listener for admin tokens and keys only.
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Do not serve the API documentation page at /docs (/openapi.json stays).
    #[arg(long, env = "GATEHOUSE_NO_DOCS")]
    pub no_docs: bool,
    /// Extra DNS name or IP for the generated self-signed certificate (repeatable;
    /// localhost, 127.0.0.1 and ::1 are always included).
    #[arg(long = "hostname", env = "GATEHOUSE_HOSTNAME", value_delimiter = ',')]
    pub hostnames: Vec<String>,
    /// PEM certificate chain to serve instead of the generated one (needs --tls-key).
    #[arg(long, env = "GATEHOUSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "GATEHOUSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Browser origin allowed to call the API with credentials (repeatable), e.g.
    /// https://app.example.com. `*` is refused: it cannot be combined with credentials.
    #[arg(long = "cors-origin", env = "GATEHOUSE_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Login attempts (token and login endpoints) per client: N/second|minute|hour|day, or off.
    #[arg(long, env = "GATEHOUSE_LOGIN_RATE_LIMIT", default_value = "5/minute")]
    pub login_rate_limit: String,
    /// Registrations per client: N/second|minute|hour|day, or off.
    #[arg(long, env = "GATEHOUSE_REGISTER_RATE_LIMIT", default_value = "3/hour")]
    pub register_rate_limit: String,
    /// Other API calls per client or per API key: N/second|minute|hour|day, or off.
    #[arg(long, env = "GATEHOUSE_API_RATE_LIMIT", default_value = "100/minute")]
    pub api_rate_limit: String,
    /// Reverse proxy whose X-Forwarded-For is believed (CIDR or address, repeatable).
    #[arg(long = "trusted-proxy", env = "GATEHOUSE_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// scrypt log2(N) for new password hashes (memory = 128·r·2^N bytes).
    #[arg(long, env = "GATEHOUSE_SCRYPT_LOG_N", default_value_t = 15)]
    pub scrypt_log_n: u8,
    /// scrypt block size r.
    #[arg(long, env = "GATEHOUSE_SCRYPT_R", default_value_t = 8)]
    pub scrypt_r: u32,
    /// scrypt parallelism p (computed sequentially: multiplies time, not memory).
    #[arg(long, env = "GATEHOUSE_SCRYPT_P", default_value_t = 3)]
    pub scrypt_p: u32,
    /// Memory all concurrent password hashes may use together, in MiB. No more hashes
    /// run at once than this allows, nor more than there are CPU cores; logins beyond
    /// that queue instead of exhausting memory or starving token checks. Also the cap
    /// on a stored hash's cost.
    #[arg(long, env = "GATEHOUSE_HASH_MEMORY_MIB", default_value_t = 128)]
    pub hash_memory_mib: u64,
    /// Access-token lifetime in minutes.
    #[arg(long, env = "GATEHOUSE_ACCESS_TOKEN_MINUTES", default_value_t = 30)]
    pub access_token_minutes: u64,
    /// Refresh-token lifetime in days.
    #[arg(long, env = "GATEHOUSE_REFRESH_TOKEN_DAYS", default_value_t = 7)]
    pub refresh_token_days: u64,
    /// Failed logins in a row that lock an account (0 disables lockout).
    #[arg(long, env = "GATEHOUSE_MAX_FAILED_LOGINS", default_value_t = 5)]
    pub max_failed_logins: u32,
    /// How long a locked account stays locked, in minutes.
    #[arg(long, env = "GATEHOUSE_LOCKOUT_MINUTES", default_value_t = 30)]
    pub lockout_minutes: u64,
    /// Days audit-log entries are kept before the cleanup task deletes them.
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u64,
    /// Minutes between cleanup passes (expired sessions, revoked tokens, old audit
    /// entries, idle rate-limit entries); one also runs at start-up.
    #[arg(long, env = "GATEHOUSE_CLEANUP_INTERVAL_MINUTES", default_value_t = 10)]
    pub cleanup_interval_minutes: u64,
    /// Prefix of the identity headers /api/v1/auth/verify returns to a reverse
    /// proxy: PREFIX + User, User-Id, Role, Scopes, Email.
    #[arg(long, env = "GATEHOUSE_FORWARD_AUTH_HEADER_PREFIX", default_value = "X-Auth-")]
    pub forward_auth_header_prefix: String,
    /// Host a sign-in may send the browser back to (repeatable or comma-separated):
    /// `app.example.com`, `app.example.com:8080`, or `*.example.com` for any
    /// subdomain. Used by /ui/login's `rd` and by forward auth's redirect to the
    /// login page; other targets go to the account page instead.
    #[arg(
        long = "redirect-allow",
        value_name = "HOST",
        env = "GATEHOUSE_REDIRECT_ALLOW",
        value_delimiter = ','
    )]
    pub redirect_allow: Vec<String>,
    /// Domain attribute of the access-token cookie (e.g. example.com), so apps on
    /// sibling subdomains behind forward auth receive it. The refresh and CSRF
    /// cookies always stay host-only. Default: host-only.
    #[arg(long, value_name = "DOMAIN", env = "GATEHOUSE_COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,
    /// Token issuer (`iss`), also the base of the discovery URLs. Default:
    /// https://<first --hostname or localhost>[:<port> unless 443].
    #[arg(long, env = "GATEHOUSE_ISSUER")]
    pub issuer: Option<String>,
    /// Most connections open at once; further clients wait in the kernel backlog.
    #[arg(long, env = "GATEHOUSE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to finish the TLS handshake.
    #[arg(
        long = "tls-handshake-timeout",
        value_name = "SECS",
        env = "GATEHOUSE_TLS_HANDSHAKE_TIMEOUT",
        default_value_t = 10
    )]
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a client has to send a request's headers.
    #[arg(
        long = "header-timeout",
        value_name = "SECS",
        env = "GATEHOUSE_HEADER_TIMEOUT",
        default_value_t = 10
    )]
    pub header_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long = "idle-timeout", value_name = "SECS", env = "GATEHOUSE_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// On SIGTERM/SIGINT, seconds to let in-flight requests finish before exiting.
    #[arg(
        long = "shutdown-timeout",
        value_name = "SECS",
        env = "GATEHOUSE_SHUTDOWN_TIMEOUT",
        default_value_t = 20
    )]
    pub shutdown_timeout_secs: u64,
}

/// Where an operator command acts: the running server's admin socket when one is
/// listening in the data directory, else the data directory itself.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Data directory (of the running or stopped server).
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub data_dir: PathBuf,
    /// Print JSON for scripts instead of text for people.
    #[arg(long)]
    pub json: bool,
}

/// scrypt parameters for commands that hash offline (the running server uses its own).
#[derive(Debug, Clone, Args)]
pub struct HashArgs {
    /// scrypt log2(N), as for serve.
    #[arg(long, env = "GATEHOUSE_SCRYPT_LOG_N", default_value_t = 15)]
    pub scrypt_log_n: u8,
    /// scrypt r, as for serve.
    #[arg(long, env = "GATEHOUSE_SCRYPT_R", default_value_t = 8)]
    pub scrypt_r: u32,
    /// scrypt p, as for serve.
    #[arg(long, env = "GATEHOUSE_SCRYPT_P", default_value_t = 3)]
    pub scrypt_p: u32,
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
    /// Set a new password (terminal prompt or --password-stdin); revokes every session.
    ResetPassword(UserPasswordArgs),
    /// Revoke every access token and refresh session of a user.
    RevokeSessions(UserArgs),
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
