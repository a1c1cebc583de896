#!/usr/bin/env bash
# gatehouse load benchmark: builds the release binary and examples/loadgen, measures
# binary size, time to ready, idle RSS and the machine's limits (Ed25519 verify per
# core, fsync per second), then drives one server over TLS (keep-alive, 127.0.0.1
# only) through the scenarios below and writes bench/results.md (tables + machine)
# and bench/results/raw.jsonl (every JSON line). Each scenario also prints a
# one-line summary on stderr. See bench/size.sh (1,000 vs 1,000,000 users) and
# bench/memory.sh (a login storm under a memory cap) for the other two benchmarks.
#
# Usage: bench/run.sh            (from anywhere; see bench/README.md)
# Knobs (environment): CARGO_TARGET_DIR (default ./target), ROUNDS (3), SECS (10),
# WARMUP (1), READY_RUNS (7), LOADGEN_THREADS (2), SKIP_BUILD=1, OUT (bench/results.md), RAW,
# QUIET_PCT (10) and QUIET_WAIT (300): before each measurement, wait up to QUIET_WAIT s
# until the machine is at most QUIET_PCT % busy (other people's builds skew numbers);
# NICE (e.g. -15, needs root): run the server and the load generator in their own
# session with that niceness for the session's scheduler autogroup (and the processes),
# so background builds on a shared machine get little CPU while measuring. With
# autogroups (kernel.sched_autogroup_enabled=1) plain `nice` does not help: CPU is
# shared between sessions first.
#
# Every process started here is bounded: the server is stopped with SIGTERM by its
# own PID (trap on exit/interrupt), every loadgen run ends after WARMUP+SECS.
set -euo pipefail

if [[ -n ${NICE:-} && -z ${BENCH_OWN_SESSION:-} ]]; then
    export BENCH_OWN_SESSION=1
    exec setsid --wait bash "$0" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
WARMUP=${WARMUP:-1}
READY_RUNS=${READY_RUNS:-7}
THREADS=${LOADGEN_THREADS:-2}
OUT=${OUT:-$ROOT/bench/results.md}
RAW_DIR=$ROOT/bench/results
RAW=${RAW:-$RAW_DIR/raw.jsonl}
NICE=${NICE:-}
PRIO=()
if [[ -n $NICE ]]; then
    PRIO=(nice -n "$NICE")
    echo "$NICE" >"/proc/$$/autogroup" || echo "bench: cannot set the autogroup niceness" >&2
fi
HASH_MIB=128 # the server default (--hash-memory-mib); the scrypt defaults are used too
USERS=64

BIN=$TARGET_DIR/release/gatehouse
LOADGEN=$TARGET_DIR/release/examples/loadgen

WORK=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
SERVER_PID=

stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server $SERVER_PID did not stop in 30 s after SIGTERM; killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

QUIET_PCT=${QUIET_PCT:-10}
QUIET_WAIT=${QUIET_WAIT:-300}
busy_pct() { # whole-machine busy % over one second, from /proc/stat
    local u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 busy total
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
    sleep 1
    read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
    busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
    total=$((busy + (i2 + w2) - (i1 + w1)))
    echo $((total > 0 ? 100 * busy / total : 0))
}
wait_quiet() {
    local start=$SECONDS b
    while :; do
        b=$(busy_pct)
        ((b <= QUIET_PCT)) && return 0
        if ((SECONDS - start >= QUIET_WAIT)); then
            log "machine still ${b}% busy after ${QUIET_WAIT} s; measuring anyway (see other_cpu_s)"
            return 0
        fi
        log "machine ${b}% busy (other processes); waiting for it to calm down"
        sleep 4
    done
}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binary and loadgen (CARGO_TARGET_DIR=$TARGET_DIR)"
    cargo build --release --quiet --bin gatehouse --example loadgen --example bulkload
fi
mkdir -p "$RAW_DIR"
: >"$RAW"

# ---- machine and build facts -------------------------------------------------------
{
    echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ uncommitted changes in src/Cargo)')"
    echo "nproc:   $(nproc)"
    echo "cpu:     $(lscpu | grep 'Model name' | sed 's/.*: *//')"
    echo "kernel:  $(uname -sr)"
    echo "rustc:   $(rustc --version)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min, when the run started)"
    echo "free -g:"
    free -g | sed 's/^/  /'
} >"$WORK/machine.txt"
SIZE=$(stat -c %s "$BIN")
printf '{"binary_bytes": %d, "hash_memory_mib": %d, "rounds": %d, "seconds": %s, "warmup": %s, "loadgen_threads": %d, "nice": "%s"}\n' \
    "$SIZE" "$HASH_MIB" "$ROUNDS" "$SECS" "$WARMUP" "$THREADS" "${NICE:-0}" >>"$RAW"
log "binary: $SIZE bytes"

# Rate limits are off so one client address can load the server; everything else
# (scrypt log_n 15, r 8, p 3, --hash-memory-mib 128) is the server default.
SERVE_ARGS=(--register-rate-limit off --login-rate-limit off --api-rate-limit off)

