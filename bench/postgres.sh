#!/usr/bin/env bash
# gatehouse on PostgreSQL next to redb (issue 18): users/me, login and refresh
# against three set-ups, each round on fresh data:
#   redb  one instance on its data directory's file (the default engine);
#   pg1   one instance on a PostgreSQL database (`serve --database`);
#   pg2   two instances on the same database, the load split between them: two
#         loadgen processes at once, one per instance, each with half of the
#         connections (and half of the loadgen threads); req/s are summed, the
#         worse p99 is kept.
# The users (USERS, few: this compares engines, not sizes) are bulk-loaded once
# into a seed data directory (examples/bulkload.rs, one scrypt hash shared), then
# copied: `cp` for redb, `gatehouse migrate-store` into a new database for
# PostgreSQL. PostgreSQL is a throwaway cluster from tests/pg/cluster.sh on
# 127.0.0.1 (restarted with fsync=on unless PG_FSYNC=off, since redb syncs every
# commit too; its data is in /tmp on the same disk as redb's), destroyed on exit.
# Each round runs the set-ups in turn (redb, pg1, pg2, then again), so a disturbance
# of the shared machine hits all of them alike. Besides loadgen's lines it records
# PostgreSQL's CPU (the postmaster and its backends, from /proc) and its
# serialization failures (from its log: gatehouse writes at SERIALIZABLE and retries).
# Writes bench/results/postgres.jsonl (raw lines) and bench/results-postgres.md
# (machine, req/s and p99 per scenario and set-up, CPU per request, failures).
#
# Usage: bench/postgres.sh     (needs Debian's postgresql server binaries)
# Knobs (environment): CARGO_TARGET_DIR, ROUNDS (3), SECS (10), WARMUP (1),
# LOADGEN_THREADS (2), USERS (500), SKIP_BUILD=1, SETUPS ("redb pg1 pg2"),
# SCENARIOS ("me:64 login:32 refresh:32"), PG_POOL (--database-pool-size, 10),
# PG_FSYNC (on), OUT (bench/results-postgres.md), RAW (bench/results/postgres.jsonl),
# SERVE_EXTRA (more `serve` flags, e.g. "--log-level info,gatehouse::store::postgres=debug"
# to log every serialization conflict), KEEP_DATA=1 (keep the data directories and
# the server logs in /tmp).
# With the defaults it takes about 8 minutes after the build (3 rounds x 3 set-ups
# x 3 scenarios of WARMUP+SECS, plus the refresh scenario's logins).
#
# Bounded like run.sh and size.sh: every server is stopped by its own PID (trap),
# every loadgen run ends after WARMUP+SECS, nothing listens beyond 127.0.0.1, and
# the PostgreSQL cluster is destroyed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
WARMUP=${WARMUP:-1}
THREADS=${LOADGEN_THREADS:-2}
USERS=${USERS:-500}
SETUPS=${SETUPS:-"redb pg1 pg2"}
SCENARIOS=${SCENARIOS:-"me:64 login:32 refresh:32"}
PG_POOL=${PG_POOL:-10}
PG_FSYNC=${PG_FSYNC:-on}
OUT=${OUT:-$ROOT/bench/results-postgres.md}
RAW=${RAW:-$ROOT/bench/results/postgres.jsonl}
BIN=$TARGET_DIR/release/gatehouse
LOADGEN=$TARGET_DIR/release/examples/loadgen
BULKLOAD=$TARGET_DIR/release/examples/bulkload
CLUSTER=$ROOT/tests/pg/cluster.sh
# The same issuer on every instance, as on a real fleet (the default one names the port).
ISSUER=https://localhost
HALF_THREADS=$(((THREADS + 1) / 2))

