#!/usr/bin/env bash
# pg.sh start DIR | stop DIR | url DIR - a throwaway PostgreSQL cluster for
# tests and benchmarks.
#
#   start DIR  initdb in DIR/data (DIR is created if missing), start the
#              server on a free loopback port with its unix socket in DIR,
#              fsync on, and print its URL:
#                postgres://USER@127.0.0.1:PORT/postgres
#   url DIR    print that URL again
#   stop DIR   stop the server and remove DIR entirely
#
# PostgreSQL refuses to run as root, so when this script runs as root (CI's
# fresh Debian machine) the cluster belongs to the `postgres` system user
# the Debian package creates: DIR is handed to it and every server command
# runs through `runuser -u postgres --`.  Authentication is `trust` on
# loopback and the socket only: the cluster lives as long as one test run.
set -euo pipefail

bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

usage() { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

if [ "$(id -u)" -eq 0 ]; then
  user=postgres
  as_user() { runuser -u postgres -- "$@"; }
else
  user=$(id -un)
  as_user() { "$@"; }
fi

print_url() {
  [ -f "$dir/port" ] || { echo "pg.sh: no cluster in $dir" >&2; exit 1; }
  echo "postgres://$user@127.0.0.1:$(cat "$dir/port")/postgres"
}

start() {
  [ -x "$bindir/initdb" ] || {
    echo "pg.sh: $bindir/initdb not found (apt-get install postgresql-15)" >&2
    exit 1
  }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$user" = postgres ] && chown postgres: "$dir"
  chmod 700 "$dir"
  as_user test -w "$dir" || {
    echo "pg.sh: $user cannot write to $dir (are its parent folders searchable?)" >&2
    exit 1
  }
  as_user "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  # A random port in 20000-59999; a port taken by someone else makes the
  # postmaster exit at once, and pg_ctl -w reports it: try another one.
  for _ in $(seq 1 20); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
         -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on \
             -c max_connections=200 -c shared_buffers=64MB" \
         start >/dev/null 2>&1; then
      echo "$port" >"$dir/port"
      print_url
      return 0
    fi
  done
  echo "pg.sh: could not start PostgreSQL (see $dir/server.log)" >&2
  tail -n 20 "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
      echo "pg.sh: pg_ctl stop failed" >&2
  fi
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) print_url ;;
  *) usage ;;
esac
