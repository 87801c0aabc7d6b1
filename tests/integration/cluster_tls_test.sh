#!/usr/bin/env bash
# TLS on the internal links between real processes (cluster_tls_test.py): etcd, a
# directory, three TLS stores asking for client certificates and a router presenting its
# own, with a secret; bad peers (another CA, no certificate, plain TCP, stalled
# handshakes) refused, logged and counted while the router serves; bad TLS flags.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 200 "$py" "$here/cluster_tls_test.py" "$BALE" "$BALE_TMP"
