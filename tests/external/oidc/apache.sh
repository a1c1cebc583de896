#!/usr/bin/env bash
# gatehouse as the OpenID Provider of Apache's mod_auth_openidc (Debian's package),
# driven end to end by a person in headless Chromium.
#
#   bash tests/external/oidc/apache.sh [path/to/gatehouse]   (default target/debug/gatehouse)
#
# Starts gatehouse (fresh data directory, 127.0.0.1, port 0), adds the user alice,
# registers Apache as a confidential client that is NOT trusted (so the consent
# page shows) with `gatehouse client add ... --json`, and starts the
# distribution's apache2 as an ordinary foreground process (unprivileged: as
# nobody when run as root), every file in a temporary directory, protecting
# /protected/ with the README's mod_auth_openidc recipe (its one ```apache block;
# README_MD=FILE reads another file). Then apache.mjs drives Chromium: the page →
# gatehouse's sign-in → consent → the page with the claims mod_auth_openidc passed
# on → mod_auth_openidc's logout → gatehouse's end session → back; the page then
# asks to sign in again. Screenshots of each step go to target/oidc-screenshots/
# (OIDC_SCREENSHOT_DIR), FAIL-*.png for a failed one.
#
# Needs apache2 and libapache2-mod-auth-openidc (Debian), Chromium at
# /usr/bin/chromium (CHROMIUM_PATH) and node >= 20 (runs `npm ci` here the first time).
set -euo pipefail
RP_NAME=apache
LOGS="apache/error.log apache/access.log"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
README_MD=${README_MD:-$REPO/README.md}
PATH=$PATH:/usr/sbin:/sbin # where Debian puts apache2
APACHE=$(command -v apache2 || true)
[ -n "$APACHE" ] || die "apache2 is required (apt-get install apache2 libapache2-mod-auth-openidc)"
MODULES=/usr/lib/apache2/modules
[ -f "$MODULES/mod_auth_openidc.so" ] || die "no $MODULES/mod_auth_openidc.so (apt-get install libapache2-mod-auth-openidc)"
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM (apt-get install chromium, or set CHROMIUM_PATH)"
command -v node >/dev/null 2>&1 || die "node is required"
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1) || die "npm ci in $HERE" "$(tail -n 20 "$WORK/npm.log")"
fi
SHOTS=${OIDC_SCREENSHOT_DIR:-$REPO/target/oidc-screenshots}
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png

read -r AP_PORT < <(free_ports 1)
AP=http://127.0.0.1:$AP_PORT
add_alice
add_client "Apache demo" "$WORK/client.json" --redirect-uri "$AP/protected/redirect_uri" \
  --post-logout-redirect-uri "$AP/loggedout.html"
ok "Apache registered with gatehouse client add --json (not trusted: consent is asked)"

start_gatehouse

# Apache's directory: readable by the unprivileged user it runs as.
A=$WORK/apache
mkdir -p "$A/run" "$A/htdocs"
cp "$CA" "$A/gatehouse-ca.pem"
cp "$HERE/apache/page.cgi" "$A/page.cgi"
cp "$HERE/apache/loggedout.html" "$A/htdocs/loggedout.html"
chmod 755 "$A/page.cgi"
export A AP_PORT GH_PORT WORK README_MD CLIENT_ID CLIENT_SECRET PASSPHRASE
CLIENT_ID=$(jget client_id "$WORK/client.json")
CLIENT_SECRET=$(jget client_secret "$WORK/client.json")
PASSPHRASE=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
python3 - "$HERE/apache/httpd.conf.in" "$A/httpd.conf" <<'PY' || die "take the Apache configuration from $README_MD" "$(cat "$WORK/recipe.err" 2>/dev/null)"
import os, re, sys
template, out = sys.argv[1:]
e = os.environ
err = open(e["WORK"] + "/recipe.err", "w")
def fail(msg):
    err.write(msg + "\n"); sys.exit(1)
blocks = re.findall(r"^```apache\n(.*?)^```", open(e["README_MD"]).read(), re.S | re.M)
if len(blocks) != 1:
    fail(f"{e['README_MD']} should hold exactly one ```apache block, not {len(blocks)}")
recipe = blocks[0]
for old, new in [
    ("https://auth.example.com", f"https://localhost:{e['GH_PORT']}"),
    ("https://tool.example.com", f"http://127.0.0.1:{e['AP_PORT']}"),
    ("CLIENT_ID", e["CLIENT_ID"]),
    ("CLIENT_SECRET", e["CLIENT_SECRET"]),
    ("A-LONG-RANDOM-STRING", e["PASSPHRASE"]),
    ("/etc/ssl/gatehouse-ca.pem", f"{e['A']}/gatehouse-ca.pem"),
]:
    if old not in recipe:
        fail(f"the README's Apache recipe no longer contains {old!r}; update tests/external/oidc/apache.sh")
    recipe = recipe.replace(old, new)
conf = open(template).read().replace("@RECIPE@", recipe.rstrip())
for k, v in {"ROOT": e["A"], "PORT": e["AP_PORT"]}.items():
    conf = conf.replace(f"@{k}@", v)
if "@" in re.sub(r"#.*", "", conf):
    fail("a placeholder is left in httpd.conf")
open(out, "w").write(conf)
PY

# Unprivileged: as root (CI), Apache runs wholly as nobody; the work directory
# must then let it through to $A, which it owns.
AS=()
if [ "$(id -u)" = 0 ]; then
  chmod 711 "$WORK"
  chown -R nobody:nogroup "$A"
  AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
"${AS[@]}" "$APACHE" -f "$A/httpd.conf" -t >"$WORK/apache-t.log" 2>&1 || die "apache2 -t" "$(cat "$WORK/apache-t.log")"
"${AS[@]}" "$APACHE" -f "$A/httpd.conf" -DFOREGROUND </dev/null >>"$WORK/apache-t.log" 2>&1 &
EXTRA_PIDS+=($!)
for _ in $(seq 100); do # up to 10 s
  curl -s -o /dev/null --max-time 1 "$AP/loggedout.html" && break
  alive "${EXTRA_PIDS[0]}" || die "apache2 exited at start-up" "$(cat "$WORK/apache-t.log"; tail -n 20 "$A/error.log" 2>/dev/null)"
  sleep 0.1
done

# Without a session, Apache sends the browser to gatehouse's authorization endpoint.
code=$(curl -sS --max-time 10 -o /dev/null -D "$WORK/headers" -w '%{http_code}' "$AP/protected/") || code=curl-failed
LOCATION=$(tr -d '\r' <"$WORK/headers" | sed -nE 's/^[Ll]ocation: *//p')
case "$code $LOCATION" in
  "302 https://localhost:$GH_PORT/oidc/authorize?"*"code_challenge_method=S256"*)
    ok "Apache sends a browser without a session to gatehouse's authorization endpoint, with PKCE S256" ;;
  *) not_ok "Apache sends a browser to gatehouse's authorization endpoint" "status $code, Location: $LOCATION" ;;
esac

export SHOTS GH AP CA CHROMIUM ALICE_PW ALICE_EMAIL ALICE_NAME ALICE_ROLE
run_rp "apache.mjs" "$WORK/rp.log" node "$HERE/apache.mjs"

summary
[ "$FAIL" -eq 0 ]
