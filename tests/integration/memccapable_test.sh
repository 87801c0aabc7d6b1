#!/usr/bin/env bash
# libmemcached's protocol conformance suite against a real `bale serve`: the ASCII tests
# (`memccapable -a`) and the binary ones (`memccapable -b`), each on its own server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"

# capable MODE: runs `memccapable MODE` against a fresh server; it must pass every test.
capable() {
  local mode=$1 rc=0
  bale_start "$BALE_TMP/data$mode" --durability none --threads 2
  set +e
  timeout 120 memccapable "$mode" -h 127.0.0.1 -p "$BALE_PORT" > "$BALE_TMP/capable$mode.out" 2>&1
  rc=$?
  set -e
  grep -q 'All tests passed' "$BALE_TMP/capable$mode.out" || {
    echo "memccapable $mode exited $rc without 'All tests passed':"
    cat "$BALE_TMP/capable$mode.out"
    exit 1
  }
  rc=0
  bale_stop "$BALE_PID" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$BALE_OUT"; fail "bale serve exited $rc after SIGTERM"; }
  grep -q 'stopped cleanly' "$BALE_OUT" || fail "no 'stopped cleanly' in $(cat "$BALE_OUT")"
}

capable -a
capable -b
