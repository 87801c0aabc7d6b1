#!/usr/bin/env bash
# Touching a 1 MB object 2,000 times adds small records, and the expiry survives
# restarts and SIGKILL (touch_disk_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/touch_disk_test.py" "$BALE" "$BALE_TMP"
