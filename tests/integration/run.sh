#!/usr/bin/env bash
# Integration tests that run the real `bale` executable. Usage: run.sh path/to/bale
#
# A suite that cannot make a check here reports it with bale_skip (lib.sh): a line
# `SKIP <suite>/<what>: <reason>`. After the suites, scripts/check_skips fails the run
# for any such skip that tests/allowed_skips.txt does not list.
set -euo pipefail
bale=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0
# Private to this run (two runs at once must not mix their skips).
BALE_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/bale-skips-XXXXXX")
export BALE_SKIP_LOG
trap 'rm -f "$BALE_SKIP_LOG"' EXIT

# run_suite NAME [SERVE OPTIONS]: runs NAME.sh, its servers started with those options too.
# With BALE_CLUSTER=1 in the environment, its `bale serve` is a cluster (clusterlib.py).
run_suite() {
  local name=$1 options=${2:-} label=$1 t0=$SECONDS
  [ -n "$options" ] && label="$name ($options)"
  [ "${BALE_CLUSTER:-}" = 1 ] && label="$label (through a router, 3 stores)"
  if BALE_SERVE_ARGS="$options" timeout 300 bash "$here/$name.sh" "$bale"; then
    echo "PASS $label ($((SECONDS - t0)) s)"
    passed=$((passed + 1))
  else
    echo "FAIL $label ($((SECONDS - t0)) s)"
    failed=$((failed + 1))
  fi
}

for t in "$here"/*_test.sh; do
  run_suite "$(basename "$t" .sh)"
done
# The loops batch socket I/O through io_uring where the kernel allows it; these suites
# run again on the plain system-call path that other kernels (and --io-uring off) get.
for name in memccapable_test pymemcache_test pylibmc_test bad_input_test http_test; do
  run_suite "$name" "--io-uring off"
done
# In --durability sync every reply that acknowledges a write is held for the round's group
# commit (frontend/face_loop.h): the binary face too.
run_suite pylibmc_test "--durability sync"
# The same clients through `bale router` in front of three `bale store` nodes (with etcd
# and a directory): a cluster serves them unchanged (cluster_test.sh runs memccapable).
# The router runs each round's memcached requests speculatively, then replays them
# against the round's store replies (frontend/memcache_face.h): pipelined text and
# binary exchanges and abusive clients go through that path, and a multi-get of
# thousands of keys runs a part a round (its peak RSS bounded as the server's).
for name in pymemcache_test pylibmc_test bad_input_test http_test multiget_memory_test; do
  BALE_CLUSTER=1 run_suite "$name"
done
skips_ok=1
"$here/../../scripts/check_skips" --skip-log "$BALE_SKIP_LOG" || skips_ok=0
skipped=$(grep -c '^SKIP ' "$BALE_SKIP_LOG" || true)
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$skips_ok" -eq 1 ]
