//! `loadgen report`: the JSON lines of a run as markdown tables, and the targets'
//! verdicts.

use crate::measure::round;
use crate::ReportArgs;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Scenario lines grouped by what ran: (scenario:conns, concurrent_with).
type Groups = BTreeMap<(usize, String), (String, Vec<Value>)>;

fn group_key(v: &Value) -> String {
    let others: Vec<&str> = v["concurrent_with"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let me = format!("{}:{}", v["scenario"].as_str().unwrap_or("?"), v["connections"].as_u64().unwrap_or(0));
    if others.is_empty() {
        me
    } else {
        format!("{me} during {}", others.join(" + "))
    }
}

fn stat(rows: &[Value], field: &str) -> Vec<f64> {
    rows.iter().filter_map(|r| r[field].as_f64()).collect()
}

fn range(v: &[f64], digits: i32) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() < 2 {
        format!("{}", round(median(v), digits))
    } else {
        format!("{} ({}–{})", round(median(v), digits), round(lo, digits), round(hi, digits))
    }
}

pub(crate) fn print_report(a: &ReportArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.raw).with_context(|| format!("reading {}", a.raw.display()))?;
    let mut groups: Groups = BTreeMap::new();
    let mut meta = serde_json::Map::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).context("a line of the raw file")?;
        if v.get("scenario").is_some() {
            let key = group_key(&v);
            let n = groups.len();
            let order = groups.iter().find(|(_, (k, _))| *k == key).map_or(n, |((o, _), _)| *o);
            groups.entry((order, key.clone())).or_insert_with(|| (key, Vec::new())).1.push(v);
        } else if let Some(obj) = v.as_object() {
            meta.extend(obj.clone());
        }
    }
    println!("| scenario | rounds | req/s median (min–max) | p50 ms | p99 ms | max ms | non-2xx | errors | server CPU µs/req | server RSS max MiB | other CPU s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (key, rows) in groups.values() {
        let sum = |f: &str| rows.iter().filter_map(|r| r[f].as_u64()).sum::<u64>();
        let rss: Vec<f64> = stat(rows, "server_rss_max_kib").iter().map(|k| k / 1024.0).collect();
        println!(
            "| {key} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rows.len(),
            range(&stat(rows, "rps"), 0),
            range(&stat(rows, "p50_ms"), 2),
            range(&stat(rows, "p99_ms"), 2),
            round(median(&stat(rows, "max_ms")), 1),
            sum("non_2xx"),
            sum("errors") + sum("setup_errors"),
            range(&stat(rows, "server_cpu_us_per_req_all"), 0),
            range(&rss, 1),
            range(&stat(rows, "other_cpu_s"), 1),
        );
    }
    println!();
    println!("## Targets");
    println!();
    targets(&groups, &meta);
    Ok(())
}

/// `key` against the bare request (`health:64`) of the same round: throughput ≥ 50 %
/// of it and p99 ≤ 2 × its p99 (issue 16), as the median over rounds of each
/// round's ratio.
fn near_the_limit(groups: &Groups, key: &str) {
    let (Some(rows), Some(bare)) = (group(groups, key), group(groups, "health:64")) else { return };
    let (mut tput, mut lat) = (Vec::new(), Vec::new());
    for r in rows {
        let Some(h) = bare.iter().find(|h| h["label"] == r["label"]) else { continue };
        let ratio = |f: &str, a: &Value, b: &Value| {
            a[f].as_f64().unwrap_or(0.0) / b[f].as_f64().unwrap_or(1.0).max(1e-9)
        };
        tput.push(ratio("rps", r, h));
        lat.push(ratio("p99_ms", r, h));
    }
    if tput.is_empty() {
        return;
    }
    let (t, l) = (median(&tput), median(&lat));
    println!(
        "| {key}: ≥ 50 % of /health's req/s in the same round | {:.0} % | {} |",
        t * 100.0,
        verdict(t >= 0.5)
    );
    println!("| {key}: p99 ≤ 2 × /health's p99 in the same round | {l:.2} × | {} |", verdict(l <= 2.0));
}

