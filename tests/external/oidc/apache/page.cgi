#!/bin/sh
# The page Apache protects: shows the user and the claims mod_auth_openidc passed
# on (OIDCPassClaimsAs environment), HTML-escaped.
printf 'Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n\r\n'
printf '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Protected page</title></head>\n'
printf '<body><h1>Hello, %s</h1>\n<p>mod_auth_openidc let you in and passed on:</p>\n<pre id="claims">\n' \
  "$(printf '%s' "$REMOTE_USER" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')"
env | grep -E '^(REMOTE_USER|OIDC_CLAIM_[A-Za-z0-9_]+)=' | sort | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'
printf '</pre>\n<p><a id="logout" href="/protected/redirect_uri?logout=%s">Sign out</a></p>\n</body></html>\n' \
  "http%3A%2F%2F127.0.0.1%3A${SERVER_PORT}%2Floggedout.html"
