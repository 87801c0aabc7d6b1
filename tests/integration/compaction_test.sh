#!/usr/bin/env bash
# Space is reclaimed by itself and on request (compaction_test.py).

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/compaction_test.py" "$BALE" "$BALE_TMP"
