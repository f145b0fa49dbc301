#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for the tests.
#
#   scripts/lib/postgres.sh start DIR   install PostgreSQL if needed, initdb DIR/data, start it on
#                                       a free port, create role tricircle/tricircle and database
#                                       tricircle_test; print the export line (also in DIR/env)
#   scripts/lib/postgres.sh stop DIR    stop the postmaster whose pid is in DIR/pids
#
# or, sourced:  . scripts/lib/postgres.sh; tc_pg_start DIR; ...; tc_pg_stop DIR
# (tc_pg_start exports TRICIRCLE_TEST_POSTGRES_URL into the calling shell).
#
# stdout of `start` is only `export TRICIRCLE_TEST_POSTGRES_URL=postgresql://...`; progress goes
# to stderr. As root the server runs as the `postgres` OS user (PostgreSQL refuses root), so DIR
# is chowned to it and must be reachable by it. Never uses systemctl/service: the server is
# started with pg_ctl on its own data directory and stopped by its pid / that data directory.

_tc_pg_log() { printf '[postgres.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

_tc_pg_now() { date +%s.%N; }
_tc_pg_since() { awk -v a="$1" -v b="$(_tc_pg_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Alive unless gone or a zombie (init here does not always reap orphans).
_tc_pg_pid_alive() {
  local pid=$1 state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

_tc_pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The newest /usr/lib/postgresql/N/bin that has a postgres binary.
_tc_pg_bindir() {
  local d best="" bestv=-1 v
  for d in /usr/lib/postgresql/*/bin; do
    if ! [ -x "$d/postgres" ] || ! [ -x "$d/initdb" ] || ! [ -x "$d/pg_ctl" ]; then continue; fi
    v=$(basename "$(dirname "$d")")
    [[ "$v" =~ ^[0-9]+$ ]] || v=0
    if [ "$v" -gt "$bestv" ]; then best=$d; bestv=$v; fi
  done
  [ -n "$best" ] && echo "$best"
}

tc_pg_install() {
  if _tc_pg_bindir >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    _tc_pg_log "ERROR: PostgreSQL is not installed and we are not root; install the 'postgresql' package"
    return 1
  fi
  local t0
  t0=$(_tc_pg_now)
  _tc_pg_log "installing PostgreSQL (apt-get install postgresql)"
  apt-get update -q >&2 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2 || return 1
  _tc_pg_bindir >/dev/null || { _tc_pg_log "ERROR: no /usr/lib/postgresql/*/bin/postgres after install"; return 1; }
  _tc_pg_log "installed in $(_tc_pg_since "$t0") s"
}

# Run a command as the cluster's OS user: `postgres` when we are root, else ourselves.
_tc_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

tc_pg_start() {
  local dir=${1:?usage: tc_pg_start DIR}
  local bin t0 port attempt pid url psql_su i
  tc_pg_install || return 1
  bin=$(_tc_pg_bindir)
  t0=$(_tc_pg_now)
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd) || return 1
  if [ -f "$dir/pids" ] && _tc_pg_pid_alive "$(head -n1 "$dir/pids")"; then
    _tc_pg_log "ERROR: a PostgreSQL from $dir is already running (pid $(head -n1 "$dir/pids"))"
    return 1
  fi
  rm -rf "$dir/data" "$dir/sock" "$dir/pids" "$dir/env" "$dir/postgres.log"
  mkdir -p "$dir/data" "$dir/sock" || return 1
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { _tc_pg_log "ERROR: no 'postgres' OS user"; return 1; }
    chown -R postgres: "$dir" || return 1
    if ! runuser -u postgres -- test -w "$dir/data"; then
      _tc_pg_log "ERROR: user postgres cannot reach $dir (a parent directory is not searchable: chmod o+x it)"
      return 1
    fi
  fi
  chmod 700 "$dir/data"

  _tc_pg_log "initdb $dir/data ($bin)"
  _tc_pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; _tc_pg_log "ERROR: initdb failed"; return 1; }
  echo "include_if_exists = 'tricircle_test.conf'" >>"$dir/data/postgresql.conf"

  for attempt in 1 2 3; do
    port=$(_tc_pg_free_port)
    # A test cluster: no durability needed, many short connections from parallel tests.
    cat >"$dir/data/tricircle_test.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/data/tricircle_test.conf"; fi
    _tc_pg_log "starting postgres on 127.0.0.1:$port"
    if _tc_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -s start >&2; then
      break
    fi
    tail -n 20 "$dir/postgres.log" >&2 || true
    if [ "$attempt" = 3 ]; then _tc_pg_log "ERROR: PostgreSQL did not start"; return 1; fi
    _tc_pg_log "start failed (attempt $attempt), retrying on another port"
  done
  pid=$(head -n1 "$dir/data/postmaster.pid")
  echo "$pid" >"$dir/pids"

  psql_su=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d postgres)
  if ! "${psql_su[@]}" >&2 <<'EOF'; then
CREATE ROLE tricircle LOGIN PASSWORD 'tricircle' CREATEDB;
CREATE DATABASE tricircle_test OWNER tricircle;
EOF
    _tc_pg_log "ERROR: creating role/database failed"
    tc_pg_stop "$dir"
    return 1
  fi
  url="postgresql://tricircle:tricircle@127.0.0.1:$port/tricircle_test"
  # The same path the tests take: TCP + password.
  for ((i = 0; i < 20; i++)); do
    "$bin/psql" -X -qAt "$url" -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.25
  done
  if ! "$bin/psql" -X -qAt "$url" -c 'SELECT 1' >/dev/null; then
    _tc_pg_log "ERROR: cannot connect to $url"
    tc_pg_stop "$dir"
    return 1
  fi
  echo "export TRICIRCLE_TEST_POSTGRES_URL=$url" >"$dir/env"
  export TRICIRCLE_TEST_POSTGRES_URL=$url
  _tc_pg_log "ready in $(_tc_pg_since "$t0") s: pid $pid, $url"
  cat "$dir/env"
}

