#!/usr/bin/env bash
# The memory bound on HTTP uploads: --http-body-budget, 503 + Retry-After past it, shares
# given back on every path, and 60 concurrent 60 MiB uploads under 512 MiB of peak RSS
# with default flags, all read back identical (http_body_budget_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 280 "$py" "$here/http_body_budget_test.py" "$BALE" "$BALE_TMP"
