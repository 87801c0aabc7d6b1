#!/usr/bin/env bash
# The cluster handshake between real processes (cluster_auth_test.py): etcd, a directory,
# three stores and a router sharing a secret; a store's port refuses a frame sent without
# the handshake; the safe default on a non-loopback --listen, and --insecure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 200 "$py" "$here/cluster_auth_test.py" "$BALE" "$BALE_TMP"
