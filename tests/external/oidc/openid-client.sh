#!/usr/bin/env bash
# gatehouse as the OpenID Provider of relying parties built on npm's openid-client.
#
#   bash tests/external/oidc/openid-client.sh [path/to/gatehouse]   (default target/debug/gatehouse)
#
# Starts gatehouse (fresh data directory, 127.0.0.1, port 0), adds the user alice,
# registers three clients with `gatehouse client add ... --json` and runs
# openid-client.mjs against them (what it checks is written at its top):
#   - openid-client 5: confidential, client_secret_basic, PKCE, not trusted (consent), RS256
#   - openid-client 6: confidential, client_secret_post, PKCE, not trusted, ES256
#   - openid-client 6: public (token_endpoint_auth_method none), PKCE, trusted, EdDSA
# The redirect URIs are loopback http URLs nobody listens on: the browser stand-in
# reads the code from gatehouse's redirect and hands it to the library.
# Needs node >= 20; runs `npm ci` here the first time.
set -euo pipefail
RP_NAME=openid-client
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v node >/dev/null 2>&1 || die "node is required"
if [ ! -d "$HERE/node_modules/openid-client" ] || [ ! -d "$HERE/node_modules/openid-client-v5" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1) || die "npm ci in $HERE" "$(tail -n 20 "$WORK/npm.log")"
fi

read -r RP_PORT < <(free_ports 1)
RP=http://127.0.0.1:$RP_PORT
add_alice
add_client "openid-client 5 app" "$WORK/c5.json" --redirect-uri "$RP/cb5" --post-logout-redirect-uri "$RP/bye5"
add_client "openid-client 6 app" "$WORK/c6.json" --redirect-uri "$RP/cb6" --post-logout-redirect-uri "$RP/bye6" \
  --id-token-alg ES256
add_client "openid-client 6 public app" "$WORK/c6p.json" --redirect-uri "$RP/cb6p" \
  --post-logout-redirect-uri "$RP/bye6p" --public --trusted --id-token-alg EdDSA
[ "$(jget client_secret "$WORK/c6p.json")" = null ] || die "a public client got a secret" "$(cat "$WORK/c6p.json")"
ok "three clients registered with gatehouse client add --json"

start_gatehouse

export GH RP WORK ALICE_PW ALICE_EMAIL ALICE_NAME ALICE_ROLE
python3 - >"$WORK/config.json" <<'PY'
import json, os
e = os.environ
def client(f, label, lib, auth, trusted, alg, path):
    c = json.load(open(f"{e['WORK']}/{f}.json"))
    return {"label": label, "name": {"c5": "openid-client 5 app", "c6": "openid-client 6 app",
                                     "c6p": "openid-client 6 public app"}[f],
            "lib": lib, "client_id": c["client_id"], "client_secret": c["client_secret"], "auth": auth,
            "trusted": trusted, "alg": alg, "redirect_uri": f"{e['RP']}/cb{path}",
            "post_logout_redirect_uri": f"{e['RP']}/bye{path}"}
print(json.dumps({
    "issuer": e["GH"],
    "user": {"username": "alice", "password": e["ALICE_PW"], "email": e["ALICE_EMAIL"],
             "name": e["ALICE_NAME"], "role": e["ALICE_ROLE"]},
    "clients": [
        client("c5", "confidential client (client_secret_basic)", "5", "client_secret_basic", False, "RS256", "5"),
        client("c6", "confidential client (client_secret_post)", "6", "client_secret_post", False, "ES256", "6"),
        client("c6p", "public client (none + PKCE)", "6", "none", True, "EdDSA", "6p"),
    ],
}, indent=1))
PY

# Node trusts gatehouse's local CA for every request (fetch and https alike).
run_rp "openid-client.mjs" "$WORK/rp.log" env NODE_EXTRA_CA_CERTS="$CA" node "$HERE/openid-client.mjs" "$WORK/config.json"

summary
[ "$FAIL" -eq 0 ]
