//! Prometheus metrics: requests by route and status, latency histograms, the
//! password-hashing queue, rate limiting, the auth core's event counters and the
//! stored password hashes by algorithm,
//! rendered in the text exposition format (0.0.4). Recording is a few relaxed
//! atomic adds per request into fixed arrays sized from the route table: no locks,
//! no allocation, bounded whatever the traffic.

use super::routes::ROUTES;
use crate::domain::counters::Counters;
use crate::domain::Auth;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Status codes counted individually; anything else is `other`.
const STATUSES: [u16; 16] = [200, 201, 204, 308, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503];
/// Latency bucket bounds, seconds.
const BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A histogram with fixed buckets.
#[derive(Debug)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Per-route counters; the last slot is for requests that matched no route.
#[derive(Debug)]
struct RouteStats {
    by_status: [AtomicU64; STATUSES.len() + 1],
    latency: Histogram,
}

/// Everything the server measures.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    routes: Vec<RouteStats>,
    rate_limited: [AtomicU64; 3],
    hash_waiting: AtomicI64,
    hash_wait: Histogram,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    /// Logins.
    Login = 0,
    /// Registrations.
    Register = 1,
    /// Other API calls.
    Api = 2,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics, started now.
    pub fn new() -> Self {
        let routes = (0..=ROUTES.len())
            .map(|_| RouteStats {
                by_status: std::array::from_fn(|_| AtomicU64::new(0)),
                latency: Histogram::new(),
            })
            .collect();
        Self {
            started: Instant::now(),
            routes,
            rate_limited: std::array::from_fn(|_| AtomicU64::new(0)),
            hash_waiting: AtomicI64::new(0),
            hash_wait: Histogram::new(),
        }
    }

    /// Records one request to route `index` (None: no route matched).
    pub fn request(&self, index: Option<usize>, status: u16, took: Duration) {
        let Some(r) = self.routes.get(index.unwrap_or(ROUTES.len())) else { return };
        let slot = STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len());
        r.by_status[slot].fetch_add(1, Ordering::Relaxed);
        r.latency.observe(took);
    }

    /// Records a request refused by a rate limit.
    pub fn rate_limited(&self, which: Limited) {
        self.rate_limited[which as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A password hash starts waiting for a permit; returns when it started.
    pub fn hash_queued(&self) -> Instant {
        self.hash_waiting.fetch_add(1, Ordering::Relaxed);
        Instant::now()
    }

    /// The hash got its permit.
    pub fn hash_started(&self, queued: Instant) {
        self.hash_waiting.fetch_sub(1, Ordering::Relaxed);
        self.hash_wait.observe(queued.elapsed());
    }

    /// The text exposition of everything, plus the auth core's counters and the
    /// database file's size.
    pub fn render(&self, auth: &Auth) -> String {
        let mut o = String::with_capacity(16 * 1024);
        self.render_requests(&mut o);
        o.push_str("# HELP gatehouse_rate_limited_total Requests refused by a rate limit.\n");
        o.push_str("# TYPE gatehouse_rate_limited_total counter\n");
        for (i, name) in ["login", "register", "api"].iter().enumerate() {
            let n = self.rate_limited[i].load(Ordering::Relaxed);
            let _ = writeln!(o, "gatehouse_rate_limited_total{{limit=\"{name}\"}} {n}");
        }
        o.push_str("# HELP gatehouse_password_hash_queue_depth Password hashes waiting for a permit.\n");
        o.push_str("# TYPE gatehouse_password_hash_queue_depth gauge\n");
        let _ = writeln!(
            o,
            "gatehouse_password_hash_queue_depth {}",
            self.hash_waiting.load(Ordering::Relaxed).max(0)
        );
        o.push_str("# HELP gatehouse_password_hash_wait_seconds Time a password hash waited for a permit.\n");
        o.push_str("# TYPE gatehouse_password_hash_wait_seconds histogram\n");
        self.hash_wait.render(&mut o, "gatehouse_password_hash_wait_seconds", "");
        render_counters(&mut o, auth.counters());
        if let Ok((bcrypt, total)) = auth.bcrypt_hashes() {
            o.push_str("# HELP gatehouse_password_hashes Stored password hashes by algorithm (bcrypt: imported, replaced by scrypt at the next sign-in).\n");
            o.push_str("# TYPE gatehouse_password_hashes gauge\n");
            let scrypt = total.saturating_sub(bcrypt);
            let _ = writeln!(o, "gatehouse_password_hashes{{algorithm=\"bcrypt\"}} {bcrypt}");
            let _ = writeln!(o, "gatehouse_password_hashes{{algorithm=\"scrypt\"}} {scrypt}");
        }
        let db = auth.database_bytes().unwrap_or(0);
        o.push_str("# HELP gatehouse_database_size_bytes Size of the database file.\n");
        o.push_str("# TYPE gatehouse_database_size_bytes gauge\n");
        let _ = writeln!(o, "gatehouse_database_size_bytes {db}");
        o.push_str("# HELP gatehouse_uptime_seconds Seconds since the server started.\n");
        o.push_str("# TYPE gatehouse_uptime_seconds gauge\n");
        let _ = writeln!(o, "gatehouse_uptime_seconds {:.3}", self.started.elapsed().as_secs_f64());
        o
    }

    fn render_requests(&self, o: &mut String) {
        o.push_str("# HELP gatehouse_http_requests_total HTTP requests by route and status.\n");
        o.push_str("# TYPE gatehouse_http_requests_total counter\n");
        for (i, r) in self.routes.iter().enumerate() {
            let (method, path) = ROUTES.get(i).map_or(("any", "unmatched"), |r| (r.method, r.path));
            let method = if method == "*" { "any" } else { method };
            for (j, c) in r.by_status.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let status = STATUSES.get(j).map_or("other".to_owned(), u16::to_string);
                let _ = writeln!(
                    o,
                    "gatehouse_http_requests_total{{method=\"{method}\",route=\"{path}\",status=\"{status}\"}} {n}"
                );
            }
        }
        o.push_str("# HELP gatehouse_http_request_duration_seconds Time to answer a request, by route.\n");
        o.push_str("# TYPE gatehouse_http_request_duration_seconds histogram\n");
        for (i, r) in self.routes.iter().enumerate() {
            if r.latency.count.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let (method, path) = ROUTES.get(i).map_or(("any", "unmatched"), |r| (r.method, r.path));
            let method = if method == "*" { "any" } else { method };
            let labels = format!("method=\"{method}\",route=\"{path}\"");
            r.latency.render(o, "gatehouse_http_request_duration_seconds", &labels);
        }
    }
}

