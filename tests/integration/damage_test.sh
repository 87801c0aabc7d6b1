#!/usr/bin/env bash
# Damage is contained and reported: a damaged superblock, FLUSH marker, a deleted
# segment and bad records in a head, one partition each; then a FLUSH_ALL damaged in its
# header and in one partition's rule (damage_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/damage_test.py" "$BALE" "$BALE_TMP"