# ---- time to ready and idle RSS: first start makes the certificate, then READY_RUNS starts
wait_quiet
log "startup: 1 + $READY_RUNS starts"
"${PRIO[@]}" "$LOADGEN" startup --bin "$BIN" --data-dir "$WORK/startup-data" --runs "$READY_RUNS" \
    --log "$WORK/startup.log" --out "$RAW" -- "${SERVE_ARGS[@]}" >&2

# ---- the machine's limits: Ed25519 verify and SHA-256 per core, fsync per second ---------
wait_quiet
"${PRIO[@]}" "$LOADGEN" limits --dir "$WORK" --out "$RAW" >&2

# ---- the benchmark server --------------------------------------------------------------
DATA=$WORK/data
"${PRIO[@]}" "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 --ready-file "$WORK/ready" \
    "${SERVE_ARGS[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 600); do
    [[ -s $WORK/ready ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.05
done
[[ -s $WORK/ready ]] || { log "server not ready after 30 s"; exit 1; }
ADDR=$(tr -d '\n' <"$WORK/ready")
log "server $SERVER_PID on $ADDR"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

# The OpenID scenarios sign in to a public, trusted client (no consent page),
# registered through the running server's admin socket.
CLIENT_ID=$("$BIN" client add bench --redirect-uri https://127.0.0.1/cb --public --trusted --json \
    --data-dir "$DATA" | sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p')
[[ -n $CLIENT_ID ]] || { log "cannot register the OpenID client"; exit 1; }
LG=(--addr "$ADDR" --cacert "$DATA/tls-cert.pem" --threads "$THREADS" --users "$USERS" --client-id "$CLIENT_ID")
"$LOADGEN" register-users "${LG[@]}" --concurrency 4 >&2
# The admin of the search and dashboard scenarios, through the running server's
# admin socket (only the server may open the database).
printf '%s\n' "BenchPass123!" | "$BIN" --log-format text user add benchadmin --email benchadmin@example.com \
    --role admin --password-stdin --data-dir "$DATA" >"$WORK/admin-add.log" 2>&1 ||
    { cat "$WORK/admin-add.log" >&2; exit 1; }
sleep 1
printf '{"bench_server_rss_after_setup_kib": %d}\n' "$(rss)" >>"$RAW"

run() { # label, loadgen run arguments...
    local label=$1
    shift
    wait_quiet
    log "$label: $*"
    "${PRIO[@]}" "$LOADGEN" run "${LG[@]}" --seconds "$SECS" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
        --label "$label" --out "$RAW" "$@" >/dev/null
    sleep 2 # let the blocking pool and queues drain between scenarios
}

fsync_probe() { # label: synchronous 4 KiB overwrites per second on the data dir's disk right now
    local f=$WORK/fsync-probe secs
    dd if=/dev/zero of="$f" bs=4k count=200 status=none
    secs=$(dd if=/dev/zero of="$f" bs=4k count=200 oflag=dsync conv=notrunc 2>&1 | awk '/copied/ {print $(NF-3)}')
    printf '{"fsync_probe": {"label": "%s", "sync_writes_per_s": %s}}\n' "$1" \
        "$(awk -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? 200 / s : 0) }')" >>"$RAW"
}

for round in $(seq "$ROUNDS"); do
    run "round=$round" --scenario health:64
    run "round=$round" --scenario me:64
    run "round=$round" --scenario verify:64
    run "round=$round" --scenario search:64
    run "round=$round" --scenario dashboard:64
    run "round=$round" --scenario me:64 --also login:32
    fsync_probe "round=$round"
    # Each refresh connection logs in first (scrypt, queued two at a time): give those
    # setup logins time rather than abandon them mid-hash.
    run "round=$round" --scenario refresh:32 --request-timeout 300
    run "round=$round" --scenario refresh:64 --request-timeout 300
    run "round=$round" --scenario register:8
    run "round=$round" --scenario login:32
    run "round=$round" --scenario code:32
    run "round=$round" --scenario userinfo:64
done

printf '{"bench_server_rss_end_kib": %d, "bench_server_hwm_kib": %d}\n' "$(rss)" \
    "$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")" >>"$RAW"
stop_server

# ---- results.md -------------------------------------------------------------------------
{
    echo "# gatehouse benchmark results"
    echo
    echo "Written by \`bench/run.sh\` (ROUNDS=$ROUNDS, SECS=$SECS, WARMUP=$WARMUP, loadgen threads=$THREADS, NICE=${NICE:-0})."
    echo "The load generator runs on the same machine and shares its cores; see bench/README.md."
    echo "Raw JSON lines: bench/results/raw.jsonl."
    echo
    echo "## Machine"
    echo
    echo '```'
    cat "$WORK/machine.txt"
    echo '```'
    echo
    echo "## Scenarios"
    echo
    "$LOADGEN" report --raw "$RAW"
    echo
    echo "## Startup, memory, disk"
    echo
    echo '```'
    grep '"startup"' "$RAW"
    grep -E '"bench_server_|"fsync_probe"|"limits"' "$RAW"
    echo '```'
} >"$OUT"
log "wrote $OUT"