fn render_counters(o: &mut String, c: &Counters) {
    let rows: [(&str, &str, &str, u64); 8] = [
        (
            "gatehouse_logins_total",
            "outcome=\"success\"",
            "Password logins by outcome.",
            Counters::get(&c.logins_ok),
        ),
        ("gatehouse_logins_total", "outcome=\"failure\"", "", Counters::get(&c.logins_failed)),
        ("gatehouse_lockouts_total", "", "Accounts locked by failed logins.", Counters::get(&c.lockouts)),
        ("gatehouse_tokens_issued_total", "", "Token pairs issued.", Counters::get(&c.tokens_issued)),
        (
            "gatehouse_tokens_refreshed_total",
            "",
            "Refresh-token rotations.",
            Counters::get(&c.tokens_refreshed),
        ),
        (
            "gatehouse_revocations_total",
            "",
            "Logouts, password changes, deactivations and other revocations.",
            Counters::get(&c.revocations),
        ),
        (
            "gatehouse_refresh_reuse_detected_total",
            "",
            "Spent refresh tokens presented again.",
            Counters::get(&c.reuse_detected),
        ),
        (
            "gatehouse_audit_entries_dropped_total",
            "",
            "Oldest audit entries deleted because the log reached --audit-max-rows.",
            Counters::get(&c.audit_dropped),
        ),
    ];
    for (name, labels, help, value) in rows {
        if !help.is_empty() {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        }
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(o, "{name}{braces} {value}");
    }
}