tc_pg_stop() {
  local dir=${1:?usage: tc_pg_stop DIR}
  local bin pid i
  if [ -f "$dir/pids" ]; then
    pid=$(head -n1 "$dir/pids")
  elif [ -f "$dir/data/postmaster.pid" ]; then
    # started but interrupted before DIR/pids was written
    pid=$(head -n1 "$dir/data/postmaster.pid")
  else
    _tc_pg_log "no $dir/pids: nothing to stop"
    return 0
  fi
  if ! _tc_pg_pid_alive "$pid"; then rm -f "$dir/pids"; return 0; fi
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres; then
    _tc_pg_log "pid $pid is not a postgres any more; leaving it alone"
    rm -f "$dir/pids"
    return 0
  fi
  _tc_pg_log "stopping postgres (pid $pid)"
  bin=$(_tc_pg_bindir || true)
  # pg_ctl stop signals the postmaster recorded in this data directory's postmaster.pid,
  # i.e. the same pid as $dir/pids.
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ] &&
    [ "$(head -n1 "$dir/data/postmaster.pid")" = "$pid" ]; then
    _tc_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 -s stop >&2 || true
  else
    kill -INT "$pid" 2>/dev/null || true # fast shutdown
  fi
  for ((i = 0; i < 100; i++)); do _tc_pg_pid_alive "$pid" || break; sleep 0.1; done
  if _tc_pg_pid_alive "$pid"; then
    _tc_pg_log "postgres pid $pid still running; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pids"
}

# Run as a script (not sourced): dispatch.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      [ $# -eq 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
      # Interrupted half way: stop the server if it was started already.
      _tc_pg_dir=$2
      trap 'tc_pg_stop "$_tc_pg_dir" || true; exit 130' INT
      trap 'tc_pg_stop "$_tc_pg_dir" || true; exit 143' TERM
      tc_pg_start "$_tc_pg_dir"
      ;;
    stop) [ $# -eq 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }; tc_pg_stop "$2" ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
  esac
fi
