#!/usr/bin/env bash
# Forward auth behind a real nginx (auth_request), end to end.
#
#   bash tests/external/nginx.sh [path/to/gatehouse]     (default target/debug/gatehouse)
#
# Starts gatehouse and an nginx (the distribution's binary, run as an ordinary
# foreground process with every file inside a temporary directory) whose only
# server sits in front of a tiny upstream that echoes the identity headers it
# received. Then checks, through nginx, that requests with valid credentials
# (Bearer token, API key, login cookie) pass with the right identity, that others
# are refused before the upstream sees them, that a client cannot choose the
# identity headers, that ?role= and ?scope= are enforced, that logout takes effect
# at once, and that nginx fails closed when gatehouse is down.
#
# nginx runs the README's own nginx snippet (its ```nginx block with auth_request; README_MD=FILE
# reads another file), with the test's ports and paths put in: the documented
# configuration is the tested one. Only 127.0.0.1 is used; every wait is bounded;
# nginx and gatehouse are stopped on any exit. Prints "ok - ..." / "not ok - ..." per check and ends
# with "N passed, M failed"; exits non-zero if anything failed.
set -euo pipefail

BIN=${1:-target/debug/gatehouse}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
README_MD=${README_MD:-$REPO/README.md}   # where the nginx configuration comes from
[ -x "$BIN" ] || { echo "no gatehouse binary at $BIN (build it with cargo build)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
PATH=$PATH:/usr/sbin:/sbin   # where Debian puts nginx, outside a normal user's PATH
for tool in nginx curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-nginx.XXXXXX")
D=$WORK/data                  # gatehouse's data directory (created by `user add`)
GH_PID=""
NGINX_PID=""
PASS=0
FAIL=0
SUMMARY_DONE=""

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

cleanup() {
  local rc=$?
  set +e            # whatever fails here, the processes are stopped and $WORK removed
  trap '' PIPE      # even when whoever reads the output has gone (| head)
  trap - EXIT INT TERM
  if [ -z "$SUMMARY_DONE" ]; then # stopped by an unexpected error or a signal
    not_ok "the script stopped early (exit status $rc)"
    summary
    [ "$rc" -ne 0 ] || rc=1
  fi
  stop "$NGINX_PID"
  stop "$GH_PID"
  if [ "$rc" -ne 0 ] || [ "$FAIL" -ne 0 ]; then
    for f in gatehouse.log nginx-error.log proxy-access.log upstream-access.log; do
      [ -s "$WORK/$f" ] && { echo "# --- last lines of $f"; tail -n 20 "$WORK/$f" | sed 's/^/# /'; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

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

# jget FIELD FILE: one string field of a JSON object
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "$2"; }

# ---------------------------------------------------------------------------
# gatehouse: the admin is created first, because `user add` needs the database
# unlocked (server stopped).
ADMIN_PW='Adm1n-Passw0rd!'
ALICE_PW='Al1ce-Passw0rd!'
# Cheap hashes: the same cost as the server below accepts (--hash-memory-mib 1).
printf '%s\n' "$ADMIN_PW" | "$BIN" --log-format text user add admin --email admin@example.com \
  --role admin --password-stdin --data-dir "$D" --scrypt-log-n 4 --scrypt-p 1 \
  >"$WORK/user-add.log" 2>&1 || die "gatehouse user add admin" "$(cat "$WORK/user-add.log")"

# Two free ports for nginx, chosen first: gatehouse must allow the proxy's address
# as a place to send a browser back to after signing in.
read -r PROXY_PORT UPSTREAM_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))
')
"$BIN" --log-format text serve --data-dir "$D" --listen 127.0.0.1:0 --ready-file "$D/ready" \
  --scrypt-log-n 4 --scrypt-p 1 --hash-memory-mib 1 --redirect-allow "127.0.0.1:$PROXY_PORT" \
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
CA=$D/tls-cert.pem
[ -s "$CA" ] || die "no certificate at $CA"
GH=https://localhost:$GH_PORT
API=$GH/api/v1
# Every curl is bounded, and never asks anything but 127.0.0.1.
gh() { curl -sS --max-time 10 --cacert "$CA" --resolve "localhost:$GH_PORT:127.0.0.1" "$@"; }

# ---------------------------------------------------------------------------
# nginx: one configuration, every path inside $WORK.
mkdir -p "$WORK/nginx-tmp"
# Temp-path directives exist only for the modules nginx was built with.
TEMP_MODULES=client_body
for m in proxy fastcgi uwsgi scgi; do
  nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" || TEMP_MODULES+=" $m"
