//! Raw command-line options → a validated [`Config`].
//!
//! Every problem is collected and reported together, before any file is opened or
//! port bound, so an operator fixes a bad unit file in one pass. Nothing downstream
//! re-parses a flag.

mod args;
mod values;

use crate::domain::HashParams;
use crate::domain::{Policy, Role};
pub use args::{DatabaseArgs, ServeArgs};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
pub use values::{Cidr, ConnLimits, Rate, RateLimits, TlsSource};

/// Request bodies larger than this get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The smallest `--audit-max-rows`: fewer would lose the log to a minute of noise.
pub const MIN_AUDIT_ROWS: u64 = 1000;

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Where the data lives: the data directory's file, or a PostgreSQL database.
    pub store: crate::domain::StoreLocation,
    /// Listen address.
    pub listen: SocketAddr,
    /// File to write the bound address to once listening.
    pub ready_file: Option<PathBuf>,
    /// Certificate source.
    pub tls: TlsSource,
    /// Allowed CORS origins.
    pub cors_origins: Vec<String>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// scrypt parameters for new hashes.
    pub hash_params: HashParams,
    /// Memory budget for concurrent hashes, bytes.
    pub hash_memory_bytes: u64,
    /// Token lifetimes and lockout.
    pub policy: Policy,
    /// `iss` of every token.
    pub issuer: Option<String>,
    /// Names in the certificate and the default issuer (first one).
    pub hostnames: Vec<String>,
    /// Connection limits.
    pub limits: ConnLimits,
    /// Time between cleanup passes.
    pub cleanup_interval: Duration,
    /// Plain-HTTP address that redirects to HTTPS.
    pub redirect_http: Option<SocketAddr>,
    /// Lower-case prefix of the forward-auth identity headers.
    pub forward_header_prefix: String,
    /// Plain-HTTP address for /metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// `--no-docs`.
    pub no_docs: bool,
    /// Hosts a sign-in may redirect back to.
    pub redirect_allow: Vec<String>,
    /// Domain attribute of the access-token cookie.
    pub cookie_domain: Option<String>,
}

/// All problems found in the options.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

fn valid_hostname(h: &str) -> bool {
    if h.parse::<IpAddr>().is_ok() {
        return true;
    }
    let h = h.strip_prefix("*.").unwrap_or(h);
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `--redirect-allow` entries, lower-cased: `host`, `host:port` or `*.domain`.
fn parse_redirect_allow(raw: &[String], errs: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for entry in raw.iter().map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()) {
        let host = match entry.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') || h.ends_with(']') => {
                if port.parse::<u16>().is_err() {
                    errs.push(format!("--redirect-allow {entry}: the port must be a number"));
                    continue;
                }
                h.trim_start_matches('[').trim_end_matches(']').to_owned()
            }
            _ => entry.clone(),
        };
        if valid_hostname(&host) {
            out.push(entry);
        } else {
            errs.push(format!(
                "--redirect-allow {entry}: expected a host name, host:port or *.domain (no scheme or path)"
            ));
        }
    }
    out
}

/// `--cookie-domain`: a bare domain name (a leading dot is dropped, as browsers do).
fn parse_cookie_domain(raw: Option<&str>, errs: &mut Vec<String>) -> Option<String> {
    let d = raw?.trim().trim_start_matches('.').to_ascii_lowercase();
    if !d.is_empty() && !d.starts_with("*.") && d.parse::<IpAddr>().is_err() && valid_hostname(&d) {
        Some(d)
    } else {
        errs.push(format!(
            "--cookie-domain {}: expected a domain name such as example.com",
            raw.unwrap_or("")
        ));
        None
    }
}

fn valid_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/') && !o.ends_with('/')
}

