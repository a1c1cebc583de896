#!/usr/bin/env bash
# Browser tests of gatehouse's own pages: headless Chromium against the real binary.
#
#   tests/browser/run.sh [path/to/gatehouse]     (default: <repo>/target/debug/gatehouse)
#
# Build the binary first (cargo build). Needs Node >= 20 and Chromium at
# /usr/bin/chromium (or CHROMIUM_PATH). Screenshots and the server's log land in
# target/ui-screenshots/. Exits non-zero when any step fails. mfa.test.mjs also needs
# python3 with pyotp.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

bin="${1:-$root/target/debug/gatehouse}"
# A path given is relative to where the caller is, not to the repository.
case "$bin" in
  /*) ;;
  *) bin="$PWD/$bin" ;;
esac
if [[ ! -x "$bin" ]]; then
  echo "run.sh: no executable gatehouse at $bin (build it first: cargo build)" >&2
  exit 2
fi

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "run.sh: no Chromium at $chromium (apt-get install chromium, or set CHROMIUM_PATH)" >&2
  exit 2
fi

if [[ ! -d "$here/node_modules" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

export UI_SCREENSHOT_DIR="${UI_SCREENSHOT_DIR:-$root/target/ui-screenshots}"
mkdir -p "$UI_SCREENSHOT_DIR"

cd "$root"
node "$here/ui.test.mjs" "$bin"
# Second factors: passkeys with Chromium's virtual authenticator, TOTP codes from
# Python's pyotp (pip install pyotp).
exec node "$here/mfa.test.mjs" "$bin"
