#!/usr/bin/env bash
# Formats kept: the golden data directories of earlier releases open and read back
# exactly (formats_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 240 "$py" "$here/formats_test.py" "$BALE" "$BALE_TMP"
