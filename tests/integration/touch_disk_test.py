#!/usr/bin/env python3
"""Touching a large object writes a small record, not a copy of the value.

Before, `gat 0 g g g ...` naming a 1 MB object 1,000 times appended 953 MB. Must hold:
1,000 gat and 1,000 touch of a 1 MB key add less than 1 MiB on disk, the object keeps
its value, flags and CAS unique, and its last expiry survives a clean restart and a
SIGKILL (--durability sync: TOUCHED means durable). Compaction of either needle is
covered by src/store/touch_test.cc.

Usage: touch_disk_test.py BALE TMPDIR
"""

import os
import signal
import sys

import balelib
from balelib import check, log

SIZE = 1 << 20
TIMES = 1000


def data_bytes(data):
    total = 0
    for root, _, files in os.walk(data):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


class Conn:
    def __init__(self, srv):
        self.s = srv.connect(timeout=60)
        self.buf = bytearray()

    def fill(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(4 << 20)
            if not chunk:
                raise ConnectionError("server closed")
            self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill(len(self.buf) + 1)
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    def take(self, n):
        self.fill(n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def ttl_and_value(self, key):
        """mg KEY t v c f: (ttl, cas, flags, value) or None."""
        self.s.sendall(b"mg %s t v c f\r\n" % key)
        head = self.line()
        if head == b"EN":
            return None
        parts = head.split()
        check(parts[0] == b"VA", "mg: %r" % head)
        flags = {p[:1]: int(p[1:]) for p in parts[2:]}
        value = self.take(int(parts[1]) + 2)[:-2]
        return flags[b"t"], flags[b"c"], flags[b"f"], value


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")
    args = ("--threads", "1", "--durability", "sync")
    srv = balelib.Server(bale, data, *args)
    value = os.urandom(SIZE)
    c = Conn(srv)
    c.s.sendall(b"set g 5 0 %d\r\n%s\r\ngets g\r\n" % (SIZE, value))
    check(c.line() == b"STORED", "set")
    head = c.line().split()
    cas = int(head[4])
    c.take(SIZE + 2)
    check(c.line() == b"END", "gets")
    before = data_bytes(data)

    c.s.sendall(b"gat 100000" + b" g" * TIMES + b"\r\n")
    for i in range(TIMES):
        line = c.line()
        check(line == b"VALUE g 5 %d" % SIZE, "gat value %d: %r" % (i, line[:60]))
        check(c.take(SIZE + 2)[:-2] == value, "gat value %d differs" % i)
    check(c.line() == b"END", "gat END")
    c.s.sendall(b"touch g 200000\r\n" * TIMES)
    for i in range(TIMES):
        check(c.line() == b"TOUCHED", "touch %d" % i)
    grew = data_bytes(data) - before
    log("%d gat + %d touch of a %d-byte object added %d bytes on disk" % (TIMES, TIMES, SIZE, grew))
    check(grew < (1 << 20), "touches added %d bytes (limit 1 MiB)" % grew)

    def expect(conn, ttl_from, ttl_to, what):
        got = conn.ttl_and_value(b"g")
        check(got is not None, "%s: g is gone" % what)
        ttl, got_cas, flags, got_value = got
        check(ttl_from <= ttl <= ttl_to, "%s: ttl %d, want %d..%d" % (what, ttl, ttl_from, ttl_to))
        check(got_cas == cas and flags == 5 and got_value == value,
              "%s: cas %d (want %d), flags %d, value intact %s"
              % (what, got_cas, cas, flags, got_value == value))

    expect(c, 199000, 200000, "after the touches")
    c.s.close()
    check(srv.stop() == 0, "clean stop")

    srv = balelib.Server(bale, data, *args)
    c = Conn(srv)
    expect(c, 199000, 200000, "after a clean restart")
    c.s.sendall(b"touch g 300000\r\n")
    check(c.line() == b"TOUCHED", "touch")
    os.kill(srv.pid, signal.SIGKILL)
    srv.proc.wait()
    srv = balelib.Server(bale, data, *args)
    c = Conn(srv)
    expect(c, 299000, 300000, "after SIGKILL")
    # A touch into the past expires it, for good.
    c.s.sendall(b"touch g -1\r\n")
    check(c.line() == b"TOUCHED", "touch -1")
    check(c.ttl_and_value(b"g") is None, "g outlived touch -1")
    c.s.close()
    check(srv.stop() == 0, "clean stop")
    srv = balelib.Server(bale, data, *args)
    c = Conn(srv)
    check(c.ttl_and_value(b"g") is None, "g came back after a restart")
    c.s.close()
    check(srv.stop() == 0, "clean stop")
    log("touch_disk_test: OK")


if __name__ == "__main__":
    main()
