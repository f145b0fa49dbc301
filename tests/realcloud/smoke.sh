#!/usr/bin/env bash
# Prove a bed from `realcloud.sh up DIR` works, by talking to each pod DIRECTLY with the real
# openstack CLI (OS_REGION_NAME=Pod1 / Pod2), the two pods in parallel:
#
#   both pods: AZs listed (compute and volume), flavor create (admin); as demo: server create
#              --nic none --wait from the shared image -> ACTIVE in the pod's AZ; volume create
#              1 GB -> available; server add volume -> in-use; remove -> available; server
#              delete; volume delete; flavor delete (admin)
#   Pod1:      as demo: network, subnet, port create; a server on that port -> ACTIVE with the
#              port bound (vif_type ovs, by bind_driver) and ACTIVE; then everything deleted
#
#   tests/realcloud/smoke.sh DIR
#
# Prints one line per check and closes with "smoke: N passed, N failed"; exit 1 on a failure.
set -uo pipefail

DIR=${1:?usage: smoke.sh DIR}
[ -f "$DIR/env" ] || { echo "no $DIR/env: run tests/realcloud/realcloud.sh up $DIR first" >&2; exit 2; }
# shellcheck disable=SC1091
. "$DIR/env"
OPENSTACK=$TRICIRCLE_REALCLOUD_VENV/bin/openstack
export OS_AUTH_URL=$TRICIRCLE_REALCLOUD_KEYSTONE_URL OS_IDENTITY_API_VERSION=3 \
  OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default PYTHONWARNINGS=ignore
WAIT=${TRICIRCLE_REALCLOUD_SMOKE_TIMEOUT:-180}   # seconds for one state change
SUFFIX=$$
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

as_admin() {
  OS_USERNAME=$TRICIRCLE_REALCLOUD_KEYSTONE_ADMIN_USER OS_PASSWORD=$TRICIRCLE_REALCLOUD_KEYSTONE_ADMIN_PASSWORD \
    OS_PROJECT_NAME=$TRICIRCLE_REALCLOUD_KEYSTONE_ADMIN_PROJECT timeout "$WAIT" "$OPENSTACK" "$@"
}
as_demo() {
  OS_USERNAME=$TRICIRCLE_REALCLOUD_KEYSTONE_DEMO_USER OS_PASSWORD=$TRICIRCLE_REALCLOUD_KEYSTONE_DEMO_PASSWORD \
    OS_PROJECT_NAME=$TRICIRCLE_REALCLOUD_KEYSTONE_DEMO_PROJECT timeout "$WAIT" "$OPENSTACK" "$@"
}

# check NAME CMD...: run CMD; print "ok NAME" or "FAIL NAME" with its output; count it
check() {
  local name=$1 out t0=$SECONDS
  shift
  if out=$("$@" 2>&1); then
    echo "ok   $REGION: $name ($((SECONDS - t0)) s)"
    echo pass >>"$OUT/$REGION.count"
    return 0
  fi
  echo "FAIL $REGION: $name"
  printf '%s\n' "$out" | tail -n 15 | sed 's/^/       | /'
  echo fail >>"$OUT/$REGION.count"
  return 1
}

# wait_field WHAT WANT CMD...: poll CMD (printing one value) until it prints WANT
wait_field() {
  local what=$1 want=$2 got="" errors=0 deadline=$((SECONDS + WAIT))
  shift 2
  while [ $SECONDS -lt $deadline ]; do
    if got=$("$@" 2>&1); then errors=0; else errors=$((errors + 1)); fi
    [ "$got" = "$want" ] && return 0
    case "$got" in error | error_*) break ;; esac
    [ "$errors" -ge 3 ] && break
    sleep 1
  done
  echo "$what: wanted '$want', last got '$got'"
  return 1
}

# wait_gone CMD...: poll until CMD fails (the resource is gone)
wait_gone() {
  local deadline=$((SECONDS + WAIT))
  while [ $SECONDS -lt $deadline ]; do
    "$@" >/dev/null 2>&1 || return 0
    sleep 1
  done
  echo "still there after $WAIT s: $*"
  return 1
}

az_listed() { # --compute|--volume AZ
  local zones
  zones=$(as_admin availability zone list "$1" -f value -c 'Zone Name') || return 1
  grep -qx "$2" <<<"$zones" || { echo "no AZ $2 in: $zones"; return 1; }
}

