//! `gatehouse serve`'s flags as clap reads them: raw values, each with its
//! `GATEHOUSE_*` variable. The names in SPEC §6 are fixed because scripts outside
//! this repository rely on them. [`super::Config::from_args`] validates them.

use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the data lives when it is not the data directory's file: shared by
/// `serve` and every command that opens the store.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Keep everything in this PostgreSQL database instead of DATA_DIR/gatehouse.redb,
    /// so several instances can share it: postgres://USER[:PASSWORD]@HOST[:PORT]/DB,
    /// optionally ?sslmode=require (TLS, certificate and name verified). Prefer the
    /// variable (or serve's environment file) to keep the password out of `ps`.
    /// Needs a build with the cargo feature `postgres` (off by default).
    #[arg(long, env = "GATEHOUSE_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Most connections to the database this process opens (besides one that
    /// listens for changes made by other instances).
    #[arg(long, env = "GATEHOUSE_DATABASE_POOL_SIZE", default_value_t = 10, value_name = "N")]
    pub database_pool_size: usize,
    /// PEM file of the certificate authorities trusted for TLS to the database
    /// [default: the system's, /etc/ssl/certs/ca-certificates.crt].
    #[arg(long, env = "GATEHOUSE_DATABASE_CA", value_name = "PEM")]
    pub database_ca: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The store these options name: `--database`, else `data_dir`'s file.
    pub fn location(&self, data_dir: &Path) -> Result<crate::domain::StoreLocation, String> {
        let Some(url) = &self.database else {
            return Ok(crate::domain::StoreLocation::Dir(data_dir.to_path_buf()));
        };
        if !(1..=1000).contains(&self.database_pool_size) {
            return Err("--database-pool-size must be between 1 and 1000".into());
        }
        let mut o = crate::domain::DatabaseOptions::new(url, self.database_pool_size)
            .map_err(|e| format!("--database: {e}"))?;
        o.ca_file = self.database_ca.clone();
        o.scratch = Some(data_dir.to_path_buf());
        Ok(crate::domain::StoreLocation::Postgres(Box::new(o)))
    }
}

/// `gatehouse serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Directory holding the database, certificate and key (created 0700).
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub db: DatabaseArgs,
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
    /// Extra DNS name or IP for the generated certificate (repeatable; localhost,
    /// 127.0.0.1 and ::1 are always included). The local CA may sign only these names.
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
    /// Role whose holders must have a second factor (repeatable or comma-separated:
    /// user, moderator, admin, super_admin). A holder without one gets, for their
    /// correct password, a ten-minute token that only enrolls an authenticator
    /// app or passkey; then they sign in again with it. Default: nobody is forced.
    ///
    /// Example: --require-mfa admin --require-mfa super_admin
    #[arg(long = "require-mfa", value_name = "ROLE", env = "GATEHOUSE_REQUIRE_MFA", value_delimiter = ',')]
    pub require_mfa: Vec<String>,
    /// Days audit-log entries are kept before the cleanup task deletes them.
    #[arg(long, env = "GATEHOUSE_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u64,
    /// Most audit-log entries kept (at least 1000). Beyond it the oldest are deleted
    /// first, as new ones are written, whatever their age: the log's disk use stays
    /// bounded however many refusals anonymous clients cause.
    #[arg(long, env = "GATEHOUSE_AUDIT_MAX_ROWS", default_value_t = 500_000)]
    pub audit_max_rows: u64,
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
    /// login page; other targets go to the account page instead. The way back must
    /// be https:// (plain http:// only to localhost and loopback addresses).
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
    /// Seconds a client has to send a request's whole body once its headers are in;
    /// a client still sending after that gets 408 and the connection is closed.
    #[arg(long = "body-timeout", value_name = "SECS", env = "GATEHOUSE_BODY_TIMEOUT", default_value_t = 10)]
    pub body_timeout_secs: u64,
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
