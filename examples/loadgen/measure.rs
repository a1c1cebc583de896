//! One measured run: start every scenario's connections together, read the server's
//! and the machine's CPU at both ends of the window, and report one JSON line (and a
//! one-line summary on stderr) per scenario.

use crate::workload::{worker, Scenario, Spec, Tally, Window};
use crate::{emit, Ctx, RunArgs};
use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// utime + stime of a process in seconds (USER_HZ is 100 on Linux).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Busy CPU seconds of the whole machine (all but idle and iowait), from /proc/stat.
fn machine_busy_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy: u64 = f.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    Some(busy as f64 / 100.0)
}

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Samples the server's RSS every 100 ms until `stop`.
async fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> (Option<u64>, Option<u64>) {
    let first = rss_kib(pid);
    let mut max = first;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(r) = rss_kib(pid) {
            max = Some(max.map_or(r, |m| m.max(r)));
        }
    }
    (first, max)
}

pub(crate) async fn run(args: RunArgs) -> Result<()> {
    let ctx = Arc::new(Ctx::new(&args.target)?);
    let mut specs = vec![args.scenario];
    specs.extend(args.also.iter().copied());
    let token = match (&args.token_file, specs.iter().any(|s| s.kind.needs_token())) {
        (Some(f), _) => Some(std::fs::read_to_string(f)?.trim().to_owned()),
        (None, true) => Some(access_token(&ctx, &ctx.user(0)).await?),
        (None, false) => None,
    };
    let admin_token = match specs.iter().any(|s| s.kind.needs_admin()) {
        true => Some(access_token(&ctx, &args.admin_user).await?),
        false => None,
    };
    let total: usize = specs.iter().map(|s| s.conns).sum();
    let barrier = Arc::new(Barrier::new(total + 1));
    let window = Arc::new(std::sync::OnceLock::new());
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.seconds);
    let mut handles = Vec::new();
    for spec in &specs {
        let sc = Arc::new(Scenario {
            spec: *spec,
            issued: AtomicU64::new(0),
            max_requests: args.max_requests,
            token: token.clone(),
            admin_token: admin_token.clone(),
        });
        let mut hs = Vec::new();
        for idx in 0..spec.conns {
            hs.push(tokio::spawn(worker(
                Arc::clone(&ctx),
                Arc::clone(&sc),
                idx,
                Arc::clone(&barrier),
                Arc::clone(&window),
                (warmup, measure),
            )));
        }
        handles.push((*spec, hs));
    }
    barrier.wait().await;
    let w = *window.get_or_init(|| Window::new(warmup, measure));
    let stop = Arc::new(AtomicBool::new(false));
    let rss = args.server_pid.map(|pid| tokio::spawn(watch_rss(pid, Arc::clone(&stop))));
    tokio::time::sleep_until(w.start.into()).await;
    let pid_s = args.server_pid.map(|p| p.to_string());
    let srv0 = pid_s.as_deref().and_then(cpu_seconds);
    let me0 = cpu_seconds("self");
    let all0 = machine_busy_seconds();
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned));
    tokio::time::sleep_until(w.end.into()).await;
    let srv1 = pid_s.as_deref().and_then(cpu_seconds);
    let me1 = cpu_seconds("self");
    let all1 = machine_busy_seconds();
    let mut results = Vec::new();
    for (spec, hs) in handles {
        let mut tallies = Vec::new();
        for h in hs {
            tallies.push(h.await?);
        }
        results.push((spec, tallies));
    }
    stop.store(true, Ordering::Relaxed);
    let (rss_start, rss_max) = match rss {
        Some(h) => h.await?,
        None => (None, None),
    };
    let all_requests: usize =
        results.iter().map(|(_, ts)| ts.iter().map(|t| t.lat.len()).sum::<usize>()).sum();
    let server_cpu = srv0.zip(srv1).map(|(a, b)| b - a);
    let loadgen_cpu = me0.zip(me1).map(|(a, b)| b - a);
    // CPU used by everything else on the machine during the run: the noise indicator.
    let other_cpu =
        all0.zip(all1).map(|(a, b)| b - a - server_cpu.unwrap_or(0.0) - loadgen_cpu.unwrap_or(0.0));
    let names: Vec<String> = specs.iter().map(Spec::to_string).collect();
    for (spec, tallies) in results {
        let line = report(&args, spec, tallies, &names);
        let mut line = line;
        if let Some(obj) = line.as_object_mut() {
            obj.insert("server_cpu_s".into(), json!(server_cpu.map(|c| round(c, 2))));
            obj.insert(
                "server_cpu_us_per_req_all".into(),
                json!(server_cpu
                    .filter(|_| all_requests > 0)
                    .map(|c| round(c * 1e6 / all_requests as f64, 1))),
            );
            obj.insert("loadgen_cpu_s".into(), json!(loadgen_cpu.map(|c| round(c, 2))));
            obj.insert("other_cpu_s".into(), json!(other_cpu.map(|c| round(c, 2))));
            obj.insert(
                "loadavg_1m_at_start".into(),
                json!(load.as_deref().and_then(|l| l.parse::<f64>().ok())),
            );
            obj.insert("server_rss_start_kib".into(), json!(rss_start));
            obj.insert("server_rss_max_kib".into(), json!(rss_max));
        }
        eprintln!("{}", summary(&line));
        emit(&line, args.out.as_deref())?;
    }
    Ok(())
}

