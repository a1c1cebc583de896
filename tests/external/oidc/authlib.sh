#!/usr/bin/env bash
# gatehouse as the OpenID Provider of relying parties built on Python's authlib.
#
#   bash tests/external/oidc/authlib.sh [path/to/gatehouse]   (default target/debug/gatehouse)
#
# Starts gatehouse (fresh data directory, 127.0.0.1, port 0), adds the user alice,
# registers two clients with `gatehouse client add ... --json` and runs
# authlib_rp.py against them (what it checks is written at its top):
#   - confidential, client_secret_basic, PKCE, not trusted (consent), RS256
#   - public (token_endpoint_auth_method none), PKCE, trusted, ES256
# The redirect URIs are loopback http URLs nobody listens on: the browser stand-in
# reads the code from gatehouse's redirect and hands it to the library.
# Needs authlib (pinned in requirements.txt; .ci/run installs it).
set -euo pipefail
RP_NAME=authlib
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
python3 -c 'import authlib, joserfc, requests' 2>/dev/null ||
  die "authlib is not installed" "python3 -m pip install -r $HERE/requirements.txt"

read -r RP_PORT < <(free_ports 1)
RP=http://127.0.0.1:$RP_PORT
add_alice
add_client "authlib app" "$WORK/conf.json" --redirect-uri "$RP/cb" --post-logout-redirect-uri "$RP/bye"
add_client "authlib public app" "$WORK/pub.json" --redirect-uri "$RP/cb-public" \
  --post-logout-redirect-uri "$RP/bye-public" --public --trusted --id-token-alg ES256
[ "$(jget client_secret "$WORK/pub.json")" = null ] || die "a public client got a secret" "$(cat "$WORK/pub.json")"
ok "two clients registered with gatehouse client add --json"

start_gatehouse

export GH CA RP WORK ALICE_PW ALICE_EMAIL ALICE_NAME ALICE_ROLE
python3 - >"$WORK/config.json" <<'PY'
import json, os
e = os.environ
def client(f, label, name, auth, trusted, alg, path):
    c = json.load(open(f"{e['WORK']}/{f}.json"))
    return {"label": label, "name": name, "client_id": c["client_id"], "client_secret": c["client_secret"],
            "auth": auth, "trusted": trusted, "alg": alg,
            "redirect_uri": f"{e['RP']}/cb{path}", "post_logout_redirect_uri": f"{e['RP']}/bye{path}"}
print(json.dumps({
    "issuer": e["GH"], "ca": e["CA"],
    "user": {"username": "alice", "password": e["ALICE_PW"], "email": e["ALICE_EMAIL"],
             "name": e["ALICE_NAME"], "role": e["ALICE_ROLE"]},
    "clients": [
        client("conf", "confidential client (client_secret_basic)", "authlib app", "client_secret_basic",
               False, "RS256", ""),
        client("pub", "public client (none + PKCE)", "authlib public app", "none", True, "ES256", "-public"),
    ],
}, indent=1))
PY

run_rp "authlib_rp.py" "$WORK/rp.log" python3 "$HERE/authlib_rp.py" "$WORK/config.json"

summary
[ "$FAIL" -eq 0 ]
