#!/usr/bin/env python3
"""A multi-get naming a large object thousands of times streams it from the segment.

`get a a a ...` with a 1 MB `a` named 3,000 times is a 3 GB reply. Before, the server
built it in memory (RSS grew by gigabytes, or it died of bad_alloc) and held the loop's
other clients meanwhile. Must hold: every value arrives intact, the server's peak RSS
(VmHWM) grows by less than 64 MiB, and another client on the same event loop is answered
while that reply is still being sent (here: while its reader has stopped reading).

Usage: multiget_memory_test.py BALE TMPDIR
"""

import os
import socket
import sys

import balelib
from balelib import check, log

SIZE = 1048000
TIMES = 3000
MIB = 1 << 20


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


class Reader:
    """Reads a memcached reply stream into a reusable buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(4 * MIB)
            if not chunk:
                raise ConnectionError("server closed after %d buffered bytes" % len(self.buf))
            self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self.fill(len(self.buf) + 1)

    def take(self, n):
        self.fill(n)
        out = self.buf[:n]
        del self.buf[:n]
        return out


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    srv = balelib.Server(bale, os.path.join(tmp, "data"), "--threads", "1")
    value = os.urandom(SIZE)
    with srv.connect(timeout=60) as s:
        s.sendall(b"set a 0 0 %d\r\n%s\r\nset small 0 0 2\r\nok\r\n" % (SIZE, value))
        r = Reader(s)
        check(r.line() == b"STORED" and r.line() == b"STORED", "set failed")
        s.sendall(b"get a\r\n")  # warm: the value's pages are in the page cache and mapped
        check(r.line() == b"VALUE a 0 %d" % SIZE, "warm get")
        check(bytes(r.take(SIZE + 2)) == value + b"\r\n" and r.line() == b"END", "warm get value")
    before = vm_hwm_kb(srv.pid)

    big = srv.connect(timeout=120)
    big.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 10)
    big.sendall(b"get" + b" a" * TIMES + b"\r\n")
    reader = Reader(big)
    check(reader.line() == b"VALUE a 0 %d" % SIZE, "first VALUE line")
    check(bytes(reader.take(SIZE)) == value, "first value differs")

    # The big reply is far from sent (its reader has stopped); another client on the
    # same (only) event loop must be answered now.
    with srv.connect(timeout=60) as other:
        other.sendall(b"get small\r\n")
        got = balelib.recv_until(other, b"END\r\n")
        check(got == b"VALUE small 0 2\r\nok\r\nEND\r\n", "other client: %r" % got[:100])
    log("another client was answered while the 3 GB reply was still being sent")

    check(reader.take(2) == b"\r\n", "first value's end")
    for i in range(1, TIMES):
        line = reader.line()
        check(line == b"VALUE a 0 %d" % SIZE, "value %d: header %r" % (i, line[:80]))
        check(reader.take(SIZE) == value, "value %d differs" % i)
        check(reader.take(2) == b"\r\n", "value %d: no CRLF" % i)
    check(reader.line() == b"END", "no END after %d values" % TIMES)
    big.close()
    after = vm_hwm_kb(srv.pid)
    grew = (after - before) / 1024.0
    log("%d values of %d bytes read back intact; VmHWM %.1f MiB -> %.1f MiB (+%.1f MiB)"
        % (TIMES, SIZE, before / 1024.0, after / 1024.0, grew))
    check(grew < 64, "peak RSS grew by %.1f MiB (limit 64 MiB)" % grew)
    balelib.roundtrip(srv.port)
    check(srv.stop() == 0, "bale serve did not exit 0")


if __name__ == "__main__":
    main()
