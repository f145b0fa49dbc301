#!/usr/bin/env bash
# A real Keystone (from PyPI) on 127.0.0.1 for the e2e tests and the Rust integration tests.
#
#   tests/e2e/keystone.sh venv        create the venv if missing (reused when up to date)
#   tests/e2e/keystone.sh up DIR      start Keystone with its state in DIR, seed the test
#                                     projects/users/regions/endpoints, write DIR/env and print it
#   tests/e2e/keystone.sh down DIR    stop the Keystone whose pid is in DIR/pids
#   tests/e2e/keystone.sh freeze      rewrite tests/e2e/constraints.txt from a working venv
#
# Environment:
#   TRICIRCLE_E2E_VENV    venv path (default $HOME/.cache/tricircle/e2e-venv)
#   TRICIRCLE_E2E_PYTHON  python used to create the venv (default python3.11, else python3)
#   OS_PASSWORD           password of the bootstrap admin (default "secret")
#
# stdout of `up` is only the `export ...` lines (so `eval "$(keystone.sh up DIR)"` works);
# progress goes to stderr. Keystone runs under gunicorn on a free port with sqlite, fernet
# tokens and password_hash_rounds = 4. Nothing is bound outside 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
VENV=${TRICIRCLE_E2E_VENV:-$HOME/.cache/tricircle/e2e-venv}
ADMIN_PASSWORD=${OS_PASSWORD:-secret}
REQ=$HERE/requirements.txt
CONSTRAINTS=$HERE/constraints.txt
STAMP_NAME=.tricircle-e2e-stamp
NEEDED_BINS=(python pip keystone-manage gunicorn openstack pytest)

