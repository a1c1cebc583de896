#!/usr/bin/env bash
# Packaging CI: (a) the systemd unit's sandbox score, (b) the aarch64 (Raspberry Pi)
# cross build smoke-tested under qemu-user, (c) the Debian package for the host,
# (d) the PostgreSQL build (profile small). Both host binaries must be <= 10 MiB.
#
# usage: packaging/ci.sh [--armv7] [--skip-security] [--skip-cross] [--skip-deb]
#                        [--skip-postgres]
#   --armv7   also cross-build armv7-unknown-linux-gnueabihf and smoke-test it under
#             qemu-arm (off by default: another ~2.5 min of fat-LTO build).
#
# Honours CARGO_TARGET_DIR (default ./target). Installs what it needs (apt-get,
# rustup, cargo install) only when missing. Everything it starts listens on
# 127.0.0.1 only. Bounded: the whole run is killed after PKG_CI_TIMEOUT seconds
# (default 1500 = 25 min), and every step has its own, shorter limit.
set -euo pipefail

if [ -z "${GATEHOUSE_PKG_CI_BOUNDED:-}" ]; then
  # timeout(1) runs us in our own process group and signals all of it, so cargo,
  # qemu and the servers under test end with us.
  export GATEHOUSE_PKG_CI_BOUNDED=1
  exec timeout -k 15 "${PKG_CI_TIMEOUT:-1500}" "$0" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD

ARMV7=0 SECURITY=1 CROSS=1 DEB=1 PG=1
for arg in "$@"; do
  case "$arg" in
    --armv7) ARMV7=1 ;;
    --skip-security) SECURITY=0 ;;
    --skip-cross) CROSS=0 ;;
    --skip-deb) DEB=0 ;;
    --skip-postgres) PG=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
export CARGO_TARGET_DIR=$TARGET_DIR
MAX_SCORE=2.0
UNIT=packaging/gatehouse.service

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
APT_UPDATED=0
apt_install() { # apt_install PACKAGE... (only the missing ones)
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "apt-get install ${missing[*]}"
  if [ "$APT_UPDATED" -eq 0 ]; then
    timeout 300 $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

rust_target() { # rust_target TRIPLE
  rustup target list --installed | grep -qx "$1" || timeout 300 rustup target add "$1"
}

step() { echo; echo "== $*"; }

# ---------------------------------------------------------------------------------
# Smoke test: register -> token -> users/me -> forward auth -> SIGTERM exits 0.
# ---------------------------------------------------------------------------------
PASSED=0 FAILED=0
check() { # check NAME CONDITION-RESULT(0/1) DETAIL
  if [ "$2" -eq 0 ]; then
    PASSED=$((PASSED + 1)); echo "  ok   $1"
  else
    FAILED=$((FAILED + 1)); echo "  FAIL $1: $3"
  fi
}

smoke() { # smoke LABEL RUNNER-AND-BINARY...
  local label=$1; shift
  local tmp pid port addr code body user=smoke_user pass='Smoke-Pass123!' token rc
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-smoke.XXXXXX")
  echo "-- smoke test: $label"
  "$@" serve --data-dir "$tmp" --listen 127.0.0.1:0 --ready-file "$tmp/ready" \
    --scrypt-log-n 10 --scrypt-p 1 --login-rate-limit off --register-rate-limit off \
    >"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do # up to 60 s (qemu's first start is slow on some hosts)
    [ -s "$tmp/ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ ! -s "$tmp/ready" ]; then
    check "$label: server ready" 1 "no ready file; server log:"
    sed 's/^/    /' "$tmp/server.log" | tail -20
    kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"; return 0
  fi
  addr=$(cat "$tmp/ready"); port=${addr##*:}
  check "$label: server ready on $addr" 0 ""
  # Only 127.0.0.1: localhost is pinned there so the certificate's name matches.
  local curl=(curl -sS --max-time 60 --cacert "$tmp/tls-cert.pem"
    --resolve "localhost:$port:127.0.0.1" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}')
  local api=https://localhost:$port/api/v1

  code=$("${curl[@]}" -X POST "$api/users/register" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"email\":\"smoke@example.com\",\"password\":\"$pass\",\"full_name\":\"Smoke Test\"}") || code=000
  check "$label: register -> 201" "$([ "$code" = 201 ]; echo $?)" "got $code: $(head -c 300 "$tmp/body")"

  code=$("${curl[@]}" -X POST "$api/auth/token" --data-urlencode "username=$user" \
    --data-urlencode "password=$pass") || code=000
  token=$(sed -nE 's/.*"access_token":"([^"]+)".*/\1/p' "$tmp/body")
  check "$label: login (token form) -> 200 with access_token" \
    "$([ "$code" = 200 ] && [ -n "$token" ]; echo $?)" "got $code: $(head -c 300 "$tmp/body")"

  code=$("${curl[@]}" "$api/users/me" -H "Authorization: Bearer $token") || code=000
  body=$(cat "$tmp/body")
  check "$label: users/me -> 200 as $user" \
    "$([ "$code" = 200 ] && [[ "$body" == *"\"username\":\"$user\""* ]]; echo $?)" "got $code: ${body:0:300}"

  code=$("${curl[@]}" "$api/auth/verify" -H "Authorization: Bearer $token") || code=000
  check "$label: forward auth verify -> 200 with X-Auth-User: $user" \
    "$([ "$code" = 200 ] && tr -d '\r' <"$tmp/headers" | grep -qix "x-auth-user: $user"; echo $?)" \
    "got $code: $(tr -d '\r' <"$tmp/headers" | tr '\n' ' ' | head -c 300)"

  kill -TERM "$pid"
  for _ in $(seq 1 200); do # up to 40 s (--shutdown-timeout defaults to 20)
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    check "$label: SIGTERM -> exit 0" 1 "still running 40 s after SIGTERM"
  else
    rc=0; wait "$pid" || rc=$?
    check "$label: SIGTERM -> exit 0" "$([ "$rc" -eq 0 ]; echo $?)" "exit code $rc"
  fi
  if [ "$FAILED" -gt 0 ]; then
    echo "   server log:"; sed 's/^/    /' "$tmp/server.log" | tail -30
  fi
  rm -rf "$tmp"
}

