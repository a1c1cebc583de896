# Shared by the relying-party scripts in this directory (sourced, not run): the
# temporary directory, the check counters, starting gatehouse with a user and
# registered clients, and a cleanup that always stops what was started.
#
# A script sets RP_NAME (the temporary directory's name) and LOGS (files in $WORK
# whose tails are shown on failure), then sources this file, then calls
# start_gatehouse. Processes it starts itself go in EXTRA_PIDS so cleanup stops
# them too. Every check prints "ok - ..." or "not ok - ..."; the script ends
# with `summary` ("N passed, M failed") and exits non-zero if anything failed.
# Only 127.0.0.1 is used; every wait is bounded.

BIN=${1:-target/debug/gatehouse}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
[ -x "$BIN" ] || { echo "no gatehouse binary at $BIN (build it with cargo build)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-$RP_NAME.XXXXXX")
D=$WORK/data # gatehouse's data directory
GH_PID=""
EXTRA_PIDS=()
PASS=0
FAIL=0
SUMMARY_DONE=""
LOGS="gatehouse.log ${LOGS:-}"

# The one user every relying party signs in as.
ALICE_PW='Al1ce-Passw0rd!'
ALICE_EMAIL=alice@example.com
ALICE_NAME='Alice Liddell'
ALICE_ROLE=moderator

alive() { # PID: running and not a zombie
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(sed -E 's/^.*\) ([A-Z]).*/\1/' "/proc/$1/stat" 2>/dev/null || echo X)
  [ "$state" != Z ] && [ "$state" != X ]
}

stop() { # PID: SIGTERM, up to 10 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    echo "# pid $pid ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() {
  FAIL=$((FAIL + 1))
  echo "not ok - $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
summary() { echo "$PASS passed, $FAIL failed"; SUMMARY_DONE=1; }
die() { # a setup step failed: nothing after it can be checked
  not_ok "setup: $1" "${2:-}"
  summary
  exit 1
}

cleanup() {
  local rc=$?
  set +e # whatever fails here, the processes are stopped and $WORK removed
  trap '' PIPE
  trap - EXIT INT TERM
  if [ -z "$SUMMARY_DONE" ]; then # stopped by an unexpected error or a signal
    not_ok "the script stopped early (exit status $rc)"
    summary
    [ "$rc" -ne 0 ] || rc=1
  fi
  local pid
  for pid in "${EXTRA_PIDS[@]}"; do stop "$pid"; done
  stop "$GH_PID"
  if [ "$rc" -ne 0 ] || [ "$FAIL" -ne 0 ]; then
    for f in $LOGS; do
      [ -s "$WORK/$f" ] && { echo "# --- last lines of $f"; tail -n 30 "$WORK/$f" | sed 's/^/# /'; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

# free_ports N: N free loopback ports, space-separated.
free_ports() {
  python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))
' "$1"
}

# jget FIELD FILE: one field of a JSON object ("null" for null)
jget() { python3 -c 'import json,sys; v = json.load(open(sys.argv[2]))[sys.argv[1]]; print("null" if v is None else v)' "$1" "$2"; }

# add_client NAME OUTFILE [client add flags...]: registers a client with the
# operator CLI; OUTFILE gets its {"client_id": ..., "client_secret": ...}.
add_client() {
  local name=$1 out=$2
  shift 2
  "$BIN" client add "$name" "$@" --json --data-dir "$D" >"$out" 2>"$WORK/client-add.err" ||
    die "gatehouse client add $name" "$(cat "$WORK/client-add.err")"
  python3 - "$out" <<'PY' || die "client add $name --json printed something else than one JSON object" "$(cat "$out")"
import json, sys
v = json.load(open(sys.argv[1]))
assert isinstance(v, dict) and set(v) == {"client_id", "client_secret"}, v
assert isinstance(v["client_id"], str) and v["client_id"], v
PY
}

# Creates alice (before the server starts: the database is not locked yet).
add_alice() {
  printf '%s\n' "$ALICE_PW" | "$BIN" --log-format text user add alice --email "$ALICE_EMAIL" \
    --full-name "$ALICE_NAME" --role "$ALICE_ROLE" --password-stdin --data-dir "$D" \
    --scrypt-log-n 4 --scrypt-p 1 >"$WORK/user-add.log" 2>&1 ||
    die "gatehouse user add alice" "$(cat "$WORK/user-add.log")"
}

# Starts gatehouse on 127.0.0.1:0 (cheap hashes, no rate limits); sets GH_PORT,
# GH (its issuer, https://localhost:PORT) and CA (the local CA that signed its
# certificate, which relying parties trust).
start_gatehouse() {
  "$BIN" --log-format text serve --data-dir "$D" --listen 127.0.0.1:0 --ready-file "$D/ready" \
    --scrypt-log-n 4 --scrypt-p 1 --hash-memory-mib 1 \
    --login-rate-limit off --register-rate-limit off --api-rate-limit off \
    </dev/null >"$WORK/gatehouse.log" 2>&1 &
  GH_PID=$!
  for _ in $(seq 300); do # up to 30 s
    [ -s "$D/ready" ] && break
    alive "$GH_PID" || die "gatehouse exited at start-up" "$(tail -n 20 "$WORK/gatehouse.log")"
    sleep 0.1
  done
  [ -s "$D/ready" ] || die "gatehouse did not write its ready file within 30 s"
  GH_PORT=$(sed -E 's/.*:([0-9]+)$/\1/' "$D/ready")
  GH=https://localhost:$GH_PORT
  CA=$D/tls-ca.pem
  [ -s "$CA" ] || die "no local CA at $CA"
  local code
  code=$(curl -sS --max-time 10 --cacert "$CA" -o "$WORK/discovery.json" -w '%{http_code}' \
    "$GH/.well-known/openid-configuration") || code=curl-failed
  [ "$code" = 200 ] || die "discovery document: status $code" "$(cat "$WORK/discovery.json" 2>/dev/null)"
}

# run_rp WHAT OUTFILE COMMAND...: runs a relying party that prints "ok - ..." and
# "not ok - ..." lines; counts them; a non-zero exit without a "not ok" counts as one.
run_rp() {
  local what=$1 out=$2 rc=0
  shift 2
  "$@" 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(grep -c '^ok - ' "$out" || true)
  failed=$(grep -c '^not ok - ' "$out" || true)
  PASS=$((PASS + passed))
  FAIL=$((FAIL + failed))
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    not_ok "$what exited with status $rc"
  elif [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    not_ok "$what checked nothing"
  fi
}
