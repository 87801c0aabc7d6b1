#!/usr/bin/env bash
# libmemcached's protocol conformance suite (`memccapable -a`, ASCII only) against a real
# `bale serve`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"

bale_start "$BALE_TMP/data" --durability none --threads 2
set +e
timeout 120 memccapable -a -h 127.0.0.1 -p "$BALE_PORT" > "$BALE_TMP/capable.out" 2>&1
rc=$?
set -e
grep -q 'All tests passed' "$BALE_TMP/capable.out" || {
  echo "memccapable exited $rc without 'All tests passed':"
  cat "$BALE_TMP/capable.out"
  exit 1
}
rc=0
bale_stop "$BALE_PID" || rc=$?
[ "$rc" -eq 0 ] || { cat "$BALE_OUT"; fail "bale serve exited $rc after SIGTERM"; }
grep -q 'stopped cleanly' "$BALE_OUT" || fail "no 'stopped cleanly' in $(cat "$BALE_OUT")"
