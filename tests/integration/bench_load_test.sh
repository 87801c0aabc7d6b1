#!/usr/bin/env bash
# `bale bench load` (docs/bench.md) against a real `bale serve` with every memcached and
# HTTP protocol, against Debian's redis-server (redis) and against Debian's memcached
# (text, meta, binary): short runs with --json, checked for counts and correctness only,
# never for speed. Each run: no errors, values read and verified, every get a hit after
# --prefill, and in open loop exactly rate x duration requests. A value planted with a
# bad check (written raw before a get-only run without prefill) is reported as a verify
# error with exit status 1; a server that is not there ends the run before it starts,
# with status 2; Redis's error replies (-OOM) are server errors, exit status 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# load NAME PORT PROTOCOL [FLAGS...]: a one-second run, its JSON report in $BALE_TMP/NAME.json
# and its progress lines in NAME.err; returns its exit status.
load() {
  local name=$1 port=$2 protocol=$3 rc=0
  shift 3
  timeout 120 "$BALE" bench load --servers "127.0.0.1:$port" --protocol "$protocol" \
    --duration 1s --connections 4 --threads 2 --timeout 20s --json "$@" \
    > "$BALE_TMP/$name.json" 2> "$BALE_TMP/$name.err" || rc=$?
  return "$rc"
}

# expect NAME EXPR...: every EXPR (Python over the report `j`) holds, or the test fails
# showing the report.
expect() {
  local name=$1
  shift
  "$py" -c 'import json, sys
j = json.load(open(sys.argv[1]))
bad = [e for e in sys.argv[2:] if not eval(e)]
if bad:
    print("failed: %s\nreport: %s" % (bad, json.dumps(j, indent=1)))
    sys.exit(1)' "$BALE_TMP/$name.json" "$@" || fail "$name: see above; progress: $(cat "$BALE_TMP/$name.err")"
}

# free_port: a port on 127.0.0.1 that was free a moment ago.
free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID NAME: waits (at most 30 s) until PORT accepts, failing if PID exits.
wait_port() {
  local _
  for _ in $(seq 1 600); do
    "$py" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
      "$1" 2> /dev/null && return 0
    kill -0 "$2" 2> /dev/null || fail "$3 exited"
    sleep 0.05
  done
  fail "$3 did not listen on $1"
}

# A clean run of PROTOCOL on PORT: open loop with --prefill, then flat out with a pipeline.
clean_runs() {
  local tag=$1 port=$2 protocol=$3 rc
  rc=0
  load "$tag-open" "$port" "$protocol" --keys 300 --rate 400 --prefill || rc=$?
  [ "$rc" -eq 0 ] || fail "$tag-open: exit $rc: $(cat "$BALE_TMP/$tag-open.err")"
  expect "$tag-open" 'j["errors"]["total"] == 0' 'j["requests"] == 400' \
    'j["answered"] == 400' 'j["verified"] > 0' 'j["hits"] == j["verified"]' \
    'j["misses"] == 0' 'j["stored"] == j["sets"]' 'j["gets"] + j["sets"] == 400' \
    'j["prefill"]["stored"] == 300' 'j["prefill"]["errors"] == 0' 'j["mode"] == "open"'
  rc=0
  load "$tag-flat" "$port" "$protocol" --keys 300 --pipeline 4 --mix get:50,set:50 \
    --value-size uniform:16-3000 || rc=$?
  [ "$rc" -eq 0 ] || fail "$tag-flat: exit $rc: $(cat "$BALE_TMP/$tag-flat.err")"
  expect "$tag-flat" 'j["errors"]["total"] == 0' 'j["verified"] > 0' 'j["misses"] == 0' \
    'j["stored"] > 0' 'j["answered"] == j["requests"]' 'j["mode"] == "closed"'
  grep -q 'done/s' "$BALE_TMP/$tag-flat.err" || fail "$tag-flat: no progress line"
  echo "ok: $tag ($protocol) open loop and flat out"
}

bale_start "$BALE_TMP/data" --durability none --threads 2
clean_runs bale-text "$BALE_PORT" text
clean_runs bale-meta "$BALE_PORT" meta
clean_runs bale-binary "$BALE_PORT" binary
clean_runs bale-http "$BALE_HTTP_PORT" http

