#!/usr/bin/env bash
# gatehouse under a memory cap: the server process limited to its hash budget plus
# 32 MiB, a login storm of 200 concurrent clients (each logging in as its own user)
# together with 64 connections checking tokens, at two settings:
#
#   default: scrypt log2N 15, r 8, p 3 (32 MiB a hash), --hash-memory-mib 128
#   pi512:   scrypt log2N 14, r 8, p 3 (16 MiB a hash), --hash-memory-mib 32
#            (a 512 MB Raspberry Pi: two hashes at once, ~64 MiB for the process)
#
# Pass: no transport error and no status other than 200 (a login may wait in the
# hashing queue for as long as it takes: the request timeout is 300 s), and the
# server still running afterwards. Recorded: peak RSS (VmHWM), the cap's peak
# usage and failure count, and the login and token-check figures.
#
# The cap (CAP_METHOD):
#   auto (default): a cgroup v2 child of this shell's own cgroup with memory.max =
#       the cap and memory.swap.max = 0, when the machine has cgroup v2 and that
#       cgroup is delegated to us (writable); it only narrows what already applies
#       and is removed at the end. Otherwise falls back to `watch`.
#   cgroup-v1: the same with the v1 memory controller (memory.limit_in_bytes), a
#       child of this shell's own memory cgroup. Opt-in only: on a shared machine
#       that cgroup may belong to whatever started the shell.
#   watch: no enforced cap; the server's peak RSS (VmHWM, sampled at the end) is
#       compared with the cap and the run fails when it is above. Address-space
#       limits (prlimit --as / ulimit -v) are not used: they count reservations
#       (64 MiB a malloc arena, 2 MiB a thread stack), not memory, and would fail
#       allocations a real cap would never refuse.
# The result line says which one was used (`cap_kind`).
#
# Usage: bench/memory.sh   Knobs: CARGO_TARGET_DIR, SETTINGS ("default pi512"),
# SECS (30), CLIENTS (200), CAP_METHOD (auto), SKIP_BUILD=1,
# OUT (bench/results-memory.md), RAW (bench/results/memory.jsonl).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR
SETTINGS=${SETTINGS:-"default pi512"}
SECS=${SECS:-30}
CLIENTS=${CLIENTS:-200}
OUT=${OUT:-$ROOT/bench/results-memory.md}
RAW=${RAW:-$ROOT/bench/results/memory.jsonl}
BIN=$TARGET_DIR/release/gatehouse
LOADGEN=$TARGET_DIR/release/examples/loadgen
BULKLOAD=$TARGET_DIR/release/examples/bulkload
PASSWORD=BenchPass123!
MIB=$((1024 * 1024))

WORK=$(mktemp -d /tmp/gatehouse-mem.XXXXXX)
SERVER_PID=
CG=
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    [[ -n $SERVER_PID ]] && { wait "$SERVER_PID" 2>/dev/null || true; }
    SERVER_PID=
}
remove_cgroup() {
    if [[ -n $CG && -d $CG ]]; then
        rmdir "$CG" 2>/dev/null || echo "could not remove $CG" >&2
    fi
    CG=
}
cleanup() {
    stop_server
    remove_cgroup
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[memory %s] %s\n' "$(date +%T)" "$*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    cargo build --release --quiet --bin gatehouse --example loadgen --example bulkload
fi
mkdir -p "$(dirname "$RAW")"
: >"$RAW"

# A memory cgroup below our own, or none (CAP_METHOD above).
CAP_METHOD=${CAP_METHOD:-auto}
make_cgroup() { # limit in bytes; sets CG and CAP_KIND
    local own
    CG=
    CAP_KIND="watch (no cgroup; peak RSS compared with the cap)"
    case $CAP_METHOD in
        auto)
            [[ -f /sys/fs/cgroup/cgroup.controllers ]] || return 0
            own=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
            CG=$own/gatehouse-bench-$$
            if mkdir "$CG" 2>/dev/null && echo "$1" >"$CG/memory.max" 2>/dev/null; then
                echo 0 >"$CG/memory.swap.max" 2>/dev/null || true
                CAP_KIND="cgroup v2 memory.max"
                return 0
            fi
            ;;
        cgroup-v1)
            own=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
            CG=$own/gatehouse-bench-$$
            if mkdir "$CG" 2>/dev/null && echo "$1" >"$CG/memory.limit_in_bytes" 2>/dev/null; then
                echo "$1" >"$CG/memory.memsw.limit_in_bytes" 2>/dev/null || true
                CAP_KIND="cgroup v1 memory.limit_in_bytes"
                return 0
            fi
            echo "CAP_METHOD=cgroup-v1: could not make $CG" >&2
            exit 1
            ;;
        watch) return 0 ;;
        *) echo "unknown CAP_METHOD $CAP_METHOD" >&2; exit 2 ;;
    esac
    [[ -n $CG && -d $CG ]] && rmdir "$CG" 2>/dev/null
    CG=
}

