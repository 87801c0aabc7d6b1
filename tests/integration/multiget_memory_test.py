#!/usr/bin/env python3
"""A multi-get naming an object thousands of times never has its reply built whole.

`get a a a ...` with a 1 MB `a` named 3,000 times is a 3 GB reply. Before, the server
built it in memory (RSS grew by gigabytes, or it died of bad_alloc) and held the loop's
other clients meanwhile. Values of 64 KiB or more go out by reference (sendfile from
their segment); smaller ones are copied into the reply, so the reply is answered a part
at a time as the client reads (a 65,000-byte value named 5,000 times grew peak RSS by
508 MiB before that; a 4 KiB value named 262,144 times is a 1 GiB reply). Must hold, for
each: every value arrives intact, the server's peak RSS (VmHWM) grows by less than
64 MiB, and another client on the same event loop is answered while that reply is still
being sent (here: while its reader has stopped reading). Pipelined single-key requests
(meta `mg`, binary GETK) are held to the same bound. run.sh runs it through a router too
(BALE_CLUSTER=1: the router's peak RSS, its values fetched from the stores).

Usage: multiget_memory_test.py BALE TMPDIR
"""

import os
import socket
import struct
import sys

import balelib
from balelib import check, log

MIB = 1 << 20
LIMIT_MIB = 64
# (value size, times named): by sendfile; copied, as the review measured; copied,
# a reply of 1 GiB of values.
CASES = [(1048000, 3000), (65000, 5000), (4096, 262144)]
PIPELINED = 2000  # mg, and binary GETK, requests of the 65,000-byte value in one send


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


class Reader:
    """Reads a reply stream into a reusable buffer."""

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

    def expect_repeated(self, block, times, what):
        """`block` `times` times over, compared some megabytes at a time."""
        per = max(1, (4 * MIB) // len(block))
        done = 0
        while done < times:
            n = min(per, times - done)
            got = self.take(len(block) * n)
            if got != block * n:
                for i in range(n):
                    check(got[i * len(block):(i + 1) * len(block)] == block,
                          "%s: reply %d differs: %r" % (what, done + i,
                                                        bytes(got[i * len(block):][:80])))
            done += n


def other_client_answered(srv, what):
    with srv.connect(timeout=60) as other:
        other.sendall(b"get small\r\n")
        got = balelib.recv_until(other, b"END\r\n")
        check(got == b"VALUE small 0 2\r\nok\r\nEND\r\n", "%s: other client: %r" % (what, got[:100]))


def streamed(srv, what, request, block, times, end):
    """Sends `request` on a fresh connection that then reads `block` `times` times over and
    the line `end`; another client must be answered once the first block has come."""
    s = srv.connect(timeout=120)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 10)
    s.sendall(request)
    reader = Reader(s)
    reader.expect_repeated(block, 1, what)
    # The reply is far from sent (its reader has stopped); another client on the same
    # (only) event loop must be answered now.
    other_client_answered(srv, what)
    reader.expect_repeated(block, times - 1, what)
    check(reader.line() == end, "%s: no %s" % (what, end))
    s.close()
    return what


def multi_get(srv, key, value, times):
    return streamed(srv, "get of %d bytes x %d" % (len(value), times),
                    b"get" + (b" " + key) * times + b"\r\n",
                    b"VALUE %s 0 %d\r\n%s\r\n" % (key, len(value), value), times, b"END")


def pipelined_meta(srv, key, value, times):
    return streamed(srv, "%d pipelined mg of %d bytes" % (times, len(value)),
                    b"mg %s v\r\n" % key * times + b"mn\r\n",
                    b"VA %d\r\n%s\r\n" % (len(value), value), times, b"MN")


def pipelined_binary(srv, key, value, times):
    what = "%d pipelined binary GETK of %d bytes" % (times, len(value))
    s = srv.connect(timeout=120)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 10)
    # GETK (0x0c): magic, opcode, key length, extras 0, type 0, vbucket 0, body, opaque, cas.
    request = struct.pack(">BBHBBHIIQ", 0x80, 0x0C, len(key), 0, 0, 0, len(key), 0, 0) + key
    s.sendall(request * times)
    reader = Reader(s)
    # The reply: 24-byte header, 4 bytes of flags (0), the key, the value.
    body = 4 + len(key) + len(value)
    block = None
    for i in range(times):
        header = bytes(reader.take(24))
        magic, opcode, key_len, extras, _, status, body_len = struct.unpack(">BBHBBHI",
                                                                            header[:12])
        check(magic == 0x81 and opcode == 0x0C and status == 0 and extras == 4
              and key_len == len(key) and body_len == body,
              "%s: reply %d header %r" % (what, i, header))
        got = reader.take(body)
        if block is None:
            block = got
            check(bytes(got) == b"\0\0\0\0" + key + value, "%s: first value differs" % what)
            other_client_answered(srv, what)
        else:
            check(got == block, "%s: value %d differs" % (what, i))
    s.close()
    return what


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    srv = balelib.Server(bale, os.path.join(tmp, "data"), "--threads", "1")
    values = {}
    with srv.connect(timeout=60) as s:
        r = Reader(s)
        s.sendall(b"set small 0 0 2\r\nok\r\n")
        check(r.line() == b"STORED", "set small failed")
        for size, _ in CASES:
            key = b"v%d" % size
            values[size] = os.urandom(size)
            s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, size, values[size]))
            check(r.line() == b"STORED", "set %s failed" % key)
            # Warm: the value's pages are in the page cache and mapped.
            s.sendall(b"get %s\r\n" % key)
            check(r.line() == b"VALUE %s 0 %d" % (key, size), "warm get %s" % key)
            check(bytes(r.take(size + 2)) == values[size] + b"\r\n" and r.line() == b"END",
                  "warm get %s value" % key)
    start = vm_hwm_kb(srv.pid)

    runs = [lambda size=size, times=times: multi_get(srv, b"v%d" % size, values[size], times)
            for size, times in CASES]
    runs.append(lambda: pipelined_meta(srv, b"v65000", values[65000], PIPELINED))
    runs.append(lambda: pipelined_binary(srv, b"v65000", values[65000], PIPELINED))
    failures = []
    for run in runs:
        before = vm_hwm_kb(srv.pid)
        what = run()
        after = vm_hwm_kb(srv.pid)
        grew = (after - before) / 1024.0
        log("%s: every value intact, another client answered meanwhile; VmHWM %.1f MiB -> "
            "%.1f MiB (+%.1f MiB)" % (what, before / 1024.0, after / 1024.0, grew))
        if grew >= LIMIT_MIB:
            failures.append("%s: peak RSS grew by %.1f MiB" % (what, grew))
    total = (vm_hwm_kb(srv.pid) - start) / 1024.0
    log("VmHWM grew by %.1f MiB over them all" % total)
    check(not failures and total < LIMIT_MIB,
          "peak RSS grew by %d MiB or more: %s (%.1f MiB in all)"
          % (LIMIT_MIB, "; ".join(failures) or "-", total))
    balelib.roundtrip(srv.port)
    check(srv.stop() == 0, "bale serve did not exit 0")


if __name__ == "__main__":
    main()
