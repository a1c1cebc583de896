#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: a temporary directory, an unprivileged
# user, 127.0.0.1 on a free port, nothing outside the directory touched (its Unix
# socket is in the directory too). Uses Debian's server binaries
# (/usr/lib/postgresql/*/bin, or GATEHOUSE_TEST_PG_BIN).
#
#   eval "$(tests/pg/cluster.sh start [--ssl CERT KEY])"  # exports GATEHOUSE_TEST_PG(_DIR)
#   tests/pg/cluster.sh stop-server DIR    # stop PostgreSQL, keep the data
#   tests/pg/cluster.sh start-server DIR   # start it again on the same port
#   tests/pg/cluster.sh destroy DIR        # stop and delete everything
#
# Run as root, the server runs as GATEHOUSE_TEST_PG_USER (default: postgres, else
# nobody): PostgreSQL refuses to run as root.
set -euo pipefail

PGBIN=${GATEHOUSE_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "cluster.sh: no PostgreSQL server binaries (install Debian's postgresql)" >&2; exit 2; }

runas=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=${GATEHOUSE_TEST_PG_USER:-}
  if [ -z "$owner" ]; then
    if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
  fi
  runas=(runuser -u "$owner" --)
fi

server() { # DIR start|stop
  local dir=$1 action=$2
  if [ "$action" = start ]; then
    "${runas[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" start >/dev/null
  else
    "${runas[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null
  fi
}

case "${1:-}" in
  start)
    dir=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
    chmod 0755 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$password" >"$dir/pwfile"
    options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400 -c shared_buffers=32MB"
    sslmode=disable
    if [ "${2:-}" = --ssl ]; then
      cp "$3" "$dir/server.pem"
      cp "$4" "$dir/server.key"
      chmod 0600 "$dir/server.key"
      options="$options -c ssl=on -c ssl_cert_file=$dir/server.pem -c ssl_key_file=$dir/server.key"
      sslmode=require
    fi
    printf '%s\n' "$options" >"$dir/options"
    printf '%s\n' "$port" >"$dir/port"
    chmod 0600 "$dir/pwfile"
    chown -R "$owner" "$dir"
    "${runas[@]}" "$PGBIN/initdb" -D "$dir/data" -U gatehouse --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    server "$dir" start || { cat "$dir/server.log" >&2; exit 1; }
    echo "export GATEHOUSE_TEST_PG='postgres://gatehouse:$password@127.0.0.1:$port/postgres?sslmode=$sslmode'"
    echo "export GATEHOUSE_TEST_PG_DIR='$dir'"
    ;;
  stop-server) server "${2:?DIR}" stop ;;
  start-server) server "${2:?DIR}" start ;;
  destroy)
    dir=${2:?DIR}
    case "$dir" in /tmp/gatehouse-pg.*) ;; *) echo "cluster.sh: not a test cluster: $dir" >&2; exit 2 ;; esac
    "${runas[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start [--ssl CERT KEY] | stop-server DIR | start-server DIR | destroy DIR" >&2; exit 2 ;;
esac
