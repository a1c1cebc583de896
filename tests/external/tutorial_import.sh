#!/usr/bin/env bash
# Moving in from the tutorial's app, end to end, against the real app (SPEC §11).
#
#   bash tests/external/tutorial_import.sh [path/to/gatehouse]   (default target/debug/gatehouse)
#
# Starts the tutorial's FastAPI app (../shared/tutorial-app, or $TUTORIAL_APP: its
# run.sh makes a Python virtual environment on first use) on 127.0.0.1, fills it
# through its own API with tests/external/tutorial_app.py (registrations, an API
# key, a deactivation, role changes by an admin, a super_admin and a lock set in the
# database as the tutorial says, a username its validator wrongly lets through),
# stops it, and imports its auth.db with gatehouse: refused while a row is invalid,
# a dry run, the import, the same import again. Then starts gatehouse and signs
# every user in with the password they chose in the tutorial's app, uses the API
# key, checks that the deactivated and the locked user are refused, and that a
# stored hash is scrypt after its owner signed in (bcrypt until then).
#
# Only 127.0.0.1 is used; every wait is bounded; both servers are stopped on any
# exit. Prints "ok - ..." / "not ok - ..." per check and ends with "N passed,
# M failed"; exits non-zero if anything failed.
set -euo pipefail

BIN=${1:-target/debug/gatehouse}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
APP=${TUTORIAL_APP:-$REPO/../shared/tutorial-app}
[ -x "$BIN" ] || { echo "no gatehouse binary at $BIN (build it with cargo build)" >&2; exit 2; }
[ -x "$APP/run.sh" ] || { echo "the tutorial's app is not at $APP (set TUTORIAL_APP)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
command -v python3 >/dev/null 2>&1 || { echo "python3 is required" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-tutorial.XXXXXX")
TUT=$WORK/tutorial           # the tutorial's database directory
D=$WORK/data                 # gatehouse's data directory
TUT_PID=""
GH_PID=""
PASS=0
FAIL=0
SUMMARY_DONE=""

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop() { # PID: SIGTERM, up to 10 s, then SIGKILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() {
  FAIL=$((FAIL + 1))
  echo "not ok - $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
summary() { echo "$PASS passed, $FAIL failed"; SUMMARY_DONE=1; }
die() { not_ok "setup: $1" "${2:-}"; summary; exit 1; }
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -z "$SUMMARY_DONE" ]; then
    not_ok "the script stopped early (exit status $rc)"
    summary
    [ "$rc" -ne 0 ] || rc=1
  fi
  stop "$TUT_PID"
  stop "$GH_PID"
  if [ "$rc" -ne 0 ] || [ "$FAIL" -ne 0 ]; then
    for f in "$TUT/uvicorn.log" "$WORK/gatehouse.log"; do
      [ -s "$f" ] && { echo "# --- last lines of $f"; tail -n 20 "$f" | sed 's/^/# /'; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gh() { "$BIN" --log-format json "$@" --data-dir "$D"; }

# --- 1. the tutorial's app, used as its users would --------------------------------
PORT=$(free_port)
"$APP/run.sh" "$PORT" "$TUT" --background >"$WORK/run.log" 2>&1 || die "start the tutorial's app" "$(tail -n 30 "$WORK/run.log")"
TUT_PID=$(sed -n 's/^TUTORIAL_PID=//p' "$WORK/run.log")
[ -n "$TUT_PID" ] || die "the tutorial's app printed no TUTORIAL_PID" "$(cat "$WORK/run.log")"
python3 "$REPO/tests/external/tutorial_app.py" "http://127.0.0.1:$PORT" "$TUT/auth.db" >"$WORK/accounts.json" 2>"$WORK/driver.err" ||
  die "fill the tutorial's app through its API" "$(cat "$WORK/driver.err")"
ok "the tutorial's app has 7 accounts, an API key, a deactivation and role changes"
stop "$TUT_PID"
TUT_PID=""
DB=$TUT/auth.db
# The file's bytes, its modification time, and the directory's entries (no -journal,
# -wal or -shm may appear): importing only reads.
fingerprint() { sha256sum "$DB"; stat -c '%y %s' "$DB"; ls -A "$TUT"; }
BEFORE=$(fingerprint)

# --- 2. the import --------------------------------------------------------------------
if gh import tutorial --sqlite "$DB" >"$WORK/out" 2>"$WORK/err"; then
  not_ok "an invalid row refuses the import" "$(cat "$WORK/out")"
elif grep -q 'nothing was imported: 1 row is invalid' "$WORK/err" && grep -q 'mallory' "$WORK/err"; then
  ok "an invalid row (the tutorial let \"mallory\\n\" register) refuses the import, naming it"
else
  not_ok "the refusal names the row" "$(cat "$WORK/err")"
fi
COUNT=$(gh user list --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
[ "$COUNT" = 0 ] && ok "nothing was half-imported" || not_ok "nothing was half-imported" "$COUNT users"

gh import tutorial --sqlite "$DB" --dry-run --skip-invalid >"$WORK/out" 2>"$WORK/err" &&
  grep -q 'would import 6:' "$WORK/out" && ok "a dry run reports 6 to import" ||
  not_ok "a dry run reports 6 to import" "$(cat "$WORK/out" "$WORK/err")"

if gh import tutorial --sqlite "$DB" --skip-invalid --json >"$WORK/import.json" 2>"$WORK/err"; then
  TOTALS=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["data"]["totals"], sort_keys=True))' "$WORK/import.json")
  [ "$TOTALS" = '{"already_present": 0, "duplicate": 0, "imported": 6, "invalid": 1}' ] &&
    ok "imported 6, skipped the invalid one" || not_ok "import totals" "$TOTALS"
else
  not_ok "import --skip-invalid" "$(cat "$WORK/err")"
fi
gh import tutorial --sqlite "$DB" --skip-invalid >"$WORK/out" 2>"$WORK/err" &&
  grep -q 'totals: 0 imported, 6 already present' "$WORK/out" && ok "importing again changes nothing" ||
  not_ok "importing again changes nothing" "$(cat "$WORK/out" "$WORK/err")"
[ "$(fingerprint)" = "$BEFORE" ] && ok "the tutorial's database was only read (bytes, mtime, no new files)" ||
  not_ok "the tutorial's database was only read" "$(fingerprint)"

# --- 3. gatehouse, with the tutorial's passwords and key --------------------------------
"$BIN" --log-format json serve --data-dir "$D" --listen 127.0.0.1:0 --ready-file "$D/ready" \
  --login-rate-limit off </dev/null >"$WORK/gatehouse.log" 2>&1 &
GH_PID=$!
for _ in $(seq 300); do
  [ -s "$D/ready" ] && break
  alive "$GH_PID" || die "gatehouse exited at start-up" "$(tail -n 20 "$WORK/gatehouse.log")"
  sleep 0.1
done
[ -s "$D/ready" ] || die "gatehouse did not write its ready file within 30 s"
GH_PORT=$(sed -E 's/.*:([0-9]+)$/\1/' "$D/ready")

python3 - "$GH_PORT" "$D/tls-ca.pem" "$WORK/accounts.json" >"$WORK/signin.out" 2>&1 <<'PY' || true
import json, ssl, sys, urllib.error, urllib.parse, urllib.request
port, ca, accounts = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
ctx = ssl.create_default_context(cafile=ca)
def call(method, path, form=None, headers=None):
    data = urllib.parse.urlencode(form).encode() if form else None
    req = urllib.request.Request(f"https://localhost:{port}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), e.headers
def check(ok, what, detail=""):
    print(("ok - " if ok else "not ok - ") + what + ("" if ok else f": {detail}"))
for name, a in accounts["accounts"].items():
    if name == accounts["invalid"]:
        continue
    status, body, headers = call("POST", "/api/v1/auth/token", {"username": name, "password": a["password"]})
    if not a["is_active"]:
        check(status == 401, f"{name} (deactivated in the tutorial) is refused", status)
    elif name == accounts["locked"]:
        check(status == 401 and headers.get("Retry-After"), f"{name} (locked in the tutorial) is still locked", status)
    else:
        me = call("GET", "/api/v1/users/me", headers={"Authorization": "Bearer " + body.get("access_token", "")}) if status == 200 else (status, body, None)
        same = me[0] == 200 and me[1]["role"] == a["role"] and me[1]["id"] == a["id"] and me[1]["email"] == a["email"]
        check(status == 200 and same, f"{name} signs in with the tutorial password and is the same {a['role']} (id {a['id']})", (status, me[1]))
status, body, _ = call("GET", "/api/v1/users/me", headers={"X-API-Key": accounts["api_key"]})
check(status == 200 and body["username"] == "alice", "alice's tutorial API key works as X-API-Key", (status, body))
status, body, _ = call("GET", "/api/v1/users/me", headers={"X-API-Key": accounts["replaced_api_key"]})
check(status == 401, "the key the tutorial's second generate replaced does not", status)
# Its owner sees it among her keys and revokes it like any other; then it is refused.
alice = accounts["accounts"]["alice"]["password"]
status, body, _ = call("POST", "/api/v1/auth/token", {"username": "alice", "password": alice})
bearer = {"Authorization": "Bearer " + (body or {}).get("access_token", "")}
status, keys, _ = call("GET", "/api/v1/api-keys", headers=bearer)
mine = [k for k in (keys if isinstance(keys, list) else []) if k.get("name") == "imported from the tutorial"]
listed = status == 200 and len(mine) == 1 and accounts["api_key"].startswith(mine[0]["prefix"])
check(listed, "alice lists her tutorial key (by its prefix) with her other keys", (status, keys))
if listed:
    status, body, _ = call("DELETE", "/api/v1/api-keys/" + mine[0]["id"], headers=bearer)
    check(status == 200, "alice revokes her tutorial key", (status, body))
status, body, _ = call("GET", "/api/v1/users/me", headers={"X-API-Key": accounts["api_key"]})
check(status == 401, "the revoked tutorial key is refused", (status, body))
PY
while IFS= read -r line; do
  case "$line" in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
    *) not_ok "sign-in checks: unexpected output" "$line" ;;
  esac
done <"$WORK/signin.out"

# The running server answers through its admin socket: alice signed in (scrypt now),
# bob could not (still the tutorial's bcrypt).
hash_of() { gh user show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["password_hash"])'; }
[ "$(hash_of alice)" = scrypt ] && ok "alice's stored hash is scrypt after her sign-in" ||
  not_ok "alice's stored hash is scrypt after her sign-in" "$(hash_of alice)"
[ "$(hash_of bob)" = "bcrypt (imported)" ] && ok "bob's is still the imported bcrypt" ||
  not_ok "bob's is still the imported bcrypt" "$(hash_of bob)"
"$BIN" check --data-dir "$D" >"$WORK/out" 2>&1 && grep -q '2 accounts still have an imported bcrypt password hash' "$WORK/out" &&
  ok "gatehouse check counts the hashes still bcrypt" || not_ok "gatehouse check counts the hashes still bcrypt" "$(cat "$WORK/out")"

summary
[ "$FAIL" -eq 0 ]
