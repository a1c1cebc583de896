//! The value types of a configuration: where TLS comes from, rates, CIDR ranges of
//! trusted proxies and the connection limits, each parsed from its flag's text.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Generated on first start into the data directory, for these extra names
    /// (localhost, 127.0.0.1 and ::1 are always added).
    SelfSigned {
        /// From `--hostname`.
        hostnames: Vec<String>,
    },
    /// Operator-provided PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// `--insecure-http`: no TLS at all.
    None,
}

/// A request-rate limit: `count` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in one window.
    pub count: u32,
    /// Window length.
    pub window: Duration,
}

impl Rate {
    /// Parses `5/minute` (second, minute, hour or day); `off` gives `None`.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let err = || format!("'{s}' is not a rate: use N/second, N/minute, N/hour, N/day or off");
        let (n, unit) = s.split_once('/').ok_or_else(err)?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        let window = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(err()),
        };
        if count == 0 {
            return Err(format!("'{s}': a limit of 0 would refuse everything; use off to disable"));
        }
        Ok(Some(Self { count, window: Duration::from_secs(window) }))
    }
}

/// Per-client rate limits (`None` = off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// token and login endpoints.
    pub login: Option<Rate>,
    /// register.
    pub register: Option<Rate>,
    /// everything else under /api.
    pub api: Option<Rate>,
}

/// An IP network in CIDR form (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1` or `192.168.1.5`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("'{s}' is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses match IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Connection-level limits and timeouts.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// TLS handshake deadline.
    pub tls_handshake_timeout: Duration,
    /// Deadline for a request's headers.
    pub header_timeout: Duration,
    /// Deadline for a request's whole body, from the end of its headers.
    pub body_timeout: Duration,
    /// Idle keep-alive connections are closed after this.
    pub idle_timeout: Duration,
    /// Drain deadline on shutdown.
    pub shutdown_timeout: Duration,
}
