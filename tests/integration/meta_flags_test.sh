#!/usr/bin/env bash
# Meta flags compared byte for byte with Debian's memcached (meta_flags_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
if ! command -v memcached > /dev/null; then
  bale_skip memcached "no memcached to compare with (apt-get install memcached)"
  exit 0
fi
timeout 280 python3 "$here/meta_flags_test.py" "$BALE" "$BALE_TMP"