done
export WORK CA GH_PORT PROXY_PORT UPSTREAM_PORT TEMP_MODULES
# The protected tool's server{} and the gatehouse upstream are the README's nginx
# snippet itself, with test ports and paths put in (and, for ?scope=, one more
# location pair made from its /admin/ pair), so the README's config is what runs.
python3 - "$README_MD" "$WORK/nginx.conf" <<'PY' || die "take the nginx configuration from $README_MD" "$(cat "$WORK/snippet.err" 2>/dev/null)"
import os, re, sys
readme, out = sys.argv[1:]
env = os.environ
err = open(env["WORK"] + "/snippet.err", "w")
def fail(msg):
    err.write(msg + "\n"); sys.exit(1)
# The forward-auth snippet: the one ```nginx block with auth_request (others, such
# as the load-balancer example, are not this test's).
blocks = [b for b in re.findall(r"^```nginx\n(.*?)^```", open(readme).read(), re.S | re.M) if "auth_request" in b]
if len(blocks) != 1:
    fail(f"{readme} should hold exactly one ```nginx block with auth_request, not {len(blocks)}")
conf = blocks[0]
def sub(old, new):
    global conf
    if old not in conf:
        fail(f"the README's nginx snippet no longer contains {old!r}; update tests/external/nginx.sh")
    conf = conf.replace(old, new)
sub("server 127.0.0.1:8443;", f"server 127.0.0.1:{env['GH_PORT']};")
sub("listen 443 ssl;", f"listen 127.0.0.1:{env['PROXY_PORT']};\n    access_log {env['WORK']}/proxy-access.log;")
sub("http://127.0.0.1:3000", f"http://127.0.0.1:{env['UPSTREAM_PORT']}")
sub("/etc/ssl/gatehouse.pem", env["CA"])
conf = re.sub(r"^\s*ssl_certificate(_key)?\s.*\n", "", conf, flags=re.M)
admin = re.search(r"^    location /admin/ \{\n.*?^    \}\n", conf, re.S | re.M)
check = re.search(r"^    location = /_auth_admin \{\n.*?^    \}\n", conf, re.S | re.M)
if not admin or not check or not conf.rstrip().endswith("}"):
    fail("the README's nginx snippet lost its /admin/ or /_auth_admin location")
reports = (admin.group(0).replace("/admin/", "/reports/").replace("/_auth_admin", "/_auth_reports")
           + check.group(0).replace("/_auth_admin", "/_auth_reports").replace("?role=admin", "?scope=users:read"))
body = conf.rstrip()
conf = body[:-1] + "\n    # Added by the test: tokens and keys with the users:read scope.\n" + reports + "}\n"
temp = "".join(f"    {m}_temp_path {env['WORK']}/nginx-tmp/{m};\n" for m in env["TEMP_MODULES"].split())
indented = "".join(("    " + l if l.strip() else l) for l in conf.splitlines(True))
open(out, "w").write(f"""daemon off;
master_process off;
worker_processes 1;
pid {env['WORK']}/nginx.pid;
error_log {env['WORK']}/nginx-error.log notice;
events {{ worker_connections 64; }}

http {{
{temp}    access_log off;
    default_type text/plain;

{indented}
    # The tiny upstream: says which identity headers it received.
    server {{
        listen 127.0.0.1:{env['UPSTREAM_PORT']};
        access_log {env['WORK']}/upstream-access.log;
        default_type text/plain;
        location / {{
            return 200 "user=$http_x_auth_user role=$http_x_auth_role id=$http_x_auth_user_id email=$http_x_auth_email scopes=$http_x_auth_scopes\\n";
        }}
    }}
}}
""")
PY