fn report(args: &RunArgs, spec: Spec, tallies: Vec<Tally>, names: &[String]) -> Value {
    let mut lat = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut errors, mut setup_errors) = (0, 0);
    let (mut first_error, mut first_non_2xx) = (None, None);
    let mut late = 0;
    for t in tallies {
        lat.extend(t.lat);
        for (s, n) in t.statuses {
            *statuses.entry(s).or_default() += n;
        }
        errors += t.errors;
        setup_errors += t.setup_errors;
        first_error = first_error.or(t.first_error);
        first_non_2xx = first_non_2xx.or(t.first_non_2xx);
        late += t.late;
    }
    lat.sort_unstable();
    let secs = args.seconds;
    let n = lat.len();
    let non_2xx: u64 = statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum();
    let mean = if n > 0 { lat.iter().map(|&x| x as f64).sum::<f64>() / n as f64 / 1e6 } else { 0.0 };
    let others: Vec<&String> = names.iter().filter(|s| **s != spec.to_string()).collect();
    json!({
        "scenario": spec.kind.name(),
        "connections": spec.conns,
        "concurrent_with": others,
        "label": args.label,
        "seconds": round(secs, 3),
        "requests": n,
        "rps": round(if secs > 0.0 { n as f64 / secs } else { 0.0 }, 1),
        "p50_ms": round(percentile(&lat, 0.50), 3),
        "p90_ms": round(percentile(&lat, 0.90), 3),
        "p99_ms": round(percentile(&lat, 0.99), 3),
        "max_ms": round(percentile(&lat, 1.0), 3),
        "mean_ms": round(mean, 3),
        "non_2xx": non_2xx,
        "errors": errors,
        "setup_errors": setup_errors,
        "late": late,
        "statuses": statuses,
        "first_error": first_error,
        "first_non_2xx": first_non_2xx,
        "loadgen_threads": args.target.threads,
    })
}

/// Logs `user` in once (before the clock starts) for its access token.
async fn access_token(ctx: &Ctx, user: &str) -> Result<String> {
    let mut c = ctx.connect().await.context("connecting")?;
    let v = ctx.login(&mut c, user).await?;
    let t = v.get("access_token").and_then(Value::as_str);
    Ok(t.ok_or_else(|| anyhow!("no access_token for {user}"))?.to_owned())
}

/// One line a person reads: scenario, throughput, latency, failures, server CPU.
fn summary(line: &Value) -> String {
    let f = |k: &str| line[k].as_f64().unwrap_or(0.0);
    let with: Vec<&str> = line["concurrent_with"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let during = if with.is_empty() { String::new() } else { format!(" (during {})", with.join(" + ")) };
    format!(
        "{}:{}{during}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} non-2xx, {} errors, server {:.0} µs CPU/req",
        line["scenario"].as_str().unwrap_or("?"),
        line["connections"],
        f("rps"),
        f("p50_ms"),
        f("p99_ms"),
        line["non_2xx"],
        f("errors") + f("setup_errors"),
        f("server_cpu_us_per_req_all"),
    )
}
