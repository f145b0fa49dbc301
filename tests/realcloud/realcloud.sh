#!/usr/bin/env bash
# A real two-pod OpenStack on 127.0.0.1, from PyPI and Debian packages, for the gateway's
# real-cloud tests.
#
#   tests/realcloud/realcloud.sh install     apt packages + the venv (what `up` does first)
#   tests/realcloud/realcloud.sh up DIR      start everything with its state in DIR (fresh each
#                                            time), write DIR/env and print it on stdout
#   tests/realcloud/realcloud.sh down DIR    stop everything whose pid is in DIR/pids
#   tests/realcloud/realcloud.sh status DIR  each recorded service: alive or not, and its RSS
#   tests/realcloud/realcloud.sh freeze      rewrite tests/realcloud/constraints.txt from the venv
#
# What `up` runs (all bound to 127.0.0.1, on free ports, logs in DIR/log/NAME.log):
#   shared: MariaDB, RabbitMQ (+ its own epmd; one vhost per pod), Keystone (region RegionOne),
#           one Glance (file store) registered as `image` in RegionOne, Pod1 and Pod2
#   Pod1, Pod2 (one Keystone region each, with an identity endpoint too):
#           nova-api, nova-conductor, nova-scheduler, nova-compute (fake.FakeDriver),
#           placement, neutron-server (ML2 flat/vlan/vxlan, no agents, ports bound by
#           bind_driver/), cinder-api, cinder-scheduler, cinder-volume (fake driver)
#           AZ of Pod1's compute and volume services: az1; Pod2's: az2
#   Keystone users: admin/$TRICIRCLE_REALCLOUD_ADMIN_PASSWORD (default "secret") on project admin,
#           tricircle/tricircle-secret (admin on project service), demo/demo-secret (member
#           on project demo); public image `cirros` in Glance.
#
# Environment:
#   TRICIRCLE_REALCLOUD_VENV      venv path (default $HOME/.cache/tricircle/realcloud-venv)
#   TRICIRCLE_REALCLOUD_PYTHON    python that creates the venv (default python3.11, else python3)
#   TRICIRCLE_REALCLOUD_ADMIN_PASSWORD   Keystone admin password (default "secret")
#   TRICIRCLE_REALCLOUD_TIMEOUT   deadline of `up` in seconds, install excluded (default 600)
#   TRICIRCLE_REALCLOUD_SCHEMA_CACHE   0: run every migration every time (default 1: load the
#                                 dumps saved by the first run for this venv; see schema_cache_init)
#   TRICIRCLE_REALCLOUD_SYNC_JOBS schema jobs run side by side (default 3)
#
# If `up` fails, it stops what it started, prints the failing service's log tail and exits 1.
# `down` sends SIGTERM to each recorded process group, then SIGKILL after 20 s.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
VENV=${TRICIRCLE_REALCLOUD_VENV:-$HOME/.cache/tricircle/realcloud-venv}
ADMIN_PASSWORD=${TRICIRCLE_REALCLOUD_ADMIN_PASSWORD:-secret}
UP_TIMEOUT=${TRICIRCLE_REALCLOUD_TIMEOUT:-600}
REQ=$HERE/requirements.txt
CONSTRAINTS=$HERE/constraints.txt
STAMP_NAME=.tricircle-realcloud-stamp
NEEDED_BINS=(python pip keystone-manage gunicorn openstack nova-manage nova-conductor nova-scheduler
  nova-compute placement-manage neutron-db-manage glance-manage cinder-manage cinder-scheduler cinder-volume)
APT_PACKAGES=(mariadb-server rabbitmq-server)
PODS=(Pod1 Pod2)
TOP_REGION=RegionOne
# internal secrets of the bed (not part of the env contract)
DB_USER=openstack
DB_PASSWORD=realcloud-db
MQ_USER=openstack
MQ_PASSWORD=realcloud-mq
SERVICE_PASSWORD=realcloud-service
# infrastructure, stopped after the OpenStack services
INFRA_NAMES=" mariadb rabbitmq epmd "

log() { printf '[realcloud.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

pick_python() {
  if [ -n "${TRICIRCLE_REALCLOUD_PYTHON:-}" ]; then echo "$TRICIRCLE_REALCLOUD_PYTHON"
  elif command -v python3.11 >/dev/null 2>&1; then echo python3.11
  else echo python3; fi
}

# ------------------------------------------------------------------------------ install
ensure_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
  local t0
  t0=$(now)
  log "apt-get install ${missing[*]}"
  apt-get update -q >/dev/null 2>&1 || log "apt-get update failed (continuing)"
  # policy-rc.d in containers keeps them from starting; we start our own instances anyway.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
  log "apt done in $(since "$t0") s"
}

