#!/usr/bin/env bash
# pymemcache against a real `bale serve`, then durability across a restart
# (pymemcache_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 240 "$py" "$here/pymemcache_test.py" "$BALE" "$BALE_TMP"
