#!/usr/bin/env bash
# One owner per data directory: while `bale serve` has it, a second `bale serve` and
# `bale verify` refuse to start, naming the directory and the owner's pid, and the
# owner goes on serving what it acknowledged; once it has stopped, both work.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"

# mc PORT REQUEST LINES: sends one request, prints the first LINES lines of the reply
# (bounded in time).
mc() {
  timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$0; printf "$1" >&3
    for ((i = 0; i < $2; i++)); do IFS= read -r l <&3; echo "$l"; done' "$1" "$2" "$3"
}

data="$BALE_TMP/data"
bale_start "$data" --threads 1
owner=$BALE_PID
owner_port=$BALE_PORT
mc "$owner_port" 'set owned 0 0 3\r\nabc\r\n' 1 | grep -q STORED || fail "the owner did not store"

set +e
timeout 30 "$BALE" serve --data "$data" --listen 127.0.0.1 --port 0 --http-port 0 \
  > "$BALE_TMP/second.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a second bale serve on $data started (exit 0)"
[ "$rc" -ne 124 ] || fail "a second bale serve on $data was still running after 30 s"
grep -q "$data" "$BALE_TMP/second.out" || fail "the refusal does not name $data: $(cat "$BALE_TMP/second.out")"
grep -q "process $owner" "$BALE_TMP/second.out" \
  || fail "the refusal does not name the owner's pid $owner: $(cat "$BALE_TMP/second.out")"

set +e
timeout 30 "$BALE" verify --data "$data" > "$BALE_TMP/verify.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "bale verify on an owned directory exited $rc, want 2: $(cat "$BALE_TMP/verify.out")"
grep -q "process $owner" "$BALE_TMP/verify.out" || fail "verify's refusal: $(cat "$BALE_TMP/verify.out")"

# The owner is unharmed and still answers.
mc "$owner_port" 'get owned\r\n' 2 | grep -q '^abc' \
  || fail "the owner lost its object"
rc=0
bale_stop "$owner" || rc=$?
[ "$rc" -eq 0 ] || fail "the owner exited $rc"

"$BALE" verify --data "$data" > "$BALE_TMP/verify2.out" || fail "verify after stop: $(cat "$BALE_TMP/verify2.out")"
bale_start "$data" --threads 1
mc "$BALE_PORT" 'get owned\r\n' 2 | grep -q '^abc' \
  || fail "the object is gone after the owner changed"
bale_stop "$BALE_PID"
