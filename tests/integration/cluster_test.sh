#!/usr/bin/env bash
# A real cluster on loopback (cluster_test.py): etcd, two directories, three (then four)
# stores and a router; memccapable through the router, placement, failures and restarts
# of every role, bad input on the internal port, etcd's load against client load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/cluster_test.py" "$BALE" "$BALE_TMP"