# Cross build + qemu smoke test for one target.
cross() { # cross TRIPLE GCC-PREFIX APT-GCC APT-LIBC QEMU SYSROOT
  local triple=$1 gcc=$2 apt_gcc=$3 apt_libc=$4 qemu=$5 sysroot=$6 var bin
  step "cross build $triple"
  rust_target "$triple"
  command -v "$qemu" >/dev/null || apt_install qemu-user
  if ! command -v "$gcc" >/dev/null || [ ! -d "$sysroot/lib" ]; then
    apt_install "$apt_gcc" "$apt_libc"
  fi
  var=CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER
  export "$var=$gcc"
  time timeout 900 cargo build --locked --release --target "$triple"
  bin=$TARGET_DIR/$triple/release/gatehouse
  file "$bin" 2>/dev/null || true
  echo "size: $(stat -c %s "$bin") bytes ($triple, release: fat LTO, stripped)"
  smoke "$triple under $qemu" "$qemu" -L "$sysroot" "$bin"
}

# Generated package files: ./target/assets/usr/share/... (see [package.metadata.deb]).
# Always under the repository's ./target, whatever CARGO_TARGET_DIR says: cargo-deb
# maps only the built binary's target/ path to CARGO_TARGET_DIR, not other assets.
stage_assets() { # stage_assets BINARY
  local bin=$1 assets=$ROOT/target/assets help
  rm -rf "$assets"
  mkdir -p "$assets/usr/share/doc/gatehouse/examples"
  # A pristine copy next to the conffile, for diffing a locally edited one.
  cp packaging/gatehouse.env "$assets/usr/share/doc/gatehouse/examples/gatehouse.env"
  help=$("$bin" --help)
  if grep -qE '^  man( |$)' <<<"$help"; then
    mkdir -p "$assets/usr/share/man/man1"
    "$bin" man >"$assets/usr/share/man/man1/gatehouse.1"   # cargo-deb gzips it
    echo "staged man page"
  else
    echo "skipped man page: this gatehouse has no 'man' subcommand yet"
  fi
  if grep -qE '^  completions( |$)' <<<"$help"; then
    mkdir -p "$assets/usr/share/bash-completion/completions" \
      "$assets/usr/share/zsh/vendor-completions" "$assets/usr/share/fish/vendor_completions.d"
    "$bin" completions bash >"$assets/usr/share/bash-completion/completions/gatehouse"
    "$bin" completions zsh >"$assets/usr/share/zsh/vendor-completions/_gatehouse"
    "$bin" completions fish >"$assets/usr/share/fish/vendor_completions.d/gatehouse.fish"
    echo "staged bash, zsh and fish completions"
  else
    echo "skipped completions: this gatehouse has no 'completions' subcommand yet"
  fi
}

STATUS=0
fail() { echo "FAIL: $*" >&2; STATUS=1; }
BUDGET=10485760 # 10 MiB: the stripped binary, with every feature someone may build
within_budget() { # within_budget BINARY
  local n
  n=$(stat -c %s "$1")
  [ "$n" -le "$BUDGET" ] || fail "$1 is $n bytes, over the 10 MiB budget ($BUDGET)"
}

# ---------------------------------------------------------------------------------
# (a) systemd unit: syntax and sandbox exposure score
# ---------------------------------------------------------------------------------
if [ "$SECURITY" -eq 1 ]; then
  step "systemd-analyze security --offline=true $UNIT (must be <= $MAX_SCORE)"
  command -v systemd-analyze >/dev/null || apt_install systemd
  out=$(timeout 60 systemd-analyze security --offline=true "$UNIT" 2>&1) || true
  echo "$out" | grep -E '^(✗|→)|Overall' || true
  # Unknown or misspelt directives only warn: treat any warning about the unit as an error.
  if warnings=$(grep -E "gatehouse\.service:[0-9]+:|Unknown (key|section)|[Ii]nvalid|[Ff]ailed to parse" <<<"$out"); then
    fail "systemd reports problems in $UNIT:"; echo "$warnings" >&2
  fi
  score=$(sed -nE 's/.*Overall exposure level for [^:]+: ([0-9]+(\.[0-9]+)?).*/\1/p' <<<"$out" | tail -1)
  if [ -z "$score" ]; then
    fail "could not read the exposure score from systemd-analyze"; echo "$out" >&2
  elif awk -v s="$score" -v m="$MAX_SCORE" 'BEGIN { exit !(s <= m) }'; then
    echo "exposure score $score <= $MAX_SCORE: ok"
  else
    fail "exposure score $score > $MAX_SCORE"
  fi