NGINX=(nginx -p "$WORK/" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf")
"${NGINX[@]}" -t -q >"$WORK/nginx-t.log" 2>&1 || die "nginx -t" "$(cat "$WORK/nginx-t.log")"
"${NGINX[@]}" </dev/null >>"$WORK/nginx-error.log" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do # up to 10 s
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$UPSTREAM_PORT/ready" && break
  alive "$NGINX_PID" || die "nginx exited at start-up" "$(tail -n 20 "$WORK/nginx-error.log")"
  sleep 0.1
done
curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PROXY_PORT/" ||
  die "nginx is not answering on 127.0.0.1:$PROXY_PORT within 10 s"

# ---------------------------------------------------------------------------
# alice (a user) and the admin get their credentials from gatehouse's API.
api() { # STATUS OUTFILE WHAT [curl args...]: a call that must answer STATUS
  local want=$1 out=$2 what=$3 code
  shift 3
  code=$(gh -o "$out" -w '%{http_code}' "$@") || code="curl-failed"
  [ "$code" = "$want" ] || die "$what: status $code, want $want" "$(cat "$out" 2>/dev/null)"
}
api 201 "$WORK/reg.json" "register alice" -X POST "$API/users/register" -H 'Content-Type: application/json' \
  -d "{\"username\": \"alice\", \"email\": \"alice@example.com\", \"password\": \"$ALICE_PW\"}"
ALICE_ID=$(jget id "$WORK/reg.json")

api 200 "$WORK/alice.json" "log in as alice" -X POST "$API/auth/token" \
  --data-urlencode username=alice --data-urlencode "password=$ALICE_PW"
ALICE=$(jget access_token "$WORK/alice.json")
ALICE_REFRESH=$(jget refresh_token "$WORK/alice.json")
api 200 "$WORK/admin.json" "log in as admin" -X POST "$API/auth/token" \
  --data-urlencode username=admin --data-urlencode "password=$ADMIN_PW"
ADMIN=$(jget access_token "$WORK/admin.json")

api 200 "$WORK/key.json" "generate alice's API key" -X POST "$API/api-keys/generate" -H "Authorization: Bearer $ALICE"
ALICE_KEY=$(jget api_key "$WORK/key.json")
# A named key of the admin limited to profile:read: admin role, but not the users:read scope.
api 201 "$WORK/key2.json" "create the admin's narrow key" -X POST "$API/api-keys" -H "Authorization: Bearer $ADMIN" \
  -H 'Content-Type: application/json' -d '{"name": "narrow", "scopes": ["profile:read"]}'
NARROW_KEY=$(jget api_key "$WORK/key2.json")

# The login cookie, as /auth/login sets it: access_token="Bearer <token>".
api 200 "$WORK/login.json" "POST /auth/login as alice" -D "$WORK/login-headers" -X POST "$API/auth/login" \
  --data-urlencode username=alice --data-urlencode "password=$ALICE_PW"
COOKIE=$(tr -d '\r' <"$WORK/login-headers" | sed -nE 's/^[Ss]et-[Cc]ookie: *(access_token=[^;]*).*/\1/p')
case "$COOKIE" in
  'access_token="Bearer '*) ;;
  *) die "no access_token cookie from /auth/login" "$(cat "$WORK/login-headers")" ;;
esac

# Forgeries: alice's token with its claims changed (signature kept), and alg=none.
read -r TAMPERED ALG_NONE < <(python3 - "$ALICE" <<'PY'
import base64, json, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims.update(sub="admin", role="super_admin")
body = b64(json.dumps(claims, separators=(",", ":")).encode())
none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
print(f"{h}.{body}.{s}", f"{none}.{body}.")
PY
)

# ---------------------------------------------------------------------------
# Requests through nginx. Each carries a unique probe so the upstream's access
# log tells whether that very request reached it (nginx runs as one process, so
# the upstream has logged a request before the proxy answers the client).
PROBE=0
STATUS=""
BODY=""
through() { # PATH [curl args...]: sets STATUS, BODY, HEADERS (file) and PROBE_ID
  local path=$1
  shift
  PROBE=$((PROBE + 1))
  PROBE_ID="probe-$PROBE-$RANDOM"
  local sep='?'
  case "$path" in *\?*) sep='&' ;; esac
  STATUS=$(curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
    "$@" "http://127.0.0.1:$PROXY_PORT$path$sep$PROBE_ID") || STATUS="curl-failed"
  BODY=$(cat "$WORK/body" 2>/dev/null || true)
}
reached() { grep -q -- "$PROBE_ID" "$WORK/upstream-access.log" 2>/dev/null; }

# What the upstream must see, exactly, for each of them.
ALICE_SEES="user=alice role=user id=$ALICE_ID email=alice@example.com scopes=profile:read profile:write posts:read posts:write"
ADMIN_SEES="user=admin role=admin id=1 email=admin@example.com scopes=profile:read profile:write posts:read posts:write posts:delete users:read users:write admin"

# expect_pass DESC EXPECTED_BODY PATH [curl args...]
expect_pass() {
  local desc=$1 want=$2
  shift 2
  through "$@"
  if [ "$STATUS" = 200 ] && reached && [ "$BODY" = "$want" ]; then
    ok "$desc"
  else
    not_ok "$desc" "status $STATUS, reached upstream: $(reached && echo yes || echo no)"$'\n'"body: $BODY"$'\n'"want: $want"
  fi
}
# expect_refused DESC STATUS PATH [curl args...]
expect_refused() {
  local desc=$1 want=$2
  shift 2
  through "$@"
  if [ "$STATUS" = "$want" ] && ! reached && [ "${BODY#user=}" = "$BODY" ]; then
    ok "$desc"
  else
    not_ok "$desc" "status $STATUS (want $want), reached upstream: $(reached && echo yes || echo no), body: $BODY"
  fi
}

