//! `loadgen limits`: the machine's limits that bench results are compared with,
//! measured the same way every time: Ed25519 verifications and SHA-256 digests of
//! a token-sized message per second on one core (ring, as the server uses it), and
//! durable 4 KiB writes per second (`write` + `fdatasync`) in a directory on the
//! data directory's disk. Each figure is the median of `--runs` runs.

use crate::emit;
use crate::measure::round;
use crate::report::median;
use anyhow::{anyhow, Context, Result};
use clap::Args;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde_json::json;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub(crate) struct LimitsArgs {
    /// Directory for the fsync probe's scratch file (put it on the data disk).
    #[arg(long)]
    dir: PathBuf,
    /// Runs per figure.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Also append the JSON line to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Operations of `op` per second over `secs`.
fn rate(secs: f64, mut op: impl FnMut() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while t.elapsed() < limit {
        op()?;
        n += 1;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

pub(crate) fn limits(a: &LimitsArgs) -> Result<()> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow!("key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| anyhow!("bad key"))?;
    let message = vec![b'x'; 420]; // a signed JWT's header and payload are about this long
    let sig = pair.sign(&message);
    let public = pair.public_key().as_ref().to_vec();
    let token = vec![b'y'; 600];
    let path = a.dir.join("loadgen-fsync-probe");
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let page = [0u8; 4096];
    let (mut verify, mut sha, mut fsync) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.runs.max(1) {
        verify.push(rate(a.seconds, || {
            UnparsedPublicKey::new(&ED25519, &public)
                .verify(&message, sig.as_ref())
                .map_err(|_| anyhow!("verify failed"))
        })?);
        sha.push(rate(a.seconds, || {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &token));
            Ok(())
        })?);
        fsync.push(rate(a.seconds, || {
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&page)?;
            file.sync_data()?;
            Ok(())
        })?);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    let line = json!({"limits": {
        "ed25519_verify_per_s_one_core": round(median(&verify), 0),
        "sha256_600b_per_s_one_core": round(median(&sha), 0),
        "fdatasync_4k_per_s": round(median(&fsync), 0),
        "runs": a.runs, "seconds": a.seconds,
    }});
    emit(&line, a.out.as_deref())
}