server_active() { # NAME AZ: ACTIVE, in the AZ, on a host
  local line
  line=$(as_demo server show "$1" -f value -c status -c OS-EXT-AZ:availability_zone | tr '\n' ' ')
  [ "$line" = "$2 ACTIVE " ] || [ "$line" = "ACTIVE $2 " ] || { echo "server $1: '$line'"; return 1; }
}

port_bound() { # PORT: ACTIVE, vif_type ovs, bound to a host
  local st vif host
  st=$(as_admin port show "$1" -f value -c status)
  vif=$(as_admin port show "$1" -f value -c binding_vif_type)
  host=$(as_admin port show "$1" -f value -c binding_host_id)
  if [ "$st" != ACTIVE ] || [ "$vif" != ovs ] || [ -z "$host" ]; then
    echo "port $1: status=$st vif=$vif host=$host"
    return 1
  fi
}

pod_smoke() {
  REGION=$1
  local az=$2 flavor=smoke-tiny-$SUFFIX vm=smoke-vm-$SUFFIX vol=smoke-vol-$SUFFIX
  export OS_REGION_NAME=$REGION
  check "compute AZ $az listed" az_listed --compute "$az"
  check "volume AZ $az listed" az_listed --volume "$az"
  check "flavor create" as_admin flavor create "$flavor" --ram 64 --disk 1 --vcpus 1 --public || return
  if check "server create --nic none --wait" as_demo server create "$vm" --image "$TRICIRCLE_REALCLOUD_IMAGE_ID" \
    --flavor "$flavor" --nic none --wait; then
    check "server ACTIVE in $az" server_active "$vm" "$az"
  fi
  if check "volume create 1 GB" as_demo volume create "$vol" --size 1; then
    check "volume available" wait_field "volume $vol" available as_demo volume show "$vol" -f value -c status &&
      check "server add volume" as_demo server add volume "$vm" "$vol" &&
      check "volume in-use" wait_field "volume $vol" in-use as_demo volume show "$vol" -f value -c status &&
      check "server remove volume" as_demo server remove volume "$vm" "$vol" &&
      check "volume available after detach" wait_field "volume $vol" available as_demo volume show "$vol" -f value -c status
  fi
  check "server delete --wait" as_demo server delete "$vm" --wait
  check "volume delete" as_demo volume delete "$vol" && check "volume gone" wait_gone as_demo volume show "$vol"

  if [ "$REGION" = Pod1 ]; then
    local net=smoke-net-$SUFFIX sub=smoke-subnet-$SUFFIX port=smoke-port-$SUFFIX vm2=smoke-vm-port-$SUFFIX
    if check "network create" as_demo network create "$net" &&
      check "subnet create" as_demo subnet create "$sub" --network "$net" --subnet-range 10.99.0.0/24 &&
      check "port create" as_demo port create "$port" --network "$net"; then
      check "server create on the port --wait" as_demo server create "$vm2" --image "$TRICIRCLE_REALCLOUD_IMAGE_ID" \
        --flavor "$flavor" --nic "port-id=$(as_demo port show "$port" -f value -c id)" --wait &&
        check "port bound (ovs) and ACTIVE" port_bound "$port"
      check "server on the port delete --wait" as_demo server delete "$vm2" --wait
      check "port delete" as_demo port delete "$port"
    fi
    check "subnet delete" as_demo subnet delete "$sub"
    check "network delete" as_demo network delete "$net"
  fi
  check "flavor delete" as_admin flavor delete "$flavor"
}

t0=$SECONDS
pids=()
for region in $TRICIRCLE_REALCLOUD_REGIONS; do
  var=TRICIRCLE_REALCLOUD_${region^^}_AZ
  pod_smoke "$region" "${!var}" >"$OUT/$region.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
passed=0 failed=0
for region in $TRICIRCLE_REALCLOUD_REGIONS; do
  cat "$OUT/$region.log"
  passed=$((passed + $(grep -c pass "$OUT/$region.count" 2>/dev/null || true)))
  failed=$((failed + $(grep -c fail "$OUT/$region.count" 2>/dev/null || true)))
done
echo "smoke took $((SECONDS - t0)) s; logs of the bed: $DIR/log"
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
