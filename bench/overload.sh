#!/usr/bin/env bash
# bench/overload.sh: the gateway under 500, 2000 and 5000 concurrent connections.
#
#   bench/overload.sh              release build; 2 runs of 30 s per level; figures into
#                                  bench/REPORT.md (between the overload markers)
#   bench/overload.sh --smoke      debug build, 20 connections for 3 s: checks that the
#                                  harness works (scripts/test runs it); judges no figure
#   bench/overload.sh [--bin PATH] [options of bench/overload.py, see --help there]
#
# Load from wrk (Debian's package, installed here when missing and we are root). Starts
# `tricircle podsim` and one `tricircle serve` per run on 127.0.0.1, and stops them by pid.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SMOKE=0
BIN=""
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; ARGS+=("$1") ;;
    --bin) BIN=$2; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done

if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "overload.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
  echo "overload.sh: installing wrk (apt-get install wrk)"
  apt-get update -q >/dev/null 2>&1 || echo "overload.sh: apt-get update failed (continuing)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null
fi

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "$BIN" ]; then
  if [ "$SMOKE" = 1 ]; then
    cargo build -q -p tricircle --bin tricircle
    BIN=$TARGET_DIR/debug/tricircle
    DESC="debug build"
  else
    cargo build -q --release -p tricircle --bin tricircle
    BIN=$TARGET_DIR/release/tricircle
    DESC="release build"
  fi
  DESC="$DESC of $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
else
  DESC=$BIN
fi

exec python3 bench/overload.py --bin "$BIN" --bin-desc "$DESC" \
  --command "bench/overload.sh${ARGS[*]:+ ${ARGS[*]}}" "${ARGS[@]}"
