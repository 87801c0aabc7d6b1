#!/usr/bin/env bash
# SIGKILL `bale serve --durability sync` during HTTP PUT and batch uploads; every
# acknowledged object must read back after restart (http_crash_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 180 "$py" "$here/http_crash_test.py" "$BALE" "$BALE_TMP" 5