cg_peak() { # the cgroup's peak usage in bytes (page cache included), or null
    if [[ -f $CG/memory.max_usage_in_bytes ]]; then cat "$CG/memory.max_usage_in_bytes"
    elif [[ -f $CG/memory.peak ]]; then cat "$CG/memory.peak"
    else echo null; fi
}
cg_oom_kills() { # processes the cap's OOM killer ended, or null
    local f=$CG/memory.oom_control
    [[ -f $f ]] || f=$CG/memory.events
    if [[ -f $f ]]; then awk '$1 == "oom_kill" {print $2; found = 1} END {if (!found) print 0}' "$f"; else echo null; fi
}
cg_failcnt() { # times usage hit the cap and memory had to be reclaimed, or null
    if [[ -f $CG/memory.failcnt ]]; then cat "$CG/memory.failcnt"
    elif [[ -f $CG/memory.events ]]; then awk '$1 == "max" {print $2}' "$CG/memory.events"
    else echo null; fi
}

FAILED=
for setting in $SETTINGS; do
    case $setting in
        default) HASH=(--scrypt-log-n 15 --scrypt-r 8 --scrypt-p 3) BUDGET_MIB=128 ;;
        pi512) HASH=(--scrypt-log-n 14 --scrypt-r 8 --scrypt-p 3) BUDGET_MIB=32 ;;
        *) echo "unknown setting $setting" >&2; exit 2 ;;
    esac
    CAP=$(((BUDGET_MIB + 32) * MIB))
    DATA=$WORK/data-$setting
    log "$setting: $CLIENTS users (bulk, pre-hashed at these parameters)"
    "$BULKLOAD" --data-dir "$DATA" --users "$CLIENTS" "${HASH[@]}" >/dev/null
    make_cgroup "$CAP"
    log "$setting: cap $((CAP / MIB)) MiB by $CAP_KIND"
    rm -f "$WORK/ready"
    # As the packaged systemd unit runs it (packaging/gatehouse.service): big
    # allocations (scrypt buffers) mapped on their own and returned when freed.
    export GLIBC_TUNABLES=${GLIBC_TUNABLES-glibc.malloc.mmap_threshold=4194304}
    ARGS=(serve --data-dir "$DATA" --listen 127.0.0.1:0 --ready-file "$WORK/ready" --hash-memory-mib "$BUDGET_MIB"
        "${HASH[@]}" --register-rate-limit off --login-rate-limit off --api-rate-limit off)
    if [[ -n $CG ]]; then
        # The server enters the cgroup before it starts (exec keeps the PID).
        CGF=$CG/cgroup.procs
        bash -c 'echo $$ >"$1" && shift && exec "$@"' _ "$CGF" "$BIN" "${ARGS[@]}" >"$WORK/server-$setting.log" 2>&1 &
    else
        "$BIN" "${ARGS[@]}" >"$WORK/server-$setting.log" 2>&1 &
    fi
    SERVER_PID=$!
    for _ in $(seq 600); do
        [[ -s $WORK/ready ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server-$setting.log" >&2; exit 1; }
        sleep 0.05
    done
    ADDR=$(tr -d '\n' <"$WORK/ready")
    LG=(--addr "$ADDR" --cacert "$DATA/tls-cert.pem" --users "$CLIENTS" --request-timeout 300)
    log "$setting: login:$CLIENTS with me:64 for $SECS s (load $(cut -d' ' -f1 /proc/loadavg))"
    "$LOADGEN" run "${LG[@]}" --seconds "$SECS" --warmup 1 --server-pid "$SERVER_PID" \
        --label "setting=$setting" --out "$RAW" --scenario "login:$CLIENTS" --also me:64 >/dev/null
    alive=false
    kill -0 "$SERVER_PID" 2>/dev/null && alive=true
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    # The verdict: both scenarios without a transport error or a non-2xx answer,
    # the server alive, nothing killed by the cap, and (without a cgroup) the peak
    # RSS within the cap.
    lines=$(grep -F "\"label\":\"setting=$setting\"" "$RAW" || true)
    total=$(grep -c . <<<"$lines" || true)
    clean=$(grep -F '"non_2xx":0' <<<"$lines" | grep -F '"errors":0' | grep -cF '"setup_errors":0' || true)
    oom=$(cg_oom_kills)
    pass=false
    if [[ $total -eq 2 && $clean -eq 2 && $alive == true && $oom != [1-9]* ]] &&
        { [[ -n $CG ]] || ((${hwm:-0} * 1024 <= CAP)); }; then
        pass=true
    fi
    printf '{"memory": {"setting": "%s", "pass": %s, "cap_bytes": %d, "cap_kind": "%s", "budget_mib": %d, "server_alive": %s, "vm_hwm_kib": %s, "cgroup_peak_bytes": %s, "cgroup_limit_hits": %s, "cgroup_oom_kills": %s}}\n' \
        "$setting" "$pass" "$CAP" "$CAP_KIND" "$BUDGET_MIB" "$alive" "${hwm:-0}" "$(cg_peak)" "$(cg_failcnt)" \
        "$oom" | tee -a "$RAW" >&2
    [[ $pass == true ]] || FAILED="$FAILED $setting"
    stop_server
    remove_cgroup
done

{
    echo "# gatehouse under a memory cap"
    echo
    echo "Written by \`bench/memory.sh\` (CLIENTS=$CLIENTS logging in at once, with me:64; SECS=$SECS)."
    echo "Raw lines: bench/results/memory.jsonl. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo '```'
    cat "$RAW"
    echo '```'
} >"$OUT"
log "wrote $OUT"
if [[ -n $FAILED ]]; then
    log "FAILED:$FAILED (see $RAW)"
    exit 1
fi