log() { printf '[keystone.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# A pid counts as alive unless it is gone or a zombie (init here does not always reap orphans).
pid_alive() {
  local pid=$1 state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pick_python() {
  if [ -n "${TRICIRCLE_E2E_PYTHON:-}" ]; then echo "$TRICIRCLE_E2E_PYTHON"
  elif command -v python3.11 >/dev/null 2>&1; then echo python3.11
  else echo python3; fi
}

venv_stamp() {
  { cat "$REQ"; [ -f "$CONSTRAINTS" ] && cat "$CONSTRAINTS"; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } |
    sha256sum | cut -d' ' -f1
}

venv_ok() {
  local b
  for b in "${NEEDED_BINS[@]}"; do [ -x "$VENV/bin/$b" ] || return 1; done
  "$VENV/bin/python" -c 'pass' 2>/dev/null || return 1
  [ -f "$VENV/$STAMP_NAME" ] && [ "$(cat "$VENV/$STAMP_NAME")" = "$(venv_stamp)" ]
}

ensure_venv() {
  mkdir -p "$(dirname "$VENV")"
  # Serialise concurrent installs into the same venv.
  exec 9>"$VENV.lock"
  flock 9
  if venv_ok; then
    log "venv $VENV is up to date (reused)"
    exec 9>&-
    return 0
  fi
  local t0 py
  t0=$(now)
  py=$(pick_python)
  if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'pass' 2>/dev/null; then
    log "creating venv $VENV with $py"
    "$py" -m venv --clear "$VENV" >&2 || die "$py -m venv failed"
  fi
  local cargs=()
  [ -f "$CONSTRAINTS" ] && cargs=(-c "$CONSTRAINTS")
  log "pip install -r $(basename "$REQ") ${cargs[*]:+(with constraints.txt)} into $VENV"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q -r "$REQ" "${cargs[@]}" >&2 ||
    die "pip install into $VENV failed"
  local b
  for b in "${NEEDED_BINS[@]}"; do [ -x "$VENV/bin/$b" ] || die "venv has no $b after install"; done
  venv_stamp >"$VENV/$STAMP_NAME"
  log "venv ready in $(since "$t0") s"
  exec 9>&-
}

write_conf() {
  local dir=$1
  cat >"$dir/keystone.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = keystone.log
[database]
connection = sqlite:///$dir/keystone.db
[identity]
# bcrypt at its minimum cost: password auth in ~10 ms instead of ~0.4 s
password_hash_rounds = 4
[token]
provider = fernet
expiration = 7200
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
EOF
  # keystone parses sys.argv with oslo.config; under gunicorn that would be gunicorn's own
  # arguments and the worker would exit 2, so drop them before importing the app.
  cat >"$dir/ks_wsgi.py" <<'EOF'
import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402,F401
EOF
}

# Start gunicorn once on $port. Returns 0 when /v3 answers, 2 when the server died early
# (for instance because the port was taken meanwhile), 1 on timeout.
start_gunicorn() {
  local dir=$1 port=$2 url=$3 pid code i
  OS_KEYSTONE_CONFIG_DIR=$dir OS_KEYSTONE_CONFIG_FILES=keystone.conf \
    setsid "$VENV/bin/gunicorn" --no-control-socket --chdir "$dir" -b "127.0.0.1:$port" \
    -w 1 --threads 8 --timeout 120 --graceful-timeout 5 --error-logfile - \
    ks_wsgi:application >"$dir/log/gunicorn.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/pids"
  for ((i = 0; i < 240; i++)); do
    if ! pid_alive "$pid"; then return 2; fi
    code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.25
  done
  return 1
}

cmd_up() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pids" ]; then
    local p
    while read -r p; do
      pid_alive "$p" && die "a Keystone from $dir is already running (pid $p); run: $0 down $dir"
    done <"$dir/pids"
  fi
  ensure_venv
  local t0 port url km attempt rc
  t0=$(now)
  # Interrupted half way: stop whatever was started already.
  _ks_dir=$dir
  trap 'cmd_down "$_ks_dir" || true; exit 130' INT
  trap 'cmd_down "$_ks_dir" || true; exit 143' TERM
  for attempt in 1 2 3; do
    rm -rf "$dir/fernet-keys" "$dir/credential-keys" "$dir/keystone.db" "$dir/log"
    mkdir -p "$dir/fernet-keys" "$dir/credential-keys" "$dir/log"
    port=$(free_port)
    url=http://127.0.0.1:$port/v3
    write_conf "$dir"
    km=("$VENV/bin/keystone-manage" --config-file "$dir/keystone.conf")
    log "keystone-manage db_sync / fernet_setup / credential_setup / bootstrap ($url)"
    # Each keystone-manage call is ~1.8 s of imports; the first three are independent.
    local who=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)") p1 p2 p3
    "${km[@]}" db_sync >"$dir/log/db_sync.out" 2>&1 &
    p1=$!
    "${km[@]}" fernet_setup "${who[@]}" >"$dir/log/fernet_setup.out" 2>&1 &
    p2=$!
    "${km[@]}" credential_setup "${who[@]}" >"$dir/log/credential_setup.out" 2>&1 &
    p3=$!
    wait "$p1" || die "keystone-manage db_sync failed, see $dir/log/db_sync.out"
    wait "$p2" || die "keystone-manage fernet_setup failed, see $dir/log/fernet_setup.out"
    wait "$p3" || die "keystone-manage credential_setup failed, see $dir/log/credential_setup.out"
    "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
      --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
      --bootstrap-region-id RegionOne --bootstrap-admin-url "$url" \
      --bootstrap-internal-url "$url" --bootstrap-public-url "$url" >"$dir/log/bootstrap.out" 2>&1 ||
      die "keystone-manage bootstrap failed, see $dir/log/bootstrap.out"
    log "starting gunicorn on 127.0.0.1:$port"
    rc=0
    start_gunicorn "$dir" "$port" "$url" || rc=$?
    [ "$rc" = 0 ] && break
    tail -n 30 "$dir/log/gunicorn.out" >&2 || true
    if [ "$rc" = 2 ] && [ "$attempt" -lt 3 ]; then
      log "gunicorn exited early (attempt $attempt), retrying on another port"
      continue
    fi
    cmd_down "$dir" || true
    die "Keystone did not answer on $url (see $dir/log)"
  done
  log "Keystone answers on $url after $(since "$t0") s"

  local t1
  t1=$(now)
  if ! "$VENV/bin/python" "$HERE/keystone_seed.py" --url "$url" --admin-password "$ADMIN_PASSWORD" >&2; then
    cmd_down "$dir" || true
    die "seeding Keystone failed"
  fi
  log "seeded in $(since "$t1") s"

  cat >"$dir/env" <<EOF
export TRICIRCLE_TEST_KEYSTONE_URL=$url
export TRICIRCLE_TEST_KEYSTONE_ADMIN_USER=admin
export TRICIRCLE_TEST_KEYSTONE_ADMIN_PASSWORD=$ADMIN_PASSWORD
export TRICIRCLE_TEST_KEYSTONE_ADMIN_PROJECT=admin
export TRICIRCLE_TEST_KEYSTONE_SERVICE_USER=tricircle
export TRICIRCLE_TEST_KEYSTONE_SERVICE_PASSWORD=tricircle-secret
export TRICIRCLE_TEST_KEYSTONE_SERVICE_PROJECT=service
export TRICIRCLE_TEST_KEYSTONE_DEMO_USER=demo
export TRICIRCLE_TEST_KEYSTONE_DEMO_PASSWORD=demo-secret
export TRICIRCLE_TEST_KEYSTONE_DEMO_PROJECT=demo
export TRICIRCLE_E2E_VENV=$VENV
EOF
  # For humans: `source DIR/openrc` then `openstack token issue`.
  cat >"$dir/openrc" <<EOF
export OS_AUTH_URL=$url
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=RegionOne
export PATH=$VENV/bin:\$PATH
EOF
  trap - INT TERM
  log "ready in $(since "$t0") s (pid $(cat "$dir/pids")); env in $dir/env"
  cat "$dir/env"
}

cmd_down() {
  local dir=$1 pid i
  [ -f "$dir/pids" ] || { log "no $dir/pids: nothing to stop"; return 0; }
  while read -r pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if ! pid_alive "$pid"; then continue; fi
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q gunicorn; then
      log "pid $pid is not our gunicorn any more; leaving it alone"
      continue
    fi
    log "stopping Keystone (gunicorn pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
      log "still running after 10 s; SIGKILL to its process group $pid"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$dir/pids"
  # gunicorn was started with setsid: anything left in its process group (a worker whose
  # master died) is ours too.
  while read -r pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if pgrep -g "$pid" >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  done <"$dir/pids"
  rm -f "$dir/pids"
}

cmd_freeze() {
  venv_ok || ensure_venv
  {
    echo "# pip freeze of a working e2e venv ($("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')),"
    echo "# written by 'tests/e2e/keystone.sh freeze'. Used as pip -c constraints."
    "$VENV/bin/pip" freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='
  } >"$CONSTRAINTS.tmp"
  mv "$CONSTRAINTS.tmp" "$CONSTRAINTS"
  venv_stamp >"$VENV/$STAMP_NAME"
  log "wrote $CONSTRAINTS ($(grep -c '==' "$CONSTRAINTS") pins)"
}

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in
  venv) ensure_venv ;;
  up) [ $# -eq 2 ] || usage; cmd_up "$2" ;;
  down) [ $# -eq 2 ] || usage; cmd_down "$2" ;;
  freeze) cmd_freeze ;;
  *) usage ;;
esac