venv_stamp() {
  {
    cat "$REQ"
    [ -f "$CONSTRAINTS" ] && cat "$CONSTRAINTS"
    cat "$HERE/bind_driver/pyproject.toml" "$HERE"/bind_driver/*.py
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}

venv_ok() {
  local b
  for b in "${NEEDED_BINS[@]}"; do [ -x "$VENV/bin/$b" ] || return 1; done
  "$VENV/bin/python" -c 'pass' 2>/dev/null || return 1
  [ -f "$VENV/$STAMP_NAME" ] && [ "$(cat "$VENV/$STAMP_NAME")" = "$(venv_stamp)" ]
}

ensure_venv() {
  mkdir -p "$(dirname "$VENV")"
  exec 9>"$VENV.lock"   # serialise concurrent installs into the same venv
  flock 9
  if venv_ok; then
    log "venv $VENV is up to date (reused)"
    exec 9>&-
    return 0
  fi
  local t0 py cargs=()
  t0=$(now)
  py=$(pick_python)
  if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'pass' 2>/dev/null; then
    log "creating venv $VENV with $py"
    "$py" -m venv --clear "$VENV" >&2 || die "$py -m venv failed"
  fi
  [ -f "$CONSTRAINTS" ] && cargs=(-c "$CONSTRAINTS")
  log "pip install -r $(basename "$REQ") ${cargs[*]:+(with constraints.txt)} into $VENV"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q -r "$REQ" "${cargs[@]}" >&2 ||
    die "pip install into $VENV failed"
  # our ML2 driver (no dependencies of its own)
  # (built from a copy: setuptools leaves build/ and *.egg-info beside the sources)
  local src
  src=$(mktemp -d)
  cp -r "$HERE/bind_driver" "$src/"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q --no-deps --force-reinstall \
    "$src/bind_driver" >&2 || { rm -rf "$src"; die "pip install bind_driver failed"; }
  rm -rf "$src"
  local b
  for b in "${NEEDED_BINS[@]}"; do [ -x "$VENV/bin/$b" ] || die "venv has no $b after install"; done
  venv_stamp >"$VENV/$STAMP_NAME"
  log "venv ready in $(since "$t0") s"
  exec 9>&-
}

cmd_freeze() {
  venv_ok || ensure_venv
  {
    echo "# pip freeze of a working realcloud venv ($("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')),"
    echo "# written by 'tests/realcloud/realcloud.sh freeze'. Used as pip -c constraints."
    "$VENV/bin/pip" freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel|tricircle-realcloud-bind)( @|==)'
  } >"$CONSTRAINTS.tmp"
  mv "$CONSTRAINTS.tmp" "$CONSTRAINTS"
  venv_stamp >"$VENV/$STAMP_NAME"
  log "wrote $CONSTRAINTS ($(grep -c '==' "$CONSTRAINTS") pins)"
}


# ------------------------------------------------------------------------------ processes
# DIR/pids: one line per process group we started: NAME PID STARTTIME (the start time from
# /proc/PID/stat guards against a recycled pid). Every service runs under setsid, so its pid
# is also its process-group id, and down signals the group.

proc_starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null || echo -; }

# alive = exists, not a zombie (init here does not always reap orphans), same start time
pid_alive() {
  local pid=$1 st=${2:-} state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
  [ -z "$st" ] || [ "$st" = - ] || [ "$(proc_starttime "$pid")" = "$st" ]
}

# the live (non-zombie) members of process group $1
group_members() { ps -eo pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'; }

# start NAME CMD...: runs CMD in its own session, output to DIR/log/NAME.log
start() {
  local name=$1 pid
  shift
  setsid "$@" >"$LOGD/$name.log" 2>&1 </dev/null &
  pid=$!
  disown "$pid"   # no "Killed"/"Alarm clock" job notices from bash when it stops
  echo "$name $pid $(proc_starttime "$pid")" >>"$DIR/pids"
}

# pid and start time of service NAME from DIR/pids
svc_pid() { awk -v n="$1" '$1 == n { print $2; exit }' "$DIR/pids" 2>/dev/null; }
svc_st() { awk -v n="$1" '$1 == n { print $3; exit }' "$DIR/pids" 2>/dev/null; }
svc_alive() { pid_alive "$(svc_pid "$1")" "$(svc_st "$1")"; }

# gunicorn respawns a worker that dies (a broken config, say) for ever, so its master lives on:
# two dead workers in the log count as a crash
crashlooping() {
  [ "$(grep -c -E 'Worker \(pid:[0-9]+\) (exited with code|was sent)|Worker failed to boot' \
    "$LOGD/$1.log" 2>/dev/null)" -ge 2 ]
}

# the first recorded service that died (or crash-loops), if any
dead_service() {
  local name pid st
  [ -f "$DIR/pids" ] || return 1
  while read -r name pid st; do
    if ! pid_alive "$pid" "$st" || crashlooping "$name"; then
      echo "$name"
      return 0
    fi
  done <"$DIR/pids"
  return 1
}

FAILED=""   # the service to blame if up fails (DIR/failed: the same, from a job's subshell)
fail() {
  FAILED=${2:-$FAILED}
  if [ -n "$FAILED" ] && [ -n "${DIR:-}" ] && [ ! -s "$DIR/failed" ]; then echo "$FAILED" >"$DIR/failed"; fi
  die "$1"
}

# seconds left before the deadline of the whole `up` (TRICIRCLE_REALCLOUD_TIMEOUT)
time_left() { echo $((UP_DEADLINE - $(date +%s))); }

# wait_http NAME URL: until URL answers 200/300/401; a crash of NAME, or of any other service,
# fails at once; so does the deadline of `up`
wait_http() {
  local name=$1 url=$2 code i=0 dead
  while true; do
    code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url" || true)
    [[ "$code" =~ ^(200|300|401)$ ]] && return 0
    if ! svc_alive "$name" || crashlooping "$name"; then fail "$name crashed before answering on $url" "$name"; fi
    if ((++i % 8 == 0)) && dead=$(dead_service); then fail "$dead crashed" "$dead"; fi
    [ "$(time_left)" -gt 0 ] || fail "$name did not answer on $url in time (TRICIRCLE_REALCLOUD_TIMEOUT)" "$name"
    sleep 0.25
  done
}

# ------------------------------------------------------------------------------ pieces of up
free_ports() { # N: N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start_mariadb() {
  local d=$DIR/mysql
  mkdir -p "$d"
  mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$d/data" --skip-test-db \
    --auth-root-authentication-method=normal >"$LOGD/mariadb-install-db.log" 2>&1 ||
    fail "mariadb-install-db failed" mariadb-install-db
  # durability off: the data is thrown away after the run
  start mariadb /usr/sbin/mariadbd --no-defaults --user="$(id -un)" --datadir="$d/data" \
    --socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" --bind-address=127.0.0.1 --port="$P_MYSQL" \
    --skip-name-resolve --skip-log-bin --max-connections=500 --performance-schema=OFF \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=64M --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --sync-binlog=0 --character-set-server=utf8mb3 --collation-server=utf8mb3_general_ci
}

sql() { mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -uroot -e "$1"; }

setup_mariadb() {
  local i
  for ((i = 0; i < 480; i++)); do
    sql 'SELECT 1' >/dev/null 2>&1 && break
    svc_alive mariadb || fail "mariadbd exited" mariadb
    sleep 0.25
  done
  sql 'SELECT 1' >/dev/null 2>&1 || fail "MariaDB did not start" mariadb
  local dbs="keystone glance" p r q=""
  for p in "${PODS[@]}"; do
    r=${p,,}
    dbs+=" ${r}_nova_api ${r}_nova ${r}_nova_cell0 ${r}_placement ${r}_neutron ${r}_cinder"
  done
  q="CREATE USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';"
  q+="GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';"
  for p in $dbs; do q+="CREATE DATABASE $p CHARACTER SET utf8mb3;"; done
  sql "$q" || fail "creating the databases failed" mariadb
}

start_rabbitmq() {
  local d=$DIR/rabbit
  mkdir -p "$d/mnesia" "$d/log"
  echo '[].' >"$d/enabled_plugins"
  # users, vhosts and permissions are loaded at boot: no rabbitmqctl (an Erlang node of its own)
  MQ_PASSWORD=$MQ_PASSWORD MQ_USER=$MQ_USER python3 - "$d/definitions.json" "${PODS[@],,}" <<'EOF'
import base64, hashlib, json, os, sys
salt = os.urandom(4)
pw_hash = base64.b64encode(salt + hashlib.sha256(salt + os.environ["MQ_PASSWORD"].encode()).digest()).decode()
user = os.environ["MQ_USER"]
vhosts = sys.argv[2:]
json.dump({
    "users": [{"name": user, "password_hash": pw_hash,
               "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]}],
    "vhosts": [{"name": v} for v in vhosts],
    "permissions": [{"user": user, "vhost": v, "configure": ".*", "write": ".*", "read": ".*"} for v in vhosts],
}, open(sys.argv[1], "w"))
EOF
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$P_AMQP
loopback_users = none
load_definitions = $d/definitions.json
log.console = true
log.console.level = warning
log.file = false
vm_memory_high_watermark.absolute = 1GB
disk_free_limit.absolute = 50MB
EOF
  # epmd of our own (a non-daemon, on a free port), so nothing escapes our process groups
  start epmd epmd -port "$P_EPMD" -address 127.0.0.1
  # run as root directly (not through the Debian wrapper, which su's to the rabbitmq user in a
  # new session); HOME holds the Erlang cookie
  start rabbitmq env HOME="$d" RABBITMQ_CONF_ENV_FILE=/dev/null RABBITMQ_NODENAME="rabbit@localhost" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_PID_FILE="$d/rabbit.pid" \
    RABBITMQ_DIST_PORT="$P_DIST" ERL_EPMD_PORT="$P_EPMD" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}

wait_rabbitmq() {
  local i
  while true; do
    if "$VENV/bin/python" - "$P_AMQP" "$MQ_USER" "$MQ_PASSWORD" "${PODS[@],,}" 2>/dev/null <<'EOF'
import sys, amqp
port, user, pw = sys.argv[1:4]
for vhost in sys.argv[4:]:
    c = amqp.Connection(f"127.0.0.1:{port}", userid=user, password=pw, virtual_host=vhost, connect_timeout=2)
    c.connect()
    c.close()
EOF
    then return 0; fi
    svc_alive rabbitmq || fail "rabbitmq-server exited" rabbitmq
    [ "$(time_left)" -gt 0 ] ||
      fail "RabbitMQ did not accept AMQP logins on 127.0.0.1:$P_AMQP in time (TRICIRCLE_REALCLOUD_TIMEOUT)" rabbitmq
    sleep 0.5
  done
}

db_url() { echo "mysql+pymysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$P_MYSQL/$1?charset=utf8"; }

# [keystone_authtoken] for a service user, and the auth options of a keystoneauth section
ks_auth() {
  cat <<EOF
auth_type = password
auth_url = $KS_URL
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SERVICE_PASSWORD
EOF
}
authtoken() {
  printf '[keystone_authtoken]\nwww_authenticate_uri = %s\nservice_token_roles_required = true\n' "$KS_URL"
  ks_auth "$1"
}
POLICY='[oslo_policy]
enforce_new_defaults = false
enforce_scope = false'

# wsgi_wrapper DIR MODULE [ARGV...]: DIR/wsgi_app.py for gunicorn. The services parse sys.argv
# with oslo.config, which would see gunicorn's own arguments and exit 2.
wsgi_wrapper() {
  local d=$1 module=$2 args="" a
  shift 2
  for a in "$@"; do args+="'$a', "; done
  cat >"$d/wsgi_app.py" <<EOF
import sys

sys.argv = sys.argv[:1] + [$args]

from $module import application  # noqa: E402,F401
EOF
}

gunicorn_cmd() { # DIR PORT [THREADS]
  echo "$VENV/bin/gunicorn" --no-control-socket --chdir "$1" -b "127.0.0.1:$2" -w 1 --threads "${3:-4}" \
    --timeout 300 --graceful-timeout 5 --error-logfile - wsgi_app:application
}

conf_keystone() {
  local d=$DIR/keystone
  mkdir -p "$d/fernet-keys" "$d/credential-keys"
  cat >"$d/keystone.conf" <<EOF
[database]
connection = $(db_url keystone)
[identity]
# bcrypt at its minimum cost: password auth in ~10 ms instead of ~0.4 s
password_hash_rounds = 4
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $d/fernet-keys
[fernet_receipts]
key_repository = $d/fernet-keys
[credential]
key_repository = $d/credential-keys
EOF
  wsgi_wrapper "$d" keystone.wsgi.api
}

sync_keystone() {
  local d=$DIR/keystone km who
  km=("$VENV/bin/keystone-manage" --config-file "$d/keystone.conf")
  who=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)")
  # the key repositories and the schema are independent: side by side (~2 s of imports each)
  local f c
  "${km[@]}" fernet_setup "${who[@]}" &
  f=$!
  "${km[@]}" credential_setup "${who[@]}" &
  c=$!
  cached keystone -- "${km[@]}" db_sync || { wait; return 1; }
  wait "$f" && wait "$c" &&
    "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
      --bootstrap-project-name admin --bootstrap-role-name admin --bootstrap-region-id "$TOP_REGION" \
      --bootstrap-admin-url "$KS_URL" --bootstrap-internal-url "$KS_URL" --bootstrap-public-url "$KS_URL"
}

conf_glance() {
  local d=$DIR/glance
  mkdir -p "$d/images" "$d/staging" "$d/tasks" "$d/lock"
  cat >"$d/glance-api.conf" <<EOF
[DEFAULT]
enabled_backends = fs:file
workers = 1
[database]
connection = $(db_url glance)
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $d/images
[os_glance_staging_store]
filesystem_store_datadir = $d/staging
[os_glance_tasks_store]
filesystem_store_datadir = $d/tasks
[paste_deploy]
flavor = keystone
config_file = $VENV/etc/glance/glance-api-paste.ini
$(authtoken glance)
[oslo_concurrency]
lock_path = $d/lock
$POLICY
EOF
  wsgi_wrapper "$d" glance.wsgi.api
}
sync_glance() { cached glance -- "$VENV/bin/glance-manage" --config-file "$DIR/glance/glance-api.conf" db_sync; }

# pod_vars POD: R (region), r (lowercase), AZ, and the pod's ports
pod_vars() {
  R=$1
  r=${R,,}
  local i
  for i in "${!PODS[@]}"; do [ "${PODS[$i]}" = "$R" ] && break; done
  AZ=az$((i + 1))
  eval "PN_NOVA=\$P_${R}_NOVA PN_PLACEMENT=\$P_${R}_PLACEMENT PN_NEUTRON=\$P_${R}_NEUTRON PN_CINDER=\$P_${R}_CINDER"
  TURL="rabbit://$MQ_USER:$MQ_PASSWORD@127.0.0.1:$P_AMQP/$r"
}

conf_neutron() {
  pod_vars "$1"
  local d=$DIR/$r/neutron
  mkdir -p "$d/lock" "$d/state"
  cat >"$d/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
api_paste_config = $VENV/etc/neutron/api-paste.ini
# no agents run, so no bus: oslo.messaging's in-process driver
transport_url = fake://
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false
state_path = $d/state
host = $r-neutron
[database]
connection = $(db_url "${r}_neutron")
$(authtoken neutron)
[oslo_concurrency]
lock_path = $d/lock
$POLICY
[ml2]
type_drivers = flat,vlan,vxlan
project_network_types = vxlan
# tests/realcloud/bind_driver: binds every port on any host (vif_type ovs), no agent needed
mechanism_drivers = tricircle_bind_all
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vlan]
network_vlan_ranges = physnet1:2000:2999,extern
[ml2_type_vxlan]
vni_ranges = 1000:1999
EOF
  wsgi_wrapper "$d" neutron.wsgi.api
}
sync_neutron() {
  pod_vars "$1"
  cached "${r}_neutron" -- "$VENV/bin/neutron-db-manage" --config-file "$DIR/$r/neutron/neutron.conf" upgrade heads
}

conf_placement() {
  pod_vars "$1"
  local d=$DIR/$r/placement
  mkdir -p "$d"
  cat >"$d/placement.conf" <<EOF
[placement_database]
connection = $(db_url "${r}_placement")
[api]
auth_strategy = keystone
$(authtoken placement)
$POLICY
EOF
  wsgi_wrapper "$d" placement.wsgi.api
}
sync_placement() {
  pod_vars "$1"
  cached "${r}_placement" -- "$VENV/bin/placement-manage" --config-file "$DIR/$r/placement/placement.conf" db sync
}

conf_nova() {
  pod_vars "$1"
  local d=$DIR/$r/nova
  mkdir -p "$d/lock" "$d/state" "$d/instances"
  cp "$VENV/etc/nova/api-paste.ini" "$d/"
  cat >"$d/nova.conf" <<EOF
[DEFAULT]
transport_url = $TURL
compute_driver = fake.FakeDriver
host = $r-compute1
my_ip = 127.0.0.1
state_path = $d/state
instances_path = $d/instances
default_availability_zone = $AZ
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
# no random delay (up to 60 s) before the first periodic tasks: host discovery runs at once
periodic_fuzzy_delay = 0
graceful_shutdown_timeout = 5
[wsgi]
api_paste_config = $d/api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = $(db_url "${r}_nova_api")
[database]
connection = $(db_url "${r}_nova")
$(authtoken nova)
[placement]
$(ks_auth placement)
region_name = $R
valid_interfaces = public
[neutron]
$(ks_auth neutron)
region_name = $R
valid_interfaces = public
[glance]
region_name = $R
valid_interfaces = public
[cinder]
$(ks_auth cinder)
os_region_name = $R
catalog_info = volumev3::publicURL
[service_user]
# Cinder lets Nova delete volume attachments only with a service token (CVE-2023-2088 fix)
send_service_user_token = true
$(ks_auth nova)
[conductor]
workers = 1
[scheduler]
workers = 1
# maps the new compute host into cell1 without a nova-manage call
discover_hosts_in_cells_interval = 2
[oslo_concurrency]
lock_path = $d/lock
[vnc]
enabled = false
$POLICY
EOF
  wsgi_wrapper "$d" nova.wsgi.osapi_compute
}
nova_cells() {
  local nm=("$VENV/bin/nova-manage" --config-file "$DIR/$r/nova/nova.conf")
  "${nm[@]}" api_db sync && "${nm[@]}" cell_v2 map_cell0 && "${nm[@]}" cell_v2 create_cell --name cell1 &&
    "${nm[@]}" db sync
}
sync_nova() {
  pod_vars "$1"
  cached "${r}_nova_api" "${r}_nova" "${r}_nova_cell0" -- nova_cells || return 1
  # the cell mappings hold this run's database and RabbitMQ URLs (free ports differ per run)
  sql "UPDATE ${r}_nova_api.cell_mappings SET database_connection = '$(db_url "${r}_nova_cell0")'
         WHERE uuid = '00000000-0000-0000-0000-000000000000';
       UPDATE ${r}_nova_api.cell_mappings SET database_connection = '$(db_url "${r}_nova")',
         transport_url = '$TURL' WHERE name = 'cell1';"
}

conf_cinder() {
  pod_vars "$1"
  local d=$DIR/$r/cinder
  mkdir -p "$d/lock" "$d/state"
  cat >"$d/cinder.conf" <<EOF
[DEFAULT]
transport_url = $TURL
auth_strategy = keystone
enabled_backends = fake
api_paste_config = $VENV/etc/cinder/api-paste.ini
# without it every list filter (even ?name=) is refused with 400 "Invalid filters"
resource_query_filters_file = $VENV/etc/cinder/resource_filters.json
state_path = $d/state
host = $r-cinder
my_ip = 127.0.0.1
storage_availability_zone = $AZ
default_availability_zone = $AZ
glance_api_servers = $GLANCE_URL
osapi_volume_workers = 1
periodic_fuzzy_delay = 0
graceful_shutdown_timeout = 5
[fake]
# ships in the cinder wheel (needs 'fixtures'): logs calls instead of doing LVM/iSCSI work
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
[database]
connection = $(db_url "${r}_cinder")
$(authtoken cinder)
[nova]
$(ks_auth nova)
region_name = $R
interface = public
[oslo_concurrency]
lock_path = $d/lock
$POLICY
EOF
  wsgi_wrapper "$d" cinder.wsgi.api --config-file "$d/cinder.conf"
}
sync_cinder() {
  pod_vars "$1"
  cached "${r}_cinder" -- "$VENV/bin/cinder-manage" --config-file "$DIR/$r/cinder/cinder.conf" db sync
}

# The schema cache: a dump of each database right after its migrations (before any service
# ran), taken on the first `up` for a given venv (package versions), pod list and
# SCHEMA_CACHE_VERSION. Later runs load the dumps (seconds) instead of running the migrations
# (a minute of CPU); the databases are still fresh for every run. The only run-specific data in
# them, Nova's cell mappings (URLs with this run's ports), is rewritten after loading.
# Bump SCHEMA_CACHE_VERSION when a change here alters what the migrations produce.
# TRICIRCLE_REALCLOUD_SCHEMA_CACHE=0 turns the cache off.
SCHEMA_CACHE_VERSION=1
schema_cache_key() {
  { cat "$VENV/$STAMP_NAME"; echo "${PODS[*]} $DB_USER $SCHEMA_CACHE_VERSION"; } | sha256sum | cut -c1-16
}
schema_cache_init() {
  SCHEMA_CACHE="" SCHEMA_STAGE=""
  [ "${TRICIRCLE_REALCLOUD_SCHEMA_CACHE:-1}" = 0 ] && return 0
  local key root=$VENV/.realcloud-schema-cache
  key=$(schema_cache_key)
  mkdir -p "$root"
  # stages left by an `up` that was killed outright
  find "$root" -mindepth 1 -maxdepth 1 -name 'stage.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
  if [ -f "$root/$key/complete" ]; then
    SCHEMA_CACHE=$root/$key
    log "loading the database schemas from $SCHEMA_CACHE"
  else
    SCHEMA_STAGE=$(mktemp -d "$root/stage.XXXXXX")
  fi
}
schema_cache_commit() {
  [ -n "$SCHEMA_STAGE" ] || return 0
  local root=$VENV/.realcloud-schema-cache key
  key=$(schema_cache_key)
  touch "$SCHEMA_STAGE/complete"
  # keep only this key's cache (an older one belongs to an older venv or script)
  find "$root" -mindepth 1 -maxdepth 1 ! -name "$(basename "$SCHEMA_STAGE")" ! -name "stage.*" -exec rm -rf {} + || true
  mv -T "$SCHEMA_STAGE" "$root/$key" 2>/dev/null || rm -rf "$SCHEMA_STAGE"
  SCHEMA_STAGE=""
}

# cached DB... -- CMD...: load DB... from the schema cache, or run CMD (the migrations) and dump
# them into the cache being built
cached() {
  local dbs=() db
  while [ "$1" != -- ]; do dbs+=("$1"); shift; done
  shift
  if [ -n "$SCHEMA_CACHE" ]; then
    for db in "${dbs[@]}"; do
      mariadb --no-defaults -S "$DIR/mysql/mysqld.sock" -uroot "$db" <"$SCHEMA_CACHE/$db.sql" || return 1
    done
    echo "loaded ${dbs[*]} from $SCHEMA_CACHE"
    return 0
  fi
  "$@" || return 1
  if [ -n "$SCHEMA_STAGE" ]; then
    for db in "${dbs[@]}"; do
      mariadb-dump --no-defaults -S "$DIR/mysql/mysqld.sock" -uroot --skip-dump-date --single-transaction \
        --routines --triggers "$db" >"$SCHEMA_STAGE/$db.sql" || return 1
    done
  fi
}

# Run the set-up jobs of QUEUE (NAME:FUNC[:ARG]), at most SYNC_JOBS at a time (2 cores: CPU-bound
# imports, some DB I/O). When a job ends, after_job starts what it made possible, and may queue
# more jobs.
SYNC_JOBS=${TRICIRCLE_REALCLOUD_SYNC_JOBS:-3}
QUEUE=()
run_jobs() {
  local -A job_of=()
  local item name func arg done_pid finished
  while [ ${#QUEUE[@]} -gt 0 ] || [ ${#job_of[@]} -gt 0 ]; do
    while [ ${#QUEUE[@]} -gt 0 ] && [ ${#job_of[@]} -lt "$SYNC_JOBS" ]; do
      item=${QUEUE[0]}
      QUEUE=("${QUEUE[@]:1}")
      IFS=: read -r name func arg <<<"$item"
      # shellcheck disable=SC2086 # no ARG: no word
      $func $arg >"$LOGD/$name.log" 2>&1 &
      job_of[$!]=$name
    done
    done_pid=""
    if ! wait -n -p done_pid "${!job_of[@]}"; then
      finished=${job_of[$done_pid]:-?}
      [ -s "$DIR/failed" ] || echo "$finished" >"$DIR/failed"
      fail "$finished failed (see $LOGD/$finished.log)"
    fi
    finished=${job_of[$done_pid]}
    unset "job_of[$done_pid]"
    after_job "$finished"
  done
}

seed_keystone() {
  wait_http keystone "$KS_URL" && "$VENV/bin/python" "$HERE/bed.py" keystone "$DIR"
}

wait_placement() { pod_vars "$1"; wait_http "$r-placement" "http://127.0.0.1:$PN_PLACEMENT/"; }

# nova-conductor, -scheduler and -compute call placement at start-up (the first two die if it does
# not answer; nova-compute would try again only a minute later), so a pod's start once Keystone is
# seeded, the pod's nova and placement schemas are there, and its placement answers.
SEEDED=0
SYNCED=" "
HELD=()
maybe_wait_placement() { # POD
  [ "$SEEDED" = 1 ] && [[ "$SYNCED" == *" $1-nova "* ]] && [[ "$SYNCED" == *" $1-placement "* ]] || return 0
  QUEUE=("${1,,}-placement-ready:wait_placement:$1" "${QUEUE[@]}")
}

after_job() {
  local job=$1 p
  case "$job" in
    keystone-sync)
      # shellcheck disable=SC2046
      OS_KEYSTONE_CONFIG_DIR=$DIR/keystone OS_KEYSTONE_CONFIG_FILES=keystone.conf \
        start keystone $(gunicorn_cmd "$DIR/keystone" "$P_KEYSTONE" 8)
      QUEUE=(keystone-seed:seed_keystone "${QUEUE[@]}")
      ;;
    keystone-seed)
      SEEDED=1
      log "Keystone seeded after $(since "$T0") s"
      for p in "${PODS[@]}"; do maybe_wait_placement "$p"; done
      for job in "${HELD[@]}"; do start_after "$job"; done
      HELD=()
      ;;
    glance-sync | *-neutron-sync | *-cinder-sync | *-nova-sync)
      # Keystone (and its seeding) is the critical path: these services only compete with it
      # for the 2 cores until then
      if [ "$SEEDED" = 0 ]; then HELD+=("$job"); else start_after "$job"; fi
      ;;
    *-placement-sync | *-placement-ready)
      start_after "$job"
      ;;
  esac
  return 0
}

start_after() { # JOB: start what JOB's schema was for
  local job=$1 p
  case "$job" in
    glance-sync)
      # shellcheck disable=SC2046
      OS_GLANCE_CONFIG_DIR=$DIR/glance start glance $(gunicorn_cmd "$DIR/glance" "$P_GLANCE")
      ;;
    *-placement-ready)
      p=${job%%-*}
      p=${p^}
      pod_vars "$p"
      start "$r-nova-conductor" "$VENV/bin/nova-conductor" --config-file "$DIR/$r/nova/nova.conf"
      start "$r-nova-scheduler" "$VENV/bin/nova-scheduler" --config-file "$DIR/$r/nova/nova.conf"
      # (it waits for the conductor by itself)
      start "$r-nova-compute" "$VENV/bin/nova-compute" --config-file "$DIR/$r/nova/nova.conf"
      ;;
    *-sync)
      p=${job%%-*}
      p=${p^}
      pod_vars "$p"
      case "$job" in
        *-neutron-sync)
          # shellcheck disable=SC2046
          OS_NEUTRON_CONFIG_DIR=$DIR/$r/neutron OS_NEUTRON_CONFIG_FILES=neutron.conf \
            start "$r-neutron" $(gunicorn_cmd "$DIR/$r/neutron" "$PN_NEUTRON")
          ;;
        *-placement-sync)
          # shellcheck disable=SC2046
          OS_PLACEMENT_CONFIG_DIR=$DIR/$r/placement \
            start "$r-placement" $(gunicorn_cmd "$DIR/$r/placement" "$PN_PLACEMENT")
          SYNCED+="$p-placement "
          maybe_wait_placement "$p"
          ;;
        *-nova-sync)
          # shellcheck disable=SC2046
          OS_NOVA_CONFIG_DIR=$DIR/$r/nova OS_NOVA_CONFIG_FILES="api-paste.ini;nova.conf" \
            start "$r-nova-api" $(gunicorn_cmd "$DIR/$r/nova" "$PN_NOVA")
          SYNCED+="$p-nova "
          maybe_wait_placement "$p"
          ;;
        *-cinder-sync)
          # shellcheck disable=SC2046
          start "$r-cinder-api" $(gunicorn_cmd "$DIR/$r/cinder" "$PN_CINDER")
          start "$r-cinder-scheduler" "$VENV/bin/cinder-scheduler" --config-file "$DIR/$r/cinder/cinder.conf"
          start "$r-cinder-volume" "$VENV/bin/cinder-volume" --config-file "$DIR/$r/cinder/cinder.conf"
          ;;
      esac
      ;;
  esac
  return 0
}

write_bed_json() {
  python3 - "$DIR/bed.json" <<EOF
import json, sys
pods = {}
for name, r, az, nova, placement, neutron, cinder in [$(
    for p in "${PODS[@]}"; do
      pod_vars "$p"
      printf '("%s", "%s", "%s", %s, %s, %s, %s), ' "$R" "$r" "$AZ" "$PN_NOVA" "$PN_PLACEMENT" "$PN_NEUTRON" "$PN_CINDER"
    done)]:
    pods[name] = {"az": az, "nova_api": nova, "placement": placement, "neutron": neutron,
                  "cinder_api": cinder, "nova_api_db": f"{r}_nova_api"}
json.dump({
    "keystone_url": "$KS_URL", "glance_url": "$GLANCE_URL", "top_region": "$TOP_REGION",
    "admin_password": "$ADMIN_PASSWORD", "service_password": "$SERVICE_PASSWORD",
    "db": {"port": $P_MYSQL, "user": "$DB_USER", "password": "$DB_PASSWORD"},
    "pods": pods,
}, open(sys.argv[1], "w"), indent=1)
EOF
}

# ------------------------------------------------------------------------------ up
UP_OK=0
WATCHDOG=""
# a backstop for whatever has no deadline of its own (a hung migration, say): USR1 to `up`
# 60 s after its deadline
start_watchdog() {
  local main=$$ secs=$((UP_TIMEOUT + 60))
  (
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$secs" &
    sp=$!
    wait "$sp" && kill -USR1 "$main"
  ) &
  WATCHDOG=$!
}
stop_watchdog() {
  [ -n "$WATCHDOG" ] && kill -TERM "$WATCHDOG" 2>/dev/null
  WATCHDOG=""
  return 0
}

on_up_exit() {
  local rc=$?
  stop_watchdog
  [ "$UP_OK" = 1 ] && return 0
  trap - EXIT INT TERM USR1
  local dead
  [ -s "$DIR/failed" ] && FAILED=$(head -n 1 "$DIR/failed")
  if [ -z "$FAILED" ] && dead=$(dead_service 2>/dev/null); then FAILED=$dead; fi
  if [ -n "$FAILED" ] && [ -f "$LOGD/$FAILED.log" ]; then
    log "---- last 40 lines of $LOGD/$FAILED.log ----"
    tail -n 40 "$LOGD/$FAILED.log" >&2 || true
    log "---- end of $FAILED.log ----"
  fi
  [ -n "${SCHEMA_STAGE:-}" ] && rm -rf "$SCHEMA_STAGE"
  log "up failed (rc $rc): stopping what it started"
  cmd_down "$DIR" || true
  exit 1
}

cmd_up() {
  DIR=$1
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  LOGD=$DIR/log
  local name pid st
  if [ -f "$DIR/pids" ]; then
    while read -r name pid st; do
      pid_alive "$pid" "$st" && die "a bed from $DIR is already running ($name, pid $pid); run: $0 down $DIR"
    done <"$DIR/pids"
  fi
  ensure_apt
  ensure_venv
  command -v mariadb-install-db >/dev/null || die "mariadb-install-db missing"

  local t0
  t0=$(now)
  T0=$t0
  UP_DEADLINE=$(($(date +%s) + UP_TIMEOUT))
  # a fresh bed every time (Nova's fake driver cannot restart against an old database)
  rm -rf "$DIR/mysql" "$DIR/rabbit" "$DIR/keystone" "$DIR/glance" "$DIR/log" "$DIR/pids" "$DIR/env" \
    "$DIR/openrc" "$DIR/bed.json" "$DIR/failed"
  for name in "${PODS[@]}"; do rm -rf "${DIR:?}/${name,,}"; done
  mkdir -p "$LOGD"
  : >"$DIR/pids"
  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'log "ERROR: up is past its deadline (TRICIRCLE_REALCLOUD_TIMEOUT=$UP_TIMEOUT)"; exit 124' USR1
  start_watchdog

  local ports
  read -r -a ports <<<"$(free_ports $((6 + 4 * ${#PODS[@]})))"
  P_MYSQL=${ports[0]} P_AMQP=${ports[1]} P_DIST=${ports[2]} P_EPMD=${ports[3]}
  P_KEYSTONE=${ports[4]} P_GLANCE=${ports[5]}
  local i=6 p
  for p in "${PODS[@]}"; do
    eval "P_${p}_NOVA=${ports[i]} P_${p}_PLACEMENT=${ports[i + 1]} P_${p}_NEUTRON=${ports[i + 2]} P_${p}_CINDER=${ports[i + 3]}"
    i=$((i + 4))
  done
  KS_URL=http://127.0.0.1:$P_KEYSTONE/v3
  GLANCE_URL=http://127.0.0.1:$P_GLANCE
  export PYTHONWARNINGS=ignore

  log "starting MariaDB (:$P_MYSQL) and RabbitMQ (:$P_AMQP)"
  start_mariadb
  start_rabbitmq
  setup_mariadb
  log "MariaDB ready after $(since "$t0") s; writing configs, creating the schemas"

  conf_keystone
  conf_glance
  # Keystone first (then its seeding jumps the queue), then the longest: nova (4 nova-manage
  # runs), neutron; then cinder, placement, glance. Each service starts when its schema is there.
  local later=()
  QUEUE=(keystone-sync:sync_keystone)
  for p in "${PODS[@]}"; do
    conf_neutron "$p"
    conf_placement "$p"
    conf_nova "$p"
    conf_cinder "$p"
    QUEUE+=("${p,,}-nova-sync:sync_nova:$p" "${p,,}-neutron-sync:sync_neutron:$p")
    later+=("${p,,}-cinder-sync:sync_cinder:$p" "${p,,}-placement-sync:sync_placement:$p")
  done
  QUEUE+=("${later[@]}" glance-sync:sync_glance)
  write_bed_json
  local t1
  t1=$(now)
  schema_cache_init
  run_jobs
  schema_cache_commit
  log "schemas ready and Keystone seeded in $(since "$t1") s"
  wait_rabbitmq
  wait_http glance "$GLANCE_URL/"
  for p in "${PODS[@]}"; do
    pod_vars "$p"
    wait_http "$r-neutron" "http://127.0.0.1:$PN_NEUTRON/"
    wait_http "$r-nova-api" "http://127.0.0.1:$PN_NOVA/"
    wait_http "$r-cinder-api" "http://127.0.0.1:$PN_CINDER/"
  done
  log "all APIs answer after $(since "$t0") s; waiting for compute and volume services"

  # bed.py wait polls the pods through their APIs; meanwhile a crashed service fails at once
  local left
  left=$(time_left)
  [ "$left" -gt 0 ] || fail "no time left for the readiness checks (TRICIRCLE_REALCLOUD_TIMEOUT)" wait
  "$VENV/bin/python" "$HERE/bed.py" wait "$DIR" "$left" >"$LOGD/wait.log" 2>&1 &
  local wpid=$! dead
  while kill -0 "$wpid" 2>/dev/null; do
    if dead=$(dead_service); then
      kill "$wpid" 2>/dev/null || true
      fail "$dead exited" "$dead"
    fi
    sleep 1
  done
  if ! wait "$wpid"; then
    cat "$LOGD/wait.log" >&2
    local svc
    svc=$(grep -o 'waiting for Pod[0-9]* [a-z-]*' "$LOGD/wait.log" | tail -1 | awk '{ print tolower($3) "-" $4 }')
    case "$svc" in
      *-resource) svc=${svc%-resource}-nova-compute ;;
      *-hypervisor) svc=${svc%-hypervisor}-nova-compute ;;
      *-compute) svc=${svc%-compute}-nova-compute ;;
      *-volume) svc=${svc%-volume}-cinder-volume ;;
    esac
    [ -n "$svc" ] && [ -f "$LOGD/$svc.log" ] || svc="wait"
    fail "the pods did not become ready" "$svc"
  fi
  sed 's/^/  /' "$LOGD/wait.log" >&2

  local image_id
  image_id=$("$VENV/bin/python" "$HERE/bed.py" image "$DIR" 2>"$LOGD/image.log") ||
    fail "uploading the image failed" image

  cat >"$DIR/env" <<EOF
export TRICIRCLE_REALCLOUD_DIR=$DIR
export TRICIRCLE_REALCLOUD_KEYSTONE_URL=$KS_URL
export TRICIRCLE_REALCLOUD_KEYSTONE_ADMIN_USER=admin
export TRICIRCLE_REALCLOUD_KEYSTONE_ADMIN_PASSWORD=$ADMIN_PASSWORD
export TRICIRCLE_REALCLOUD_KEYSTONE_ADMIN_PROJECT=admin
export TRICIRCLE_REALCLOUD_KEYSTONE_SERVICE_USER=tricircle
export TRICIRCLE_REALCLOUD_KEYSTONE_SERVICE_PASSWORD=tricircle-secret
export TRICIRCLE_REALCLOUD_KEYSTONE_SERVICE_PROJECT=service
export TRICIRCLE_REALCLOUD_KEYSTONE_DEMO_USER=demo
export TRICIRCLE_REALCLOUD_KEYSTONE_DEMO_PASSWORD=demo-secret
export TRICIRCLE_REALCLOUD_KEYSTONE_DEMO_PROJECT=demo
export TRICIRCLE_REALCLOUD_TOP_REGION=$TOP_REGION
export TRICIRCLE_REALCLOUD_REGIONS="${PODS[*]}"
$(for p in "${PODS[@]}"; do pod_vars "$p"; echo "export TRICIRCLE_REALCLOUD_${R^^}_AZ=$AZ"; done)
export TRICIRCLE_REALCLOUD_IMAGE_URL=$GLANCE_URL
export TRICIRCLE_REALCLOUD_IMAGE_ID=$image_id
export TRICIRCLE_REALCLOUD_VENV=$VENV
EOF
  # For humans: `source DIR/openrc`, then `OS_REGION_NAME=Pod2 openstack server list`.
  cat >"$DIR/openrc" <<EOF
export OS_AUTH_URL=$KS_URL
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=\${OS_REGION_NAME:-${PODS[0]}}
export PATH=$VENV/bin:\$PATH
EOF
  UP_OK=1
  stop_watchdog
  trap - EXIT INT TERM USR1
  log "ready in $(since "$t0") s ($(wc -l <"$DIR/pids") process groups); env in $DIR/env"
  cat "$DIR/env"
}

# ------------------------------------------------------------------------------ down / status
# the process groups (pgids) that still have a live (non-zombie) member
live_pgids() { ps -eo pgid=,stat= | awk '$2 !~ /^Z/ { print " " $1 " " }' | sort -u | tr -d '\n'; }

# stop_groups SECONDS NAME:PID ...: SIGTERM each group that has live members, wait, SIGKILL the rest.
# (Linux does not reuse a pid while it is still a process-group id, so live members of the
# group PID are ours even when the leader itself is gone.)
stop_groups() {
  local secs=$1 item i live
  shift
  local todo=() left=()
  live=$(live_pgids)
  for item in "$@"; do
    if [[ "$live" == *" ${item#*:} "* ]]; then
      kill -TERM -- "-${item#*:}" 2>/dev/null || true
      todo+=("$item")
    fi
  done
  for ((i = 0; i < secs * 5 && ${#todo[@]} > 0; i++)); do
    sleep 0.2
    live=$(live_pgids)
    left=()
    for item in "${todo[@]}"; do [[ "$live" == *" ${item#*:} "* ]] && left+=("$item"); done
    todo=("${left[@]}")
  done
  for item in "${todo[@]}"; do
    log "${item%%:*} (process group ${item#*:}) still running after $secs s: SIGKILL"
    kill -KILL -- "-${item#*:}" 2>/dev/null || true
  done
}

cmd_down() {
  local dir=$1 name pid st
  [ -f "$dir/pids" ] || { log "no $dir/pids: nothing to stop"; return 0; }
  local t0 services=() infra=()
  t0=$(now)
  while read -r name pid st; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    # a recycled pid (start time differs) is not ours: skip it
    if [ -r "/proc/$pid/stat" ] && [ "$st" != - ] && [ "$(proc_starttime "$pid")" != "$st" ]; then
      log "pid $pid ($name) is another process now; leaving it alone"
      continue
    fi
    if [[ "$INFRA_NAMES" == *" $name "* ]]; then infra+=("$name:$pid"); else services+=("$name:$pid"); fi
  done <"$dir/pids"
  # OpenStack services first, while RabbitMQ is still there (nova-compute may ignore SIGTERM
  # without its bus), then MariaDB, RabbitMQ and epmd
  [ ${#services[@]} -gt 0 ] && stop_groups 20 "${services[@]}"
  [ ${#infra[@]} -gt 0 ] && stop_groups 20 "${infra[@]}"
  rm -f "$dir/pids"
  log "stopped in $(since "$t0") s"
}

cmd_status() {
  local dir=$1 name pid st total=0 rss
  [ -f "$dir/pids" ] || { echo "no $dir/pids"; return 1; }
  local down=0
  while read -r name pid st; do
    if pid_alive "$pid" "$st" || [ -n "$(group_members "$pid")" ]; then
      rss=$(ps -eo pgid=,rss= | awk -v g="$pid" '$1 == g { s += $2 } END { print int(s / 1024) }')
      total=$((total + rss))
      printf '%-22s pid %-8s up    %5s MB\n' "$name" "$pid" "$rss"
    else
      printf '%-22s pid %-8s DOWN\n' "$name" "$pid"
      down=$((down + 1))
    fi
  done <"$dir/pids"
  printf '%-22s %20s MB\n' total "$total"
  [ "$down" = 0 ]
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }

case "${1:-}" in
  install) ensure_apt; ensure_venv ;;
  up) [ $# -eq 2 ] || usage; cmd_up "$2" ;;
  down) [ $# -eq 2 ] || usage; cmd_down "$2" ;;
  status) [ $# -eq 2 ] || usage; cmd_status "$2" ;;
  freeze) cmd_freeze ;;
  *) usage ;;
esac
