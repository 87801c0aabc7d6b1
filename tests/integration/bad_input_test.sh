#!/usr/bin/env bash
# Abusive clients (garbage, overlong lines, half requests, 2000 idle connections, a
# client that never reads, --max-connections) against a real `bale serve`, while a
# well-behaved client is still served (bad_input_test.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
# 2000 idle connections: both the test and the server need the fds.
want=4096
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$want" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
    ulimit -Sn "$want"
  else
    ulimit -Sn "$hard"
  fi
fi
py=$(bale_python)
timeout 240 "$py" "$here/bad_input_test.py" "$BALE" "$BALE_TMP"
