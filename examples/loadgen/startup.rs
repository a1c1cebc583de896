//! `loadgen startup`: start the server binary repeatedly for its time to ready, idle
//! RSS and time to stop.

use crate::measure::{round, rss_kib};
use crate::report::median;
use crate::{emit, StartupArgs};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// One start of the server: spawn → ready file → settle → RSS → SIGTERM → exit.
struct Start {
    ready_ms: f64,
    rss_kib: Option<u64>,
    stop_ms: f64,
    exit: Option<i32>,
}

pub(crate) fn startup(a: &StartupArgs) -> Result<()> {
    let ready = a.data_dir.with_extension("ready");
    let first = start_once(a, &ready)?;
    let mut starts = Vec::new();
    for _ in 0..a.runs {
        starts.push(start_once(a, &ready)?);
    }
    let ready_ms: Vec<f64> = starts.iter().map(|s| round(s.ready_ms, 1)).collect();
    let rss: Vec<u64> = starts.iter().filter_map(|s| s.rss_kib).collect();
    let line = json!({
        "startup": {
            "first_ready_ms": round(first.ready_ms, 1),
            "first_idle_rss_kib": first.rss_kib,
            "ready_ms": ready_ms,
            "ready_ms_median": median(&ready_ms),
            "idle_rss_kib": rss,
            "idle_rss_kib_median": median(&rss.iter().map(|&r| r as f64).collect::<Vec<_>>()),
            "stop_ms": starts.iter().map(|s| round(s.stop_ms, 1)).collect::<Vec<_>>(),
            "exit_codes": starts.iter().map(|s| s.exit).collect::<Vec<_>>(),
            "settle_s": a.settle,
            "serve_args": a.serve_args,
        }
    });
    emit(&line, a.out.as_deref())
}

fn start_once(a: &StartupArgs, ready: &Path) -> Result<Start> {
    use std::process::{Command, Stdio};
    let _ = std::fs::remove_file(ready);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
        .with_context(|| format!("opening {}", a.log.display()))?;
    let mut cmd = Command::new(&a.bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(&a.data_dir)
        .args(["--listen", "127.0.0.1:0", "--ready-file"])
        .arg(ready)
        .args(&a.serve_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let t0 = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {}", a.bin.display()))?;
    let ready_after = loop {
        if ready.exists() {
            break t0.elapsed();
        }
        if let Some(st) = child.try_wait()? {
            bail!("server exited before it was ready ({st}); see {}", a.log.display());
        }
        if t0.elapsed() > Duration::from_secs(30) {
            terminate(&mut child)?;
            bail!("server not ready within 30 s; see {}", a.log.display());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    std::thread::sleep(Duration::from_secs_f64(a.settle));
    let rss_kib = rss_kib(child.id());
    let t1 = Instant::now();
    let status = terminate(&mut child)?;
    Ok(Start {
        ready_ms: ready_after.as_secs_f64() * 1e3,
        rss_kib,
        stop_ms: t1.elapsed().as_secs_f64() * 1e3,
        exit: status.code(),
    })
}

/// SIGTERM (through kill(1): this crate has no libc), then SIGKILL after 30 s.
fn terminate(child: &mut std::process::Child) -> Result<std::process::ExitStatus> {
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st);
        }
        if t.elapsed() > Duration::from_secs(30) {
            child.kill()?;
            return Ok(child.wait()?);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
