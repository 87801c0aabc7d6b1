#!/usr/bin/env bash
# --io-uring: on by default where the kernel allows it, reported on start and in
# `stats settings`; off means plain system calls, and says so.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"

settings() {  # PORT: prints bale_io_uring from `stats settings`
  python3 - "$1" << 'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"stats settings\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("connection closed before END: %r" % buf)
    buf += chunk
for line in buf.decode().split("\r\n"):
    if line.startswith("STAT bale_io_uring "):
        print(line.split()[2])
PY
}

# Not overridable here: this test is about the option itself.
unset BALE_SERVE_ARGS
bale_start "$BALE_TMP/on"
got=$(settings "$BALE_PORT")
if grep -q '^bale serve: socket I/O batched with io_uring$' "$BALE_OUT"; then
  [ "$got" = yes ] || fail "started with io_uring but stats settings says '$got'"
elif grep -q '^bale serve: io_uring refused (' "$BALE_OUT"; then
  [ "$got" = no ] || fail "io_uring refused but stats settings says '$got'"
  bale_skip io_uring-on "this kernel refuses io_uring ($(grep -m 1 'io_uring refused' "$BALE_OUT")): the io_uring path is untested"
else
  fail "no io_uring line on start: $(cat "$BALE_OUT")"
fi
bale_stop "$BALE_PID"

bale_start "$BALE_TMP/off" --io-uring off
[ "$(settings "$BALE_PORT")" = no ] || fail "--io-uring off but stats settings says yes"
if grep -q 'io_uring' "$BALE_OUT"; then fail "--io-uring off still reports io_uring: $(cat "$BALE_OUT")"; fi
bale_stop "$BALE_PID"

if "$BALE" serve --data "$BALE_TMP/bad" --port 0 --http-port 0 --io-uring maybe > "$BALE_TMP/bad.out" 2>&1; then
  fail "--io-uring maybe was accepted"
fi
grep -q 'io-uring' "$BALE_TMP/bad.out" || fail "no error naming --io-uring: $(cat "$BALE_TMP/bad.out")"
echo "io_uring_test: ok"
