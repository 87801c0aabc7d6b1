#!/usr/bin/env bash
# The HTTP face against docs/http.md: every route and status, public URLs and cookies,
# ETag/Range, keep-alive and pipelining, limits, multipart batch upload, memcached <->
# HTTP, a 64 MiB object, /metrics and /status, restart, --http-public-only,
# --http-port 0 (http_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 120 "$py" "$here/http_test.py" "$BALE" "$BALE_TMP"
