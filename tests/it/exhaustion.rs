//! What an anonymous client can make gatehouse keep: memory and disk stay bounded
//! however many requests arrive (issue 12, findings 1 and 2). These tests measure
//! the resource itself — the real process's resident memory, the database file's
//! size — against a bound, never time.

use crate::binary::Running;
use crate::harness::post_form;

const TOKEN: &str = "/api/v1/auth/token";
const MIB: u64 = 1024 * 1024;

/// Resident memory of process `pid`, from /proc (Linux).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// A failed login for a username of about 1 MB (the body limit is 1 MiB): each
/// one distinct, so a table keyed by name would keep every one.
fn long_name_login(i: usize) -> crate::harness::Call {
    let name = format!("{i}-{}", "a".repeat(1_000_000));
    post_form(TOKEN, &[("username", name.as_str()), ("password", "WrongPass123!")])
}

/// Finding 1: failed logins for names without an account used to be remembered
/// by their whole folded name, 10 000 of them, never expiring — 1 MB names made
/// that ~10 GB. 150 such logins must not grow the server by more than a few MiB
/// (before the fix: ~150 MiB, kept for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_usernames_cost_no_lasting_memory() {
    let root = tempfile::tempdir().unwrap();
    let s = Running::start(root.path(), &[]).await;
    let pid = s.proc.child.id();
    // Warm up: the buffers one such request needs are allocated once.
    for i in 0..5 {
        let r = s.call(long_name_login(i)).await;
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    }
    let before = rss_bytes(pid);
    for i in 5..155 {
        let r = s.call(long_name_login(i)).await;
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["detail"], "Incorrect username or password");
    }
    let grown = rss_bytes(pid).saturating_sub(before);
    assert!(grown < 32 * MIB, "150 logins with 1 MB usernames grew the server by {} MiB", grown / MIB);
    assert_eq!(s.stop("TERM").await.code(), Some(0));
}

/// Size of the server's database file.
fn db_bytes(t: &crate::harness::TestServer) -> u64 {
    std::fs::metadata(t.dir.path().join("data").join("gatehouse.redb")).unwrap().len()
}

/// Finding 2: every refused request was audited with its whole path (up to ~64 KB)
/// and every 429 too, so the rate limit bounded what was served but not what was
/// written: 400 anonymous requests grew the database from 72 KiB to 49 MiB. Now an
/// entry names the route, not the path, and a client's 429s are audited once per
/// window.
#[tokio::test]
async fn refused_requests_with_huge_paths_do_not_fill_the_disk() {
    if crate::pg::file_engine_only("it measures the redb file") {
        return;
    }
    use gatehouse::store::records::AuditEvent;
    let t = crate::harness::TestServer::start_with(&["--api-rate-limit", "100/minute"]).await;
    let auth = t.server.as_ref().unwrap().auth();
    auth.flush_audit().unwrap();
    let before = db_bytes(&t);
    let path = format!("/api/v1/api-keys/{}", "k".repeat(60_000));
    for i in 0..400 {
        let r = t.call(crate::harness::delete(&path)).await;
        assert_eq!(r.status, if i < 100 { 401 } else { 429 }, "request {i}");
    }
    // A bad credential on an otherwise unlimited route counts against the address
    // too (its refusals are audited); /health stays unlimited.
    let metrics = crate::harness::get("/metrics").bearer("not-a-token");
    assert_eq!(t.call(metrics).await.status, 429);
    assert_eq!(t.call(crate::harness::get("/health")).await.status, 200);
    auth.flush_audit().unwrap();
    let grown = db_bytes(&t).saturating_sub(before);
    assert!(grown < 2 * MIB, "400 refused requests grew the database by {} KiB", grown / 1024);
    let count = |event| {
        let q = gatehouse::store::AuditQuery { event: Some(event), limit: 1000, ..Default::default() };
        auth.audit_log(&q).unwrap()
    };
    let refused = count(AuditEvent::UnauthorizedAccess);
    assert_eq!(refused.len(), 100);
    assert_eq!(refused[0].detail.as_deref(), Some("DELETE /api/v1/api-keys/{key_id}: no credentials"));
    let limited = count(AuditEvent::RateLimitExceeded);
    assert_eq!(limited.len(), 1, "one rate_limit_exceeded per client per window");
    assert_eq!(limited[0].detail.as_deref(), Some("DELETE /api/v1/api-keys/{key_id}: limit 100"));
}

/// Finding 2, the backstop: whatever writes entries, the log keeps at most
/// `--audit-max-rows`, dropping the oldest first — as queued refusals are written,
/// and for entries written with a state change, at the next cleanup.
#[tokio::test]
async fn the_audit_log_keeps_at_most_its_row_bound() {
    use gatehouse::store::records::AuditEvent;
    let t = crate::harness::TestServer::start_with(&["--audit-max-rows", "1000"]).await;
    let auth = t.server.as_ref().unwrap().auth();
    let rows = || auth.table_counts().unwrap().into_iter().find(|(t, _)| *t == "audit").unwrap().1;
    let ctx = gatehouse::domain::Ctx { ip: Some("203.0.113.9".into()), user_agent: None };
    let queue = |n: usize, tag: &str| {
        for i in 0..n {
            auth.audit_refusal(&ctx, AuditEvent::UnauthorizedAccess, None, format!("{tag} {i}"));
        }
        auth.flush_audit().unwrap();
    };
    queue(900, "first");
    assert_eq!(rows(), 900);
    queue(600, "second");
    assert_eq!(rows(), 1000, "the bound holds as entries are written");
    let q = gatehouse::store::AuditQuery { limit: 1000, ..Default::default() };
    let log = auth.audit_log(&q).unwrap();
    assert_eq!(log.last().unwrap().detail.as_deref(), Some("first 500"), "the oldest went first");
    assert_eq!(log[0].detail.as_deref(), Some("second 599"));
    // Entries written inside a state change's transaction (here, registrations)
    // are trimmed by the cleanup pass (the server's own start-up pass may run late
    // on a loaded machine and get there first).
    for name in ["alice", "bobby"] {
        t.register(name).await;
    }
    assert!([1000, 1002].contains(&rows()), "{}", rows());
    auth.cleanup_batch(1000).unwrap();
    assert_eq!(rows(), 1000);
    assert_eq!(gatehouse::domain::counters::Counters::get(&auth.counters().audit_dropped), 502);
}
