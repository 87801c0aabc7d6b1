#!/usr/bin/env bash
# 100,000 guesses of public URLs with random wrong cookies: none may be answered 200
# (http_cookie_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
timeout 120 "$py" "$here/http_cookie_test.py" "$BALE" "$BALE_TMP"
