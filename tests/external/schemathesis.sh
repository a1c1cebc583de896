#!/usr/bin/env bash
# The OpenAPI document against the running server, with schemathesis.
#
#   bash tests/external/schemathesis.sh path/to/gatehouse [SEED]
#
# Twice, once with a fixed seed (the same cases every time) and once with a random
# one (printed; pass it as SEED to replay the run): starts gatehouse (the given
# binary; this script builds nothing) on 127.0.0.1 with a fresh temporary data
# directory, creates a super_admin through the running server's admin socket
# (`gatehouse user add`), logs in for a Bearer token, and runs every schemathesis
# check against https://127.0.0.1:PORT/openapi.json with that token. Any failure
# exits non-zero. tests/external/schemathesis.toml switches off the operations
# that would lock the admin out and says why for each.
#
# Bounded: ST_MAX_EXAMPLES cases per operation and phase (default 100: about
# 4,500 cases, 1-2 minutes a run on 2 cores), and a run still going after
# ST_TIMEOUT seconds (default 600) is killed. Needs schemathesis 4 (.ci/run
# installs the pinned version), curl and python3. Ends with "schemathesis runs:
# N passed, M failed".
set -euo pipefail

BIN=${1:?usage: tests/external/schemathesis.sh path/to/gatehouse [SEED]}
BIN_ARG=$BIN
RANDOM_SEED=${2:-$(python3 -c 'import secrets; print(secrets.randbelow(2**31))')}
FIXED_SEED=20261204
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-100}
TIMEOUT=${ST_TIMEOUT:-600}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -x "$BIN" ] || { echo "no gatehouse binary at $BIN (build it with cargo build)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
# schemathesis as `python3 -m pip` installed it (a console script elsewhere on
# PATH may belong to another Python and another version).
python3 -c 'import schemathesis' 2>/dev/null ||
  { echo "schemathesis is required: python3 -m pip install 'schemathesis==4.32.5'" >&2; exit 2; }
ST=(python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())')

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-schemathesis.XXXXXX")
GH_PID=""
LOG=""

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  stop
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "schemathesis.sh: $1" >&2; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/#   /' >&2; exit 1; }

# One gatehouse per run, on a fresh data directory, so each run depends on its
# seed alone. Sets GH_PID, CA, BASE and TOKEN (the super_admin's access token).
start() { # NAME
  local d=$WORK/$1 log=$WORK/$1.log
  LOG=$log
  # Tiny scrypt parameters and no rate limits: a run makes thousands of requests,
  # many of them logins and registrations. Long idle timeouts: schemathesis keeps
  # connections open while it generates the next cases, sometimes for seconds.
  "$BIN" --log-format text serve --data-dir "$d" --listen 127.0.0.1:0 --ready-file "$d/ready" \
    --scrypt-log-n 4 --scrypt-p 1 --hash-memory-mib 1 \
    --login-rate-limit off --register-rate-limit off --api-rate-limit off \
    --header-timeout 600 --idle-timeout 600 \
    </dev/null >"$log" 2>&1 &
  GH_PID=$!
  for _ in $(seq 300); do # up to 30 s
    [ -s "$d/ready" ] && break
    kill -0 "$GH_PID" 2>/dev/null || die "gatehouse exited at start-up" "$(tail -n 20 "$log")"
    sleep 0.1
  done
  [ -s "$d/ready" ] || die "gatehouse did not write its ready file within 30 s"
  CA=$d/tls-cert.pem
  BASE=https://127.0.0.1:$(sed -E 's/.*:([0-9]+)$/\1/' "$d/ready")

  # The super_admin, created while the server runs: the CLI hands the request to
  # the server over its admin socket (redb lets only the server open the database).
  printf '%s\n' "$ADMIN_PW" | "$BIN" --log-format text user add st-admin --email st-admin@example.com \
    --role super_admin --password-stdin --data-dir "$d" --scrypt-log-n 4 --scrypt-p 1 \
    >"$WORK/user-add.log" 2>&1 || die "gatehouse user add (through the admin socket)" "$(cat "$WORK/user-add.log")"
  grep -q 'role super_admin' "$WORK/user-add.log" || die "user add did not create the super_admin" "$(cat "$WORK/user-add.log")"

  local code
  code=$(curl -sS --max-time 10 --cacert "$CA" -o "$WORK/login.json" -w '%{http_code}' -X POST \
    "$BASE/api/v1/auth/token" --data-urlencode username=st-admin --data-urlencode "password=$ADMIN_PW") || code=curl-failed
  [ "$code" = 200 ] || die "admin login: status $code" "$(cat "$WORK/login.json" 2>/dev/null)"
  TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/login.json")
}

stop() { # the running gatehouse: SIGTERM, up to 10 s, then SIGKILL
  [ -n "$GH_PID" ] || return 0
  kill -TERM "$GH_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$GH_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$GH_PID" 2>/dev/null || true
  wait "$GH_PID" 2>/dev/null || true
  GH_PID=""
}

run() { # SEED: one bounded schemathesis run against a fresh gatehouse; its exit status
  local rc=0 code
  start "seed-$1"
  echo "== schemathesis, every check, seed $1, at most $MAX_EXAMPLES cases per operation and phase"
  # Every check runs: schemathesis 4 enables them all unless told otherwise (the
  # same set as --checks all, which is not passed because a command-line --checks
  # would override the per-operation settings in schemathesis.toml).
  (cd "$WORK" && timeout --kill-after=10 "$TIMEOUT" "${ST[@]}" --config-file "$HERE/schemathesis.toml" \
    run "$BASE/openapi.json" --tls-verify "$CA" -H "Authorization: Bearer $TOKEN" \
    --max-examples "$MAX_EXAMPLES" --seed "$1" --no-color) || rc=$?
  # The admin must have come through: otherwise most requests were 401s.
  code=$(curl -sS --max-time 10 --cacert "$CA" -o "$WORK/me.json" -w '%{http_code}' \
    "$BASE/api/v1/users/me" -H "Authorization: Bearer $TOKEN") || code=curl-failed
  if [ "$code" != 200 ]; then
    echo "the admin's token no longer works after the run: status $code $(cat "$WORK/me.json")" >&2
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "# --- last lines of gatehouse's log"
    tail -n 20 "$LOG" | sed 's/^/# /'
  fi
  stop
  return "$rc"
}

ADMIN_PW='St-Adm1n-Passw0rd!'
passed=0
failed=0
for seed in "$FIXED_SEED" "$RANDOM_SEED"; do
  if run "$seed"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "replay with: bash tests/external/schemathesis.sh $BIN_ARG $seed"
  fi
done
echo "schemathesis runs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