expect_refused "no credentials: 401, upstream not reached" 401 /
if tr -d '\r' <"$WORK/headers" | grep -qi '^www-authenticate: Bearer'; then
  ok "the 401 carries gatehouse's WWW-Authenticate: Bearer"
else
  not_ok "the 401 carries gatehouse's WWW-Authenticate: Bearer" "$(cat "$WORK/headers")"
fi
expect_refused "garbage Bearer: 401" 401 / -H 'Authorization: Bearer not-a-token'
expect_refused "alice's token with claims changed to super_admin: 401" 401 / -H "Authorization: Bearer $TAMPERED"
expect_refused "alg=none token: 401" 401 / -H "Authorization: Bearer $ALG_NONE"
expect_refused "made-up API key: 401" 401 / -H 'X-API-Key: gh_made-up-key'
expect_refused "made-up cookie: 401" 401 / -H 'Cookie: access_token="Bearer not-a-token"'
expect_refused "POST with a body and no credentials: 401" 401 /submit -X POST -d 'x=1'

expect_pass "valid Bearer: 200, upstream sees alice's identity" "$ALICE_SEES" / -H "Authorization: Bearer $ALICE"
expect_pass "valid Bearer on a POST with a body: 200" "$ALICE_SEES" /submit -X POST \
  -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -d '{"hello": "world"}'
expect_pass "alice's API key: 200 as alice" "$ALICE_SEES" / -H "X-API-Key: $ALICE_KEY"
expect_pass "login cookie: 200 as alice" "$ALICE_SEES" / -H "Cookie: theme=dark; $COOKIE"

# Established TCP connections to gatehouse's port (only nginx has any by now).
gh_connections() {
  python3 - "$GH_PORT" <<'PY'
import sys
port, n = int(sys.argv[1]), 0
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(f).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        x = row.split()
        n += x[3] == "01" and int(x[2].rsplit(":", 1)[1], 16) == port
print(n)
PY
}
n=$(gh_connections)
if [ "$n" -ge 1 ]; then
  ok "nginx keeps its TLS connection to gatehouse open between checks ($n open)"
else
  not_ok "nginx keeps its TLS connection to gatehouse open between checks" "no established connection to port $GH_PORT"
fi

expect_refused "spoofed X-Auth-User: admin without credentials: 401" 401 / \
  -H 'X-Auth-User: admin' -H 'X-Auth-Role: super_admin' -H 'X-Auth-User-Id: 1'
expect_pass "spoofed identity headers with alice's token: upstream still sees alice" "$ALICE_SEES" / \
  -H "Authorization: Bearer $ALICE" -H 'X-Auth-User: admin' -H 'X-Auth-Role: super_admin' \
  -H 'X-Auth-User-Id: 1' -H 'X-Auth-Email: admin@example.com' -H 'X-Auth-Scopes: admin'
expect_pass "spoofed headers in other spellings and repeated: upstream still sees alice" "$ALICE_SEES" / \
  -H "Authorization: Bearer $ALICE" -H 'x-auth-user: admin' -H 'X-AUTH-ROLE: super_admin' \
  -H 'X-Auth-User: root' -H 'x-Auth-user-ID: 1'

expect_refused "admin area, no credentials: 401" 401 /admin/
expect_refused "admin area as alice (?role=admin): 403" 403 /admin/ -H "Authorization: Bearer $ALICE"
expect_refused "admin area with alice's key: 403" 403 /admin/ -H "X-API-Key: $ALICE_KEY"
expect_refused "admin area as alice asking for ?role=user herself: 403" 403 "/admin/?role=user" \
  -H "Authorization: Bearer $ALICE"
expect_pass "admin area as the admin: 200" "$ADMIN_SEES" /admin/ \
  -H "Authorization: Bearer $ADMIN"
expect_pass "admin area, admin token plus spoofed X-Auth-User: upstream sees admin" "$ADMIN_SEES" \
  /admin/ -H "Authorization: Bearer $ADMIN" -H 'X-Auth-User: alice'

expect_refused "scope area (?scope=users:read) as alice: 403" 403 /reports/ -H "Authorization: Bearer $ALICE"
expect_refused "scope area with the admin's profile:read-only key: 403" 403 /reports/ -H "X-API-Key: $NARROW_KEY"
expect_pass "scope area as the admin: 200" "$ADMIN_SEES" /reports/ -H "Authorization: Bearer $ADMIN"