WORK=$(mktemp -d /tmp/gatehouse-pgbench.XXXXXX)
SERVER_PIDS=()
LOADGEN_PIDS=()
PG_DIR=
stop_servers() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
    done
    for pid in "${SERVER_PIDS[@]}"; do
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}
cleanup() {
    local pid
    for pid in "${LOADGEN_PIDS[@]}"; do # subshells of the split runs (bounded anyway)
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    stop_servers
    if [[ -n $PG_DIR ]]; then
        [[ ${KEEP_DATA:-0} == 1 ]] && cp "$PG_DIR/server.log" "$WORK/postgres.log" 2>/dev/null
        "$CLUSTER" destroy "$PG_DIR"
    fi
    [[ ${KEEP_DATA:-0} == 1 ]] && echo "data and logs kept in $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[postgres %s] %s\n' "$(date +%T)" "$*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building release binary (--features postgres), loadgen and bulkload"
    cargo build --release --quiet --features postgres --bin gatehouse --example loadgen --example bulkload
fi
mkdir -p "$(dirname "$RAW")"
: >"$RAW"
SERVE_ARGS=(--register-rate-limit off --login-rate-limit off --api-rate-limit off --issuer "$ISSUER")
# shellcheck disable=SC2206 # SERVE_EXTRA is a list of flags, split on purpose
SERVE_ARGS+=(${SERVE_EXTRA:-})

# ---- PostgreSQL -------------------------------------------------------------------------
PG_ENV=$("$CLUSTER" start) || { log "cannot start a PostgreSQL cluster (tests/pg/cluster.sh)"; exit 1; }
eval "$PG_ENV"
PG_DIR=$GATEHOUSE_TEST_PG_DIR
PGBIN=${GATEHOUSE_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [[ $PG_FSYNC == on ]]; then
    # cluster.sh starts its test clusters with fsync=off; redb syncs every commit.
    sed -i 's/-c fsync=off/-c fsync=on/' "$PG_DIR/options"
    "$CLUSTER" stop-server "$PG_DIR"
    "$CLUSTER" start-server "$PG_DIR"
fi
sql() { "$PGBIN/psql" "$GATEHOUSE_TEST_PG" -v ON_ERROR_STOP=1 -qAtc "$1"; }
db_url() { # database name -> URL on the cluster
    local head=${GATEHOUSE_TEST_PG%%\?*} query=${GATEHOUSE_TEST_PG#*\?}
    printf '%s/%s?%s' "${head%/*}" "$1" "$query"
}
PG_VERSION=$(sql 'SHOW server_version')
PG_SETTINGS=$(sql "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')")
log "PostgreSQL $PG_VERSION in $PG_DIR ($PG_SETTINGS)"
TICK=$(getconf CLK_TCK)
pg_cpu_s() { # utime+stime of the postmaster and its children (the backends), seconds
    local pm
    pm=$(head -1 "$PG_DIR/data/postmaster.pid")
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
        awk -v pm="$pm" -v tick="$TICK" '$1 == pm || $4 == pm { t += $14 + $15 } END { printf "%.2f", t / tick }'
}

pg_conflicts() { # serialization failures (SQLSTATE 40001, retried by gatehouse) and deadlocks so far
    grep -cE 'ERROR:  (could not serialize access|deadlock detected)' "$PG_DIR/server.log" || true
}

# ---- machine ----------------------------------------------------------------------------
CPU_MODEL=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: *//')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ uncommitted changes in src/Cargo)')"
jq -cn --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" --arg commit "$COMMIT" --argjson nproc "$(nproc)" \
    --arg cpu "$CPU_MODEL" --arg kernel "$(uname -sr)" --arg pg "$PG_VERSION" --arg pg_settings "$PG_SETTINGS" \
    --arg load "$LOAD_START" --argjson rounds "$ROUNDS" --argjson secs "$SECS" --argjson warmup "$WARMUP" \
    --argjson threads "$THREADS" --argjson users "$USERS" --argjson pool "$PG_POOL" \
    --argjson binary_bytes "$(stat -c %s "$BIN")" \
    '{postgres_bench: {date: $date, commit: $commit, nproc: $nproc, cpu: $cpu, kernel: $kernel,
      postgres: $pg, postgres_settings: $pg_settings, loadavg_start: $load, rounds: $rounds,
      seconds: $secs, warmup: $warmup, loadgen_threads: $threads, users: $users,
      database_pool_size: $pool, binary_bytes: $binary_bytes}}' >>"$RAW"

# ---- the users, once ----------------------------------------------------------------------
SEED=$WORK/seed
# Two sets, bench0.. and benchb0..: with two instances each loadgen logs in its own
# set, so the instances do not write the same users' rows (a load balancer spreads
# different people); one instance uses the first set. Every set-up holds both.
log "bulk-loading 2 x $USERS users into the seed data directory"
for prefix in bench benchb; do
    "$BULKLOAD" --data-dir "$SEED" --users "$USERS" --prefix "$prefix" >>"$RAW"
done

# ---- servers ------------------------------------------------------------------------------
ADDRS=()
CERTS=()
start_server() { # data dir, extra serve args...
    local data=$1 pid
    shift
    mkdir -p "$data"
    rm -f "$data.ready"
    "$BIN" serve --data-dir "$data" --listen 127.0.0.1:0 --ready-file "$data.ready" \
        "${SERVE_ARGS[@]}" "$@" >>"$data.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for _ in $(seq 1200); do
        [[ -s $data.ready ]] && break
        kill -0 "$pid" 2>/dev/null || { tail -20 "$data.log" >&2; exit 1; }
        sleep 0.05
    done
    [[ -s $data.ready ]] || { log "server $pid not ready after 60 s"; tail -20 "$data.log" >&2; exit 1; }
    ADDRS+=("$(tr -d '\n' <"$data.ready")")
    CERTS+=("$data/tls-cert.pem")
}

start_setup() { # setup, round: fresh data, servers started (SERVER_PIDS, ADDRS, CERTS)
    local setup=$1 round=$2 dir=$WORK/r$2-$1 db url
    ADDRS=()
    CERTS=()
    mkdir -p "$dir"
    case $setup in
        redb)
            cp -a "$SEED" "$dir/data"
            start_server "$dir/data"
            ;;
        pg1 | pg2)
            db=bench_r${round}_$setup
            sql "CREATE DATABASE $db"
            url=$(db_url "$db")
            "$BIN" --log-format text migrate-store --from "$SEED" --to "$url" --json >"$dir/migrate.json" \
                2>"$dir/migrate.log" || { cat "$dir/migrate.log" >&2; exit 1; }
            local n=1
            [[ $setup == pg2 ]] && n=2
            for i in $(seq "$n"); do
                start_server "$dir/data$i" --database "$url" --database-pool-size "$PG_POOL"
            done
            ;;
        *) log "unknown set-up $setup (redb, pg1, pg2)"; exit 2 ;;
    esac
    log "round $round, $setup: servers ${SERVER_PIDS[*]} on ${ADDRS[*]}"
}

