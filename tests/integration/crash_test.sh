#!/usr/bin/env bash
# SIGKILL `bale serve --durability sync` 20 times under 4 concurrent writers; after each
# restart nothing acknowledged is lost and nothing is torn (crash_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/crash_test.py" "$BALE" "$BALE_TMP" 20