# The browser round trip: no session -> gatehouse's login page -> sign in -> back.
APP_URL="http://127.0.0.1:$PROXY_PORT/private/page?x=1&y=two"
code=$(curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
  -H 'Accept: text/html,application/xhtml+xml' "$APP_URL") || code=curl-failed
LOCATION=$(tr -d '\r' <"$WORK/headers" | sed -nE 's/^[Ll]ocation: *//p')
WANT_LOGIN="$GH/ui/login?rd=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$APP_URL")"
if [ "$code" = 302 ] && [ "$LOCATION" = "$WANT_LOGIN" ]; then
  ok "a browser without a session is sent to gatehouse's login page with rd= the page it asked for"
else
  not_ok "a browser without a session is sent to the login page" "status $code, Location: $LOCATION"$'\n'"want: $WANT_LOGIN"
fi
code=$(curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$APP_URL") || code=curl-failed
if [ "$code" = 401 ] && tr -d '\r' <"$WORK/headers" | grep -qi '^www-authenticate: Bearer' &&
  ! tr -d '\r' <"$WORK/headers" | grep -qi '^location:'; then
  ok "an API client (no Accept: text/html) still gets 401 with WWW-Authenticate, no redirect"
else
  not_ok "an API client still gets a plain 401" "status $code: $(cat "$WORK/headers")"
fi
code=$(gh -o "$WORK/login.html" -w '%{http_code}' "$LOCATION") || code=curl-failed
if [ "$code" = 200 ] && grep -q '/ui/login.js' "$WORK/login.html"; then
  ok "the login page it points to is served"
else
  not_ok "the login page it points to is served" "status $code"
fi
RD=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.parse_qs(urllib.parse.urlsplit(sys.argv[1]).query)["rd"][0])' "$LOCATION")
api 200 "$WORK/login2.json" "sign in as alice on the login page" -D "$WORK/login2-headers" -X POST "$API/auth/login" \
  -H "Origin: $GH" --data-urlencode username=alice --data-urlencode "password=$ALICE_PW"
BROWSER_COOKIE=$(tr -d '\r' <"$WORK/login2-headers" | sed -nE 's/^[Ss]et-[Cc]ookie: *(access_token=[^;]*).*/\1/p')
code=$(gh -o /dev/null -D "$WORK/next-headers" -w '%{http_code}' -G "$GH/ui/next" --data-urlencode "rd=$RD") || code=curl-failed
BACK=$(tr -d '\r' <"$WORK/next-headers" | sed -nE 's/^[Ll]ocation: *//p')
if [ "$code" = 302 ] && [ "$BACK" = "$APP_URL" ]; then
  ok "after signing in, the login page sends the browser back to the page it asked for"
else
  not_ok "after signing in, back to the page" "status $code, Location: $BACK, want $APP_URL"
fi
expect_pass "...which now opens with alice's identity" "$ALICE_SEES" "/private/page?x=1&y=two" \
  -H 'Accept: text/html' -H "Cookie: $BROWSER_COOKIE"
code=$(gh -o /dev/null -D "$WORK/next-headers" -w '%{http_code}' -G "$GH/ui/next" \
  --data-urlencode "rd=https://evil.example/phish") || code=curl-failed
BACK=$(tr -d '\r' <"$WORK/next-headers" | sed -nE 's/^[Ll]ocation: *//p')
if [ "$code" = 302 ] && [ "$BACK" = "/ui/account" ]; then
  ok "a sign-in never sends the browser to a host outside --redirect-allow"
else
  not_ok "no open redirect" "status $code, Location: $BACK"
fi

# Logout revokes alice's access token: the proxy refuses it on the next request.
code=$(gh -o "$WORK/logout.json" -w '%{http_code}' -X POST "$API/auth/logout" -H "Authorization: Bearer $ALICE" \
  -H 'Content-Type: application/json' -d "{\"refresh_token\": \"$ALICE_REFRESH\"}") || code=curl-failed
if [ "$code" = 200 ]; then ok "alice logs out"; else not_ok "alice logs out" "status $code: $(cat "$WORK/logout.json")"; fi
expect_refused "alice's token right after logout: 401" 401 / -H "Authorization: Bearer $ALICE"
expect_pass "alice's API key still works after logout" "$ALICE_SEES" / -H "X-API-Key: $ALICE_KEY"

# With gatehouse down, nginx fails closed (the subrequest errors: 500).
stop "$GH_PID"
GH_PID=""
expect_refused "gatehouse down: refused (500), upstream not reached" 500 / -H "X-API-Key: $ALICE_KEY"

summary
[ "$FAIL" -eq 0 ]