LG=(--users "$USERS" --request-timeout 300 --seconds "$SECS" --warmup "$WARMUP")
run_scenario() { # setup, round, scenario
    local setup=$1 round=$2 sc=$3 name=${3%%:*} conns=${3##*:} c0 c1 x0 x1 t0 t1 i prefixes=(bench benchb)
    local label="setup=$setup round=$round"
    log "round $round, $setup: $sc (load $(cut -d' ' -f1 /proc/loadavg))"
    [[ $setup != redb ]] && c0=$(pg_cpu_s) && x0=$(pg_conflicts)
    t0=$(date +%s.%N)
    if ((${#SERVER_PIDS[@]} == 1)); then
        "$LOADGEN" run --addr "${ADDRS[0]}" --cacert "${CERTS[0]}" "${LG[@]}" --threads "$THREADS" \
            --server-pid "${SERVER_PIDS[0]}" --label "$label" --out "$RAW" --scenario "$sc" >/dev/null
    else
        # One loadgen per instance, each with its share of the connections, at once.
        LOADGEN_PIDS=()
        for i in "${!SERVER_PIDS[@]}"; do
            local share=$((conns / ${#SERVER_PIDS[@]} + (i < conns % ${#SERVER_PIDS[@]} ? 1 : 0)))
            {
                "$LOADGEN" run --addr "${ADDRS[$i]}" --cacert "${CERTS[$i]}" "${LG[@]}" \
                    --threads "$HALF_THREADS" --user-prefix "${prefixes[$i]}" --server-pid "${SERVER_PIDS[$i]}" \
                    --label "$label instance=$((i + 1))" --out "$WORK/split.$i" --scenario "$name:$share" >/dev/null
                date +%s.%N >"$WORK/split.$i.end"
            } &
            LOADGEN_PIDS+=("$!")
        done
        for pid in "${LOADGEN_PIDS[@]}"; do
            wait "$pid" || { log "a loadgen of the split run failed"; exit 1; }
        done
        LOADGEN_PIDS=()
        for i in "${!SERVER_PIDS[@]}"; do
            cat "$WORK/split.$i" >>"$RAW"
            rm -f "$WORK/split.$i"
        done
        # How far apart the two processes ended (their windows are as far apart).
        printf '{"split_skew": {"label": "%s", "scenario": "%s", "seconds": %s}}\n' "$label" "$name" \
            "$(awk -v a="$(cat "$WORK/split.0.end")" -v b="$(cat "$WORK/split.1.end")" \
                'BEGIN { d = a - b; printf "%.3f", d < 0 ? -d : d }')" >>"$RAW"
    fi
    t1=$(date +%s.%N)
    if [[ $setup != redb ]]; then
        c1=$(pg_cpu_s)
        x1=$(pg_conflicts)
        printf '{"pg_cpu": {"label": "%s", "scenario": "%s", "cpu_s": %s, "wall_s": %s, "conflicts": %d}}\n' \
            "$label" "$name" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
            $((x1 - x0)) >>"$RAW"
    fi
    sleep 2 # let queues and PostgreSQL's background writes drain between scenarios
}

for round in $(seq "$ROUNDS"); do
    for setup in $SETUPS; do
        start_setup "$setup" "$round"
        for sc in $SCENARIOS; do
            run_scenario "$setup" "$round" "$sc"
        done
        stop_servers
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- results-postgres.md ------------------------------------------------------------------
python3 - "$RAW" "$OUT" "$LOAD_END" "$SETUPS" <<'EOF'
import json, statistics, sys
raw, out, load_end, setups = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
lines = [json.loads(l) for l in open(raw) if l.strip()]
meta = next(l["postgres_bench"] for l in lines if "postgres_bench" in l)
names = {"redb": "redb, 1 instance", "pg1": "PostgreSQL, 1 instance", "pg2": "PostgreSQL, 2 instances"}
def label(l):
    return dict(kv.split("=", 1) for kv in (l.get("label") or "").split())
runs = {}  # (setup, scenario, round) -> scenario lines (one per instance)
pg_cpu = {}
pg_x = {}
for l in lines:
    if "scenario" in l and "rps" in l:
        lab = label(l)
        runs.setdefault((lab["setup"], l["scenario"], lab["round"]), []).append(l)
    elif "pg_cpu" in l:
        lab = label(l["pg_cpu"])
        key = (lab["setup"], l["pg_cpu"]["scenario"], lab["round"])
        pg_cpu[key] = l["pg_cpu"]["cpu_s"]
        pg_x[key] = l["pg_cpu"].get("conflicts", 0)
scenarios = []
for (s, sc, r) in runs:
    if sc not in scenarios:
        scenarios.append(sc)
def agg(setup, sc):
    rounds = sorted(r for (s, c, r) in runs if s == setup and c == sc)
    if not rounds:
        return None
    rps, p99, conns, gh_us, pg_us, bad, cf = [], [], 0, [], [], 0, []
    for r in rounds:
        ls = runs[(setup, sc, r)]
        total = sum(l["rps"] for l in ls)
        rps.append(total)
        p99.append(max(l["p99_ms"] for l in ls))
        conns = sum(l["connections"] for l in ls)
        reqs = sum(l["requests"] for l in ls)
        cpu = [l.get("server_cpu_s") for l in ls]
        if reqs and all(c is not None for c in cpu):
            gh_us.append(sum(cpu) * 1e6 / reqs)
        if (setup, sc, r) in pg_cpu and total:
            # PostgreSQL's CPU over the whole run (setup and warm-up too) over the
            # requests of warm-up + window at the window's rate: an estimate.
            pg_us.append(pg_cpu[(setup, sc, r)] * 1e6 / (total * (meta["seconds"] + meta["warmup"])))
        if (setup, sc, r) in pg_x and total:
            cf.append(1000 * pg_x[(setup, sc, r)] / (total * (meta["seconds"] + meta["warmup"])))
        bad += sum(l["errors"] + l["setup_errors"] + l["non_2xx"] for l in ls)
    med = statistics.median
    return dict(rps=med(rps), lo=min(rps), hi=max(rps), p99=med(p99), p99_hi=max(p99), conns=conns,
                gh_us=med(gh_us) if gh_us else None, pg_us=med(pg_us) if pg_us else None, bad=bad, n=len(rounds),
                cf=med(cf) if cf else None, cf_hi=max(cf) if cf else None)
def n(x, d=0):
    return "–" if x is None else f"{x:,.{d}f}"
def rate(x):
    return n(x, 0 if x >= 100 else 1)
o = []
o.append("# gatehouse on PostgreSQL next to redb")
o.append("")
o.append(f"Written by `bench/postgres.sh` (ROUNDS={meta['rounds']}, SECS={meta['seconds']}, WARMUP={meta['warmup']}, "
         f"USERS={meta['users']}, loadgen threads={meta['loadgen_threads']}, --database-pool-size {meta['database_pool_size']}); "
         "raw lines in bench/results/postgres.jsonl. Medians over rounds, (min–max) of req/s; "
         "each round on fresh data.")
o.append("")
o.append("```")
o.append(f"date:       {meta['date']}")
o.append(f"commit:     {meta['commit']}")
o.append(f"nproc:      {meta['nproc']}")
o.append(f"cpu:        {meta['cpu']}")
o.append(f"kernel:     {meta['kernel']}")
o.append(f"postgres:   {meta['postgres']} ({meta['postgres_settings']}), on 127.0.0.1, same machine and disk")
o.append(f"load avg:   {meta['loadavg_start']} at the start, {load_end} at the end (1, 5, 15 min)")
o.append("```")
o.append("")
head = "| scenario |" + "".join(f" {names.get(s, s)}: req/s | p99 ms |" for s in setups)
o.append(head)
o.append("|---|" + "---|---|" * len(setups))
for sc in scenarios:
    row = f"| {sc} |"
    for s in setups:
        a = agg(s, sc)
        if a is None:
            row += " – | – |"
            continue
        rng = f" ({rate(a['lo'])}–{rate(a['hi'])})" if a["n"] > 1 else ""
        row += f" {rate(a['rps'])}{rng} | {n(a['p99'], 2)} |"
    o.append(row)
o.append("")
o.append("Connections per scenario as named (`me:64` = 64); with two instances each gets half, "
         "from its own loadgen process (half the loadgen threads each); their req/s are summed and the "
         "worse p99 is shown.")
o.append("")
o.append("| scenario | set-up | conns | gatehouse CPU µs/req | PostgreSQL CPU µs/req (≈) | serialization failures per 1,000 requests (≈) | max p99 ms | errors + setup errors + non-2xx |")
o.append("|---|---|---|---|---|---|---|---|")
for sc in scenarios:
    for s in setups:
        a = agg(s, sc)
        if a is None:
            continue
        cf = n(a["cf"], 1) + (f" (max {n(a['cf_hi'], 1)})" if a["n"] > 1 and a["cf"] is not None else "")
        o.append(f"| {sc} | {names.get(s, s)} | {a['conns']} | {n(a['gh_us'])} | {n(a['pg_us'])} | {cf} | "
                 f"{n(a['p99_hi'], 2)} | {a['bad']} |")
o.append("")
o.append("gatehouse CPU: the server process(es) during the measured window over its requests. "
         "PostgreSQL CPU: the postmaster and its backends over the whole loadgen run (connection setup, "
         "the refresh scenario's logins and the warm-up included) over (warm-up + window) × the window's "
         "rate, so an estimate. Serialization failures: "
         "PostgreSQL's log lines for SQLSTATE 40001 (and deadlocks) over the same span and the same denominator: "
         "gatehouse writes at SERIALIZABLE and runs such a transaction again after a jittered pause. Everything shares the same cores: the load generator, gatehouse and PostgreSQL.")
skews = [l["split_skew"]["seconds"] for l in lines if "split_skew" in l]
if skews:
    o.append(f"The two loadgen processes of a split run ended at most {max(skews):.2f} s apart "
             f"(their windows are offset by as much; warm-up {meta['warmup']} s).")
open(out, "w").write("\n".join(o) + "\n")
EOF
log "wrote $OUT"