fi

# ---------------------------------------------------------------------------------
# (b) Raspberry Pi builds under qemu-user
# ---------------------------------------------------------------------------------
if [ "$CROSS" -eq 1 ]; then
  cross aarch64-unknown-linux-gnu aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu \
    libc6-dev-arm64-cross qemu-aarch64 /usr/aarch64-linux-gnu
  if [ "$ARMV7" -eq 1 ]; then
    cross armv7-unknown-linux-gnueabihf arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf \
      libc6-dev-armhf-cross qemu-arm /usr/arm-linux-gnueabihf
  fi
fi

# ---------------------------------------------------------------------------------
# (c) Debian package for the host
# ---------------------------------------------------------------------------------
if [ "$DEB" -eq 1 ]; then
  step "cargo build --release (host)"
  time timeout 900 cargo build --locked --release
  HOST_BIN=$TARGET_DIR/release/gatehouse
  echo "size: $(stat -c %s "$HOST_BIN") bytes ($(uname -m), release: fat LTO, stripped)"
  within_budget "$HOST_BIN"
  smoke "host $(uname -m)" "$HOST_BIN"

  step "cargo deb"
  if ! command -v cargo-deb >/dev/null; then
    timeout 900 cargo install cargo-deb --locked --version 3.8.0
  fi
  command -v dpkg-deb >/dev/null || apt_install dpkg
  # $auto in depends runs dpkg-shlibdeps (dpkg-dev) to compute the libc dependency.
  command -v dpkg-shlibdeps >/dev/null || apt_install dpkg-dev
  stage_assets "$HOST_BIN"
  rm -f "$TARGET_DIR"/debian/gatehouse_*.deb
  timeout 300 cargo deb --no-build --locked
  debs=("$TARGET_DIR"/debian/gatehouse_*.deb)
  DEB_FILE=${debs[0]}
  echo "$DEB_FILE ($(stat -c %s "$DEB_FILE") bytes)"
  dpkg-deb -I "$DEB_FILE" | sed -n '/Package:/,$p'
  listing=$(dpkg-deb -c "$DEB_FILE")
  echo "$listing" | awk '{ print $1, $6 }'
  for path in ./usr/bin/gatehouse ./etc/gatehouse/gatehouse.env \
    ./usr/share/doc/gatehouse/README.md; do
    awk '{ print $6 }' <<<"$listing" | grep -qx "$path" || fail "$path missing from the package"
  done
  units=$(awk '{ print $6 }' <<<"$listing" | grep -cE '^\./(usr/)?lib/systemd/system/gatehouse\.service$' || true)
  [ "$units" -eq 1 ] || fail "expected gatehouse.service once in the package, found it $units times"
  grep -qE '^-rwxr-xr-x .* \./usr/bin/gatehouse$' <<<"$listing" || fail "usr/bin/gatehouse is not 0755"
  ctl=$(mktemp -d)
  dpkg-deb -e "$DEB_FILE" "$ctl"
  grep -qx /etc/gatehouse/gatehouse.env "$ctl/conffiles" || fail "gatehouse.env is not a conffile"
  grep -q 'adduser --system' "$ctl/postinst" || fail "postinst does not create the user"
  grep -q 'deb-systemd-helper' "$ctl/postinst" || fail "postinst does not enable the unit"
  grep -q 'deluser' "$ctl/postrm" || fail "postrm does not remove the user"
  if command -v shellcheck >/dev/null; then
    shellcheck -s sh "$ctl/postinst" "$ctl/postrm" "$ctl/prerm" 2>/dev/null || fail "shellcheck: maintainer scripts"
  fi
  rm -rf "$ctl"
fi

# ---------------------------------------------------------------------------------
# (d) The PostgreSQL build (feature postgres, profile small) also fits the budget
# ---------------------------------------------------------------------------------
if [ "$PG" -eq 1 ]; then
  step "cargo build --profile small --features postgres (host)"
  time timeout 900 cargo build --locked --profile small --features postgres
  PG_BIN=$TARGET_DIR/small/gatehouse
  echo "size: $(stat -c %s "$PG_BIN") bytes ($(uname -m), profile small with postgres, stripped)"
  within_budget "$PG_BIN"
  smoke "host $(uname -m), profile small with postgres" "$PG_BIN"
fi

echo
echo "== smoke tests: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] || STATUS=1
if [ "$STATUS" -ne 0 ]; then echo "packaging CI: FAILED" >&2; else echo "packaging CI: ok"; fi
exit "$STATUS"
