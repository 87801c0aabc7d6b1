#!/usr/bin/env bash
# Integration tests that run the real `bale` executable. Usage: run.sh path/to/bale
set -euo pipefail
bale=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0

# run_suite NAME [SERVE OPTIONS]: runs NAME.sh, its servers started with those options too.
run_suite() {
  local name=$1 options=${2:-} label=$1 t0=$SECONDS
  [ -n "$options" ] && label="$name ($options)"
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
for name in memccapable_test pymemcache_test bad_input_test http_test; do
  run_suite "$name" "--io-uring off"
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
