#!/usr/bin/env bash
# A multi-get naming a 1 MB object 3,000 times streams it: bounded peak RSS, other
# clients served meanwhile, every value intact (multiget_memory_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/multiget_memory_test.py" "$BALE" "$BALE_TMP"
