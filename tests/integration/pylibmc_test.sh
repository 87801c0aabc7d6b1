#!/usr/bin/env bash
# The memcached binary protocol: pylibmc (binary=True) runs every call against a real
# `bale serve` and against Debian's memcached, and raw binary exchanges are compared
# byte for byte with memcached's (pylibmc_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=/usr/bin/python3
"$py" -c 'import pylibmc' 2> /dev/null ||
  fail "no python3 with pylibmc (scripts/bootstrap installs python3-pylibmc)"
command -v memcached > /dev/null || fail "no memcached to compare with (scripts/bootstrap)"
timeout 240 "$py" "$here/pylibmc_test.py" "$BALE" "$BALE_TMP"