# A value that is not what the tool wrote: set raw, then read by a get-only run.
"$py" - "$BALE_PORT" << 'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"set planted:3 0 0 40\r\n" + b"x" * 40 + b"\r\n")
reply = s.recv(100)
assert reply == b"STORED\r\n", reply
PY
rc=0
load planted "$BALE_PORT" text --rate 200 --mix get:1 --keys 5 --key-prefix planted: || rc=$?
[ "$rc" -eq 1 ] || fail "planted: exit $rc, want 1: $(cat "$BALE_TMP/planted.err")"
expect planted 'j["errors"]["verify"] > 0' 'j["errors"]["verify"] == j["hits"]' \
  'j["verified"] == 0' 'j["misses"] > 0' 'j["errors"]["total"] == j["errors"]["verify"]' \
  'j["hits"] + j["misses"] == 200'
echo "ok: a planted value is a verify error, exit 1"

rc=0
bale_stop "$BALE_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "bale serve exited $rc after SIGTERM"
rc=0
load gone "$BALE_PORT" text || rc=$?
[ "$rc" -eq 2 ] || fail "no server: exit $rc, want 2"
grep -q "connect to 127.0.0.1:$BALE_PORT" "$BALE_TMP/gone.err" || fail "no server: $(cat "$BALE_TMP/gone.err")"
echo "ok: no server, exit 2"

# Redis (scripts/bootstrap installs redis-server and redis-tools): RESP2 GET and SET.
for tool in redis-server redis-cli; do
  command -v "$tool" > /dev/null || fail "$tool is missing: scripts/bootstrap installs it"
done
redis_port=$(free_port)
mkdir "$BALE_TMP/redis"
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$BALE_TMP/redis" --save '' \
  --appendonly no --daemonize no --protected-mode no > "$BALE_TMP/redis.out" 2>&1 &
redis_pid=$!
BALE_PIDS+=("$redis_pid")
wait_port "$redis_port" "$redis_pid" redis-server
rcli() { timeout 30 redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }
clean_runs redis "$redis_port" redis
[ "$(rcli SET planted:3 "$(printf 'x%.0s' $(seq 1 40))")" = OK ] || fail "redis-cli SET"
rc=0
load redis-planted "$redis_port" redis --rate 200 --mix get:1 --keys 5 --key-prefix planted: ||
  rc=$?
[ "$rc" -eq 1 ] || fail "redis-planted: exit $rc, want 1: $(cat "$BALE_TMP/redis-planted.err")"
expect redis-planted 'j["errors"]["verify"] > 0' 'j["errors"]["verify"] == j["hits"]' \
  'j["verified"] == 0' 'j["misses"] > 0' 'j["errors"]["total"] == j["errors"]["verify"]' \
  'j["hits"] + j["misses"] == 200' 'j["protocol"] == "redis"'
echo "ok: redis: a planted value is a verify error, exit 1"
# With maxmemory 1 byte and no eviction every SET is refused with -OOM: a server error.
[ "$(rcli CONFIG SET maxmemory 1)" = OK ] || fail "redis-cli CONFIG SET maxmemory"
rc=0
load redis-oom "$redis_port" redis --rate 200 --mix set:1 || rc=$?
[ "$rc" -eq 0 ] || fail "redis-oom: exit $rc, want 0: $(cat "$BALE_TMP/redis-oom.err")"
expect redis-oom 'j["errors"]["server_error"] == 200' 'j["errors"]["total"] == 200' \
  'j["answered"] == 200' 'j["stored"] == 0'
echo "ok: redis: -OOM replies are server errors, exit 0"
kill -TERM "$redis_pid"
wait "$redis_pid" 2> /dev/null || true

command -v memcached > /dev/null || {
  bale_skip memcached "no memcached to run against"
  exit 0
}
mc_port=$(free_port)
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)
memcached "${user[@]}" -l 127.0.0.1 -p "$mc_port" -U 0 -t 2 &
mc_pid=$!
BALE_EXTRA_CLEANUP="kill -KILL $mc_pid 2> /dev/null"
wait_port "$mc_port" "$mc_pid" memcached
clean_runs memcached-text "$mc_port" text
clean_runs memcached-meta "$mc_port" meta
clean_runs memcached-binary "$mc_port" binary
kill -TERM "$mc_pid"
wait "$mc_pid" 2> /dev/null || true
