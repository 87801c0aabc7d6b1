#!/usr/bin/env bash
# Integration tests that run the real `bale` executable. Usage: run.sh path/to/bale
set -euo pipefail
bale=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0
for t in "$here"/*_test.sh; do
  name=$(basename "$t" .sh)
  if timeout 300 bash "$t" "$bale"; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
  fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