impl Config {
    /// The `iss` of every token: `--issuer`, or `https://` + the first `--hostname`
    /// (else localhost) + the port when it is not 443. The RFC 8414 metadata and the
    /// JWKS URL are derived from it.
    pub fn issuer_for(&self, port: u16) -> String {
        if let Some(i) = &self.issuer {
            return i.trim_end_matches('/').to_owned();
        }
        let host = self.hostnames.first().map_or("localhost", String::as_str);
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
        if port == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{port}")
        }
    }

    /// Validates `serve` options.
    pub fn from_args(a: &ServeArgs) -> Result<Self, ConfigErrors> {
        let mut errs: Vec<String> = Vec::new();
        let mut rate = |flag: &str, v: &str| {
            Rate::parse(v).unwrap_or_else(|e| {
                errs.push(format!("--{flag}: {e}"));
                None
            })
        };
        let rate_limits = RateLimits {
            login: rate("login-rate-limit", &a.login_rate_limit),
            register: rate("register-rate-limit", &a.register_rate_limit),
            api: rate("api-rate-limit", &a.api_rate_limit),
        };
        let mut trusted_proxies = Vec::new();
        for p in &a.trusted_proxies {
            match Cidr::parse(p) {
                Ok(c) => trusted_proxies.push(c),
                Err(e) => errs.push(format!("--trusted-proxy: {e}")),
            }
        }
        for h in &a.hostnames {
            if !valid_hostname(h) {
                errs.push(format!("--hostname: '{h}' is not a DNS name or IP address"));
            }
        }
        for o in &a.cors_origins {
            if o == "*" {
                errs.push("--cors-origin: '*' cannot be used: the API sends credentials (cookies, Authorization), and browsers forbid credentials with a wildcard origin; list each origin instead".into());
            } else if !valid_origin(o) {
                errs.push(format!("--cors-origin: '{o}' is not an origin like https://app.example.com (scheme, host, optional port; no path)"));
            }
        }
        let tls = match (&a.tls_cert, &a.tls_key, a.insecure_http) {
            (Some(_), _, true) => {
                errs.push("--insecure-http cannot be combined with --tls-cert/--tls-key".into());
                TlsSource::None
            }
            (_, _, true) => TlsSource::None,
            (Some(cert), Some(key), false) => TlsSource::Files { cert: cert.clone(), key: key.clone() },
            _ => TlsSource::SelfSigned { hostnames: a.hostnames.clone() },
        };
        if a.redirect_http.is_some() && a.insecure_http {
            errs.push(
                "--redirect-http needs HTTPS to redirect to; it cannot be used with --insecure-http".into(),
            );
        }
        let hash_params = HashParams { log_n: a.scrypt_log_n, r: a.scrypt_r, p: a.scrypt_p };
        let hash_memory_bytes = a.hash_memory_mib.saturating_mul(1024 * 1024);
        if !(1..=24).contains(&a.scrypt_log_n)
            || a.scrypt_r == 0
            || a.scrypt_r > 64
            || a.scrypt_p == 0
            || a.scrypt_p > 16
        {
            errs.push(format!(
                "--scrypt-log-n/-r/-p: ln={} r={} p={} is outside 1..=24, 1..=64, 1..=16",
                a.scrypt_log_n, a.scrypt_r, a.scrypt_p
            ));
        } else if hash_params.memory_bytes() > hash_memory_bytes {
            errs.push(format!(
                "one scrypt hash needs {} MiB but --hash-memory-mib is {}: raise the budget or lower --scrypt-log-n",
                hash_params.memory_bytes() / (1024 * 1024),
                a.hash_memory_mib
            ));
        }
        let positive = |errs: &mut Vec<String>, flag: &str, v: u64| {
            if v == 0 {
                errs.push(format!("--{flag} must be at least 1"));
            }
        };
        positive(&mut errs, "access-token-minutes", a.access_token_minutes);
        positive(&mut errs, "refresh-token-days", a.refresh_token_days);
        positive(&mut errs, "lockout-minutes", a.lockout_minutes);
        positive(&mut errs, "audit-retention-days", a.audit_retention_days);
        positive(&mut errs, "cleanup-interval-minutes", a.cleanup_interval_minutes);
        if a.audit_max_rows < MIN_AUDIT_ROWS {
            errs.push(format!("--audit-max-rows must be at least {MIN_AUDIT_ROWS}"));
        }
        positive(&mut errs, "tls-handshake-timeout", a.tls_handshake_timeout_secs);
        positive(&mut errs, "header-timeout", a.header_timeout_secs);
        positive(&mut errs, "body-timeout", a.body_timeout_secs);
        positive(&mut errs, "idle-timeout", a.idle_timeout_secs);
        if a.max_connections == 0 {
            errs.push("--max-connections must be at least 1".into());
        }
        let prefix = &a.forward_auth_header_prefix;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            errs.push(format!("--forward-auth-header-prefix: '{prefix}' must be letters, digits and '-'"));
        }
        let issuer = a.issuer.clone();
        if issuer.as_deref().is_some_and(|i| i.trim().is_empty()) {
            errs.push("--issuer must not be empty".into());
        }
        let redirect_allow = parse_redirect_allow(&a.redirect_allow, &mut errs);
        let mut require_mfa = Vec::new();
        for r in a.require_mfa.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            match Role::parse(&r.to_ascii_lowercase()) {
                Some(role) if !require_mfa.contains(&role) => require_mfa.push(role),
                Some(_) => {}
                None => errs.push(format!(
                    "--require-mfa: unknown role '{r}' (user, moderator, admin or super_admin)"
                )),
            }
        }
        let cookie_domain = parse_cookie_domain(a.cookie_domain.as_deref(), &mut errs);
        let store = a.db.location(&a.data_dir).unwrap_or_else(|e| {
            errs.push(e);
            crate::domain::StoreLocation::Dir(a.data_dir.clone())
        });
        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        let mins = |m: u64| Duration::from_secs(m.saturating_mul(60));
        Ok(Self {
            data_dir: a.data_dir.clone(),
            store,
            listen: a.listen,
            ready_file: a.ready_file.clone(),
            tls,
            cors_origins: a.cors_origins.clone(),
            rate_limits,
            trusted_proxies,
            hash_params,
            hash_memory_bytes,
            policy: Policy {
                access_ttl: mins(a.access_token_minutes),
                refresh_ttl: Duration::from_secs(a.refresh_token_days.saturating_mul(86_400)),
                max_failed_logins: a.max_failed_logins,
                lockout: mins(a.lockout_minutes),
                audit_retention: Duration::from_secs(a.audit_retention_days.saturating_mul(86_400)),
                audit_max_rows: a.audit_max_rows,
                key_lead: Policy::default().key_lead,
                require_mfa,
            },
            cleanup_interval: mins(a.cleanup_interval_minutes),
            redirect_http: a.redirect_http,
            metrics_listen: a.metrics_listen,
            no_docs: a.no_docs,
            redirect_allow,
            cookie_domain,
            forward_header_prefix: a.forward_auth_header_prefix.to_ascii_lowercase(),
            issuer,
            hostnames: a.hostnames.clone(),
            limits: ConnLimits {
                max_connections: a.max_connections,
                tls_handshake_timeout: Duration::from_secs(a.tls_handshake_timeout_secs),
                header_timeout: Duration::from_secs(a.header_timeout_secs),
                body_timeout: Duration::from_secs(a.body_timeout_secs),
                idle_timeout: Duration::from_secs(a.idle_timeout_secs),
                shutdown_timeout: Duration::from_secs(a.shutdown_timeout_secs),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `serve`'s flags on their own, as the CLI flattens them.
    #[derive(Parser)]
    #[command(args_override_self = true)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn args(extra: &[&str]) -> ServeArgs {
        let mut v = vec!["serve"];
        v.extend_from_slice(extra);
        Serve::try_parse_from(v).unwrap().args
    }

    #[test]
    fn the_audit_row_bound_has_a_floor() {
        assert_eq!(Config::from_args(&args(&[])).unwrap().policy.audit_max_rows, 500_000);
        assert_eq!(
            Config::from_args(&args(&["--audit-max-rows", "1000"])).unwrap().policy.audit_max_rows,
            1000
        );
        let e = Config::from_args(&args(&["--audit-max-rows", "999"])).unwrap_err().to_string();
        assert!(e.contains("--audit-max-rows must be at least 1000"), "{e}");
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_args(&args(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.hash_params, HashParams::DEFAULT);
        assert_eq!(c.rate_limits.login, Some(Rate { count: 5, window: Duration::from_secs(60) }));
        assert_eq!(c.rate_limits.register, Some(Rate { count: 3, window: Duration::from_secs(3600) }));
        assert_eq!(c.tls, TlsSource::SelfSigned { hostnames: vec![] });
        assert_eq!(c.issuer, None);
        assert_eq!(c.issuer_for(8443), "https://localhost:8443");
        assert_eq!(
            Config::from_args(&args(&["--hostname", "auth.lan"])).unwrap().issuer_for(443),
            "https://auth.lan"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = Config::from_args(&args(&[
            "--login-rate-limit",
            "5/fortnight",
            "--cors-origin",
            "*",
            "--trusted-proxy",
            "10.0.0.0/33",
            "--hostname",
            "bad host",
            "--scrypt-log-n",
            "20",
        ]))
        .unwrap_err();
        assert_eq!(e.0.len(), 5, "{e}");
    }

    #[test]
    fn repeatable_flags_accumulate_and_single_ones_override() {
        let a = args(&[
            "--hostname",
            "a.lan",
            "--hostname",
            "b.lan",
            "--scrypt-log-n",
            "14",
            "--scrypt-log-n",
            "12",
        ]);
        assert_eq!(a.hostnames, ["a.lan", "b.lan"]);
        assert_eq!(a.scrypt_log_n, 12);
    }

    #[test]
    fn wildcard_cors_with_credentials_is_refused_with_a_reason() {
        let e = Config::from_args(&args(&["--cors-origin", "*"])).unwrap_err().to_string();
        assert!(e.contains("--cors-origin") && e.contains("credentials"), "{e}");
        assert!(Config::from_args(&args(&["--cors-origin", "https://app.example.com:8080"])).is_ok());
        assert!(Config::from_args(&args(&["--cors-origin", "https://app.example.com/path"])).is_err());
    }

    #[test]
    fn redirect_hosts_and_cookie_domain_are_checked() {
        let c = Config::from_args(&args(&[
            "--redirect-allow",
            "Tool.Example.com,tools.example.com:8080",
            "--redirect-allow",
            "*.corp.example",
            "--cookie-domain",
            ".Example.com",
        ]))
        .unwrap();
        assert_eq!(c.redirect_allow, ["tool.example.com", "tools.example.com:8080", "*.corp.example"]);
        assert_eq!(c.cookie_domain.as_deref(), Some("example.com"));
        for bad in ["https://tool.example.com", "tool.example.com/x", "tool.example.com:http", "a b"] {
            let e = Config::from_args(&args(&["--redirect-allow", bad])).unwrap_err().to_string();
            assert!(e.contains("--redirect-allow"), "{bad}: {e}");
        }
        for bad in ["*.example.com", "127.0.0.1", "example.com/x", ""] {
            let e = Config::from_args(&args(&["--cookie-domain", bad])).unwrap_err().to_string();
            assert!(e.contains("--cookie-domain"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(Rate::parse("off").unwrap(), None);
        assert_eq!(Rate::parse("100/minute").unwrap().map(|r| r.count), Some(100));
        assert!(Rate::parse("0/minute").is_err());
        assert!(Rate::parse("five/minute").is_err());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    }
}