/// `loadgen compare`: the same scenarios at two database sizes, side by side.
pub(crate) fn compare(a: &crate::CompareArgs) -> Result<()> {
    let load = |p: &std::path::Path| -> Result<Groups> {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let mut groups: Groups = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).context("a line of the raw file")?;
            if v.get("scenario").is_some() {
                let key = group_key(&v);
                let n = groups.len();
                let order = groups.iter().find(|(_, (k, _))| *k == key).map_or(n, |((o, _), _)| *o);
                groups.entry((order, key.clone())).or_insert_with(|| (key, Vec::new())).1.push(v);
            }
        }
        Ok(groups)
    };
    let (small, large) = (load(&a.small)?, load(&a.large)?);
    println!(
        "| scenario | req/s {} | req/s {} | ratio | p99 ms {} | p99 ms {} | ratio | within {}× |",
        a.small_label, a.large_label, a.small_label, a.large_label, a.limit
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (key, rows) in small.values() {
        let Some(big) = group(&large, key) else { continue };
        let (r1, r2) = (median(&stat(rows, "rps")), median(&stat(big, "rps")));
        let (p1, p2) = (median(&stat(rows, "p99_ms")), median(&stat(big, "p99_ms")));
        let (rr, pr) = (r1 / r2.max(1e-9), p2 / p1.max(1e-9));
        let ok = rr <= a.limit && pr <= a.limit;
        println!("| {key} | {r1:.0} | {r2:.0} | {rr:.2} | {p1:.2} | {p2:.2} | {pr:.2} | {} |", verdict(ok));
    }
    Ok(())
}

fn group<'a>(groups: &'a Groups, key: &str) -> Option<&'a [Value]> {
    groups.values().find(|(k, _)| k == key).map(|(_, r)| r.as_slice())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn targets(groups: &Groups, meta: &serde_json::Map<String, Value>) {
    const MIB: f64 = 1024.0 * 1024.0;
    println!("| target | measured (median over rounds) | verdict |");
    println!("|---|---|---|");
    let hash_mib = meta.get("hash_memory_mib").and_then(Value::as_f64).unwrap_or(128.0);
    let idle_kib = meta.get("startup").and_then(|s| s["idle_rss_kib_median"].as_f64());
    let me = group(groups, "me:64");
    let me_p99 = me.map(|r| median(&stat(r, "p99_ms")));
    if let Some(rows) = me {
        let rps = median(&stat(rows, "rps"));
        let p99 = me_p99.unwrap_or(0.0);
        let bad: u64 = rows
            .iter()
            .map(|r| {
                r["non_2xx"].as_u64().unwrap_or(0)
                    + r["errors"].as_u64().unwrap_or(0)
                    + r["setup_errors"].as_u64().unwrap_or(0)
            })
            .sum();
        println!(
            "| users/me, 64 conns: ≥ 10,000 req/s | {rps:.0} req/s ({:+.0} %) | {} |",
            (rps / 10_000.0 - 1.0) * 100.0,
            verdict(rps >= 10_000.0)
        );
        println!("| users/me, 64 conns: p99 ≤ 25 ms | {p99:.2} ms | {} |", verdict(p99 <= 25.0));
        println!(
            "| users/me, 64 conns: zero errors | {bad} non-2xx or transport errors | {} |",
            verdict(bad == 0)
        );
    }
    if let (Some(rows), Some(idle)) = (group(groups, "me:64 during login:32"), me_p99) {
        let p99 = median(&stat(rows, "p99_ms"));
        println!(
            "| users/me p99 during login storm ≤ 3 × idle ({:.2} ms) | {p99:.2} ms = {:.1} × | {} |",
            3.0 * idle,
            p99 / idle.max(1e-9),
            verdict(p99 <= 3.0 * idle)
        );
    }
    if let Some(idle_kib) = idle_kib {
        let limit = idle_kib / 1024.0 + hash_mib + 20.0;
        for key in ["me:64 during login:32", "login:32"] {
            let Some(rows) = group(groups, key) else {
                continue;
            };
            let max = stat(rows, "server_rss_max_kib").iter().copied().fold(0.0, f64::max) / 1024.0;
            println!(
                "| RSS during a login storm ({key}) ≤ idle + {hash_mib} MiB + 20 MiB = {limit:.1} MiB | {max:.1} MiB (max over rounds, {:+.1} MiB) | {} |",
                max - limit,
                verdict(max <= limit)
            );
        }
    }
    for key in ["me:64", "verify:64"] {
        near_the_limit(groups, key);
    }
    for key in ["refresh:32", "refresh:64"] {
        if let Some(rows) = group(groups, key) {
            let rps = median(&stat(rows, "rps"));
            println!("| {key}: refresh ≥ 5,000/s durable | {rps:.0} /s | {} |", verdict(rps >= 5000.0));
        }
    }
    if let Some(kib) = idle_kib {
        println!("| idle RSS ≤ 12 MiB | {:.1} MiB | {} |", kib / 1024.0, verdict(kib <= 12.0 * 1024.0));
    }
    if let Some(bytes) = meta.get("binary_bytes").and_then(Value::as_f64) {
        println!(
            "| stripped release binary ≤ 10 MiB | {:.2} MiB ({bytes:.0} bytes) | {} |",
            bytes / MIB,
            verdict(bytes <= 10.0 * MIB)
        );
    }
    if let Some(ms) = meta.get("startup").and_then(|s| s["ready_ms_median"].as_f64()) {
        println!(
            "| ready ≤ 200 ms after start (certificate exists) | {ms:.1} ms median | {} |",
            verdict(ms <= 200.0)
        );
    }
}
