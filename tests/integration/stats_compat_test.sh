#!/usr/bin/env bash
# stats and its subcommands, slabs, the counters and the smaller differences, against
# Debian's memcached byte for byte; pylibmc, python-memcached and pymemcache reading
# every stats kind (stats_compat_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
command -v memcached > /dev/null || { bale_skip memcached "no memcached to compare with"; exit 0; }
for m in pylibmc memcache; do
  "$py" -c "import $m" 2> /dev/null || {
    bale_skip "$m" "no python3 module $m (apt-get install python3-pylibmc python3-memcache)"
    exit 0
  }
done
timeout 120 "$py" "$here/stats_compat_test.py" "$BALE" "$BALE_TMP"
