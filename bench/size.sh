#!/usr/bin/env bash
# gatehouse at two database sizes: the same scenarios against 1,000 and 1,000,000
# users (SIZES), loaded in bulk by examples/bulkload.rs (pre-hashed records through
# the storage interface: no scrypt per user), then a comparison table (req/s and
# p99 within 1.2x of each other), the load time, the database file's size and the
# time of an online backup at each size.
#
# Usage: bench/size.sh     (run bench/run.sh once first, or let this build)
# Knobs (environment): CARGO_TARGET_DIR, SIZES ("1000 1000000"), ROUNDS (3),
# SECS (10), WARMUP (1), LOADGEN_THREADS (2), SKIP_BUILD=1, OUT
# (bench/results-size.md), RAW_DIR (bench/results), KEEP_DATA=1 (leave the data
# directories in /tmp), SCENARIOS ("me:64 login:32 refresh:32 search:64
# dashboard:64"), SERVE_EXTRA (more `serve` flags, e.g. "--scrypt-log-n 14").
#
# Bounded like run.sh: every server is stopped by its own PID (trap), every loadgen
# run ends after WARMUP+SECS, nothing listens beyond 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR
SIZES=${SIZES:-"1000 1000000"}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
WARMUP=${WARMUP:-1}
THREADS=${LOADGEN_THREADS:-2}
OUT=${OUT:-$ROOT/bench/results-size.md}
RAW_DIR=${RAW_DIR:-$ROOT/bench/results}
BIN=$TARGET_DIR/release/gatehouse
LOADGEN=$TARGET_DIR/release/examples/loadgen
BULKLOAD=$TARGET_DIR/release/examples/bulkload
PASSWORD=BenchPass123!

WORK=$(mktemp -d /tmp/gatehouse-size.XXXXXX)
SERVER_PID=
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
cleanup() {
    stop_server
    [[ ${KEEP_DATA:-0} == 1 ]] && echo "data kept in $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[size %s] %s\n' "$(date +%T)" "$*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binary, loadgen and bulkload"
    cargo build --release --quiet --bin gatehouse --example loadgen --example bulkload
fi
mkdir -p "$RAW_DIR"
SERVE_ARGS=(--register-rate-limit off --login-rate-limit off --api-rate-limit off)
# shellcheck disable=SC2206 # SERVE_EXTRA is a list of flags, split on purpose
SERVE_ARGS+=(${SERVE_EXTRA:-})
SCENARIOS=${SCENARIOS:-"me:64 login:32 refresh:32 search:64 dashboard:64"}

start_server() { # data dir
    local data=$1
    rm -f "$WORK/ready"
    "$BIN" serve --data-dir "$data" --listen 127.0.0.1:0 --ready-file "$WORK/ready" \
        "${SERVE_ARGS[@]}" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1200); do
        [[ -s $WORK/ready ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; exit 1; }
        sleep 0.05
    done
    [[ -s $WORK/ready ]] || { log "server not ready after 60 s"; exit 1; }
    ADDR=$(tr -d '\n' <"$WORK/ready")
}

for n in $SIZES; do
    RAW=$RAW_DIR/size-$n.jsonl
    : >"$RAW"
    DATA=$WORK/data-$n
    log "$n users: bulk load"
    "$BULKLOAD" --data-dir "$DATA" --users "$n" | tee -a "$RAW" >&2
    start_server "$DATA"
    log "$n users: server $SERVER_PID on $ADDR"
    printf '%s\n' "$PASSWORD" | "$BIN" --log-format text user add benchadmin --email benchadmin@example.com \
        --role admin --password-stdin --data-dir "$DATA" >"$WORK/admin-add.log" 2>&1 ||
        { cat "$WORK/admin-add.log" >&2; exit 1; }
    # Logins and refreshes spread over every user (--users n), so a large database
    # is read all over, not through one hot page.
    LG=(--addr "$ADDR" --cacert "$DATA/tls-cert.pem" --threads "$THREADS" --users "$n" --request-timeout 300)
    for round in $(seq "$ROUNDS"); do
        for sc in $SCENARIOS; do
            log "$n users, round $round: $sc (load $(cut -d' ' -f1 /proc/loadavg))"
            "$LOADGEN" run "${LG[@]}" --seconds "$SECS" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
                --label "users=$n round=$round" --out "$RAW" --scenario "$sc" >/dev/null
            sleep 2
        done
    done
    log "$n users: online backup"
    t0=$(date +%s.%N)
    "$BIN" --log-format text backup "$WORK/backup-$n.redb" --data-dir "$DATA" >"$WORK/backup.log" 2>&1 ||
        { cat "$WORK/backup.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    printf '{"size": {"users": %d, "db_bytes": %d, "backup_bytes": %d, "backup_seconds": %.3f}}\n' "$n" \
        "$(stat -c %s "$DATA/gatehouse.redb")" "$(stat -c %s "$WORK/backup-$n.redb")" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" | tee -a "$RAW" >&2
    stop_server
done

set -- $SIZES
SMALL=$1
LARGE=${2:-$1}
{
    echo "# gatehouse at $SMALL and $LARGE users"
    echo
    echo "Written by \`bench/size.sh\` (ROUNDS=$ROUNDS, SECS=$SECS, WARMUP=$WARMUP${SERVE_EXTRA:+, serve $SERVE_EXTRA}); raw lines in"
    echo "${RAW_DIR#$ROOT/}/size-$SMALL.jsonl and size-$LARGE.jsonl. Medians over rounds."
    echo "Load average when it ended: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    "$LOADGEN" compare --small "$RAW_DIR/size-$SMALL.jsonl" --large "$RAW_DIR/size-$LARGE.jsonl" \
        --small-label "$SMALL" --large-label "$LARGE"
    echo
    echo '```'
    grep -hE '"bulkload"|"size"' "$RAW_DIR/size-$SMALL.jsonl" "$RAW_DIR/size-$LARGE.jsonl"
    echo '```'
} >"$OUT"
log "wrote $OUT"
