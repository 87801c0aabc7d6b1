#!/usr/bin/env bash
# SIGTERM with pipelined sets: exit 0, nothing acknowledged lost, index.ckpt written at
# shutdown, restart reports exactly the stored objects (shutdown_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 240 "$py" "$here/shutdown_test.py" "$BALE" "$BALE_TMP"
