#!/usr/bin/env python3
"""Meta commands' flags, byte for byte against Debian's memcached (1.6.18).

Sends the same requests to a memcached and to `bale serve` and compares the replies,
with server-chosen numbers masked: CAS values are renamed in order of appearance (so
"the same CAS as before" still compares), TTLs (t) and idle seconds (l) may differ by
2. Covers N (vivify), R (recache), I (invalidate, md and ms), S (invalid in 1.6.18),
W/X/Z, h, l, t, c on EX/NS, T of 2^31 and more, the flags each command echoes, the
anti-stampede sequences (one client wins, the others get Z and serve the stale value),
then, on bale only, what 1.6.18 lacks (E explicit CAS, md x) and that a stale mark
survives a restart.

Usage: meta_flags_test.py BALE TMPDIR
"""

import os
import re
import signal
import sys

import balelib
from balelib import check, log


class Conn:
    """One client connection: request() sends bytes and returns the replies they got,
    read up to the "MN" of an "mn" sent after them (so quiet requests return b"")."""

    def __init__(self, port):
        self.s = balelib.connect(port)
        self.buf = b""

    def request(self, data):
        self.s.sendall(data + b"mn\r\n")
        while not (self.buf.endswith(b"MN\r\n")):
            chunk = self.s.recv(65536)
            check(chunk, "connection closed after %r" % data)
            self.buf += chunk
        out, self.buf = self.buf[:-4], b""
        return out


CAS_RE = re.compile(rb"(?<=[ \n])c(\d+)|^(VALUE \S+ \d+ \d+ )(\d+)", re.M)


class Masker:
    """Renames CAS values in order of appearance; collects t and l numbers apart."""

    def __init__(self):
        self.names = {}

    def cas(self, v):
        if v == b"0":
            return b"0"
        if v not in self.names:
            self.names[v] = b"#%d" % (len(self.names) + 1)
        return self.names[v]

    def mask(self, reply):
        def meta_token(m):
            if m.group(1) is not None:
                return b"c" + self.cas(m.group(1))
            return m.group(2) + self.cas(m.group(3))

        reply = CAS_RE.sub(meta_token, reply)
        numbers = []

        def timing(m):
            numbers.append(int(m.group(2)))
            return m.group(1) + b"~"

        reply = re.sub(rb"(?<= )([tl])(\d+)(?=[ \r])", timing, reply)
        return reply, numbers


class Pair:
    """The same clients on both servers."""

    def __init__(self, mc_port, bale_port, clients=1):
        self.mc = [Conn(mc_port) for _ in range(clients)]
        self.bale = [Conn(bale_port) for _ in range(clients)]
        self.mmask, self.bmask = Masker(), Masker()

    def same(self, data, client=0):
        """Sends data to both; checks the masked replies agree; returns bale's reply."""
        want = self.mc[client].request(data)
        got = self.bale[client].request(data)
        w, wn = self.mmask.mask(want)
        g, gn = self.bmask.mask(got)
        check(w == g and len(wn) == len(gn) and all(abs(a - b) <= 2 for a, b in zip(wn, gn)),
              "request %r (client %d):\n  memcached %r\n  bale      %r" % (data, client, want, got))
        return got


def cas_of(reply):
    m = re.search(rb" c(\d+)", reply)
    check(m, "no CAS in %r" % reply)
    return m.group(1)


def flag_sets(p):
    # What 1.6.18 accepts everywhere (flags without a meaning are ignored), what it
    # refuses (S included), and each command's error strings.
    p.same(b"ms fk 1 T0\r\n5\r\n")
    for cmd in [b"mg fk", b"md fk", b"ma fk"]:
        for flag in [b"S", b"S2", b"Q", b"w", b"cc"]:
            tok = b"c c" if flag == b"cc" else flag
            p.same(cmd + b" " + tok + b"\r\n")
        p.same(b"ms fk 1 T0\r\n5\r\n")
    p.same(b"ms fk 1 S1\r\n5\r\n")
    p.same(b"ms fk 1 c c\r\n5\r\n")
    p.same(b"mg fk D1 J1 L1 P1 M1 F1 I s v\r\n")
    p.same(b"ms fk 1 D1 J1 L1 P1 N30 R30 h l t u v f s\r\n6\r\n")
    p.same(b"mg fk v c f t s h l k O1 u\r\n")
    p.same(b"ma fk D1 c f t s h l k O2 u v\r\n")
    p.same(b"md fk c f t s h l k O3 v u\r\n")
    p.same(b"md fk k O4\r\n")  # NF echoes k and O
    p.same(b"mg fk k O5 c v\r\n")  # EN echoes k and O
    p.same(b"mg fk k O5 c v q\r\n")


def vivify(p):
    p.same(b"mg nk N30 s t c v f h l\r\n")
    p.same(b"mg nk N30 s t c v\r\n")
    p.same(b"mg nk s t v c\r\n")
    p.same(b"mg nq N30 q\r\n")
    p.same(b"mg nq N30 q\r\n")
    p.same(b"ma nc N0 J10 v c t\r\n")
    p.same(b"ma nc N0 J10 v c t\r\n")
    p.same(b"ma nx N2147483648 J1 v\r\n")
    p.same(b"mg nx v\r\n")


def recache(p):
    p.same(b"ms rk 2 T30\r\nhi\r\n")
    p.same(b"mg rk R10 t c\r\n")
    p.same(b"mg rk R60 t c v\r\n")
    p.same(b"mg rk R60 t c\r\n")
    p.same(b"mg rk t\r\n")
    p.same(b"ms rk 2 T30\r\nho\r\n")  # a new value: no token sent
    p.same(b"mg rk R60 t\r\n")
    p.same(b"ms rf 2 T0\r\nhi\r\n")
    p.same(b"mg rf R60 t c\r\n")


def invalidate(p):
    p.same(b"ms ik 2 T100\r\nv1\r\n")
    p.same(b"mg ik c\r\n")
    p.same(b"md ik I\r\n")
    p.same(b"mg ik t c v\r\n")
    p.same(b"mg ik t c v\r\n")
    p.same(b"md ik I T30 q\r\n")  # again: a new CAS, the token taken back
    p.same(b"mg ik t c v\r\n")
    p.same(b"md ik C1 I\r\n")
    p.same(b"md ik C1\r\n")
    p.same(b"ma ik C1 c\r\n")
    p.same(b"md nothere I\r\n")
    # ms I with a CAS older than the object's: stored, stale, TTL kept.
    p.same(b"ms is 2 T100\r\nv1\r\n")
    # The servers' CAS values differ: each gets its own in the requests below.
    pairs = [(conn, cas_of(conn.request(b"mg is c\r\n"))) for conn in (p.mc[0], p.bale[0])]
    p.same(b"ms is 2 T100\r\nv2\r\n")
    replies = []
    for conn, cas in pairs:
        replies.append([
            conn.request(b"ms is 2 C" + cas + b" c\r\nv3\r\n"),
            conn.request(b"ms is 2 I C" + cas + b" T5\r\nv4\r\n"),
            conn.request(b"mg is t v\r\n"),
            conn.request(b"mg is t v\r\n"),
            conn.request(b"ms is 2 I C99999999999999 c\r\nv5\r\n"),
            conn.request(b"ms is 2 I\r\nv6\r\n"),
            conn.request(b"mg is t v\r\n"),
        ])
    for i, (w, g) in enumerate(zip(*replies)):
        wm, wn = Masker().mask(w)
        gm, gn = Masker().mask(g)
        check(wm == gm and all(abs(a - b) <= 2 for a, b in zip(wn, gn)),
              "ms I step %d: memcached %r, bale %r" % (i, w, g))


def ttl_and_cas_flags(p):
    p.same(b"ms tk 1 T100\r\n1\r\n")
    p.same(b"mg tk t v\r\n")
    p.same(b"ms tn 1\r\n1\r\n")
    p.same(b"mg tn t v\r\n")
    p.same(b"ma tn t c v\r\n")
    p.same(b"ma tn T50 t c v\r\n")
    p.same(b"ms tk 1 C1 c k O1\r\n2\r\n")  # EX c0
    p.same(b"ms tk 1 ME c\r\n2\r\n")  # NS c0
    p.same(b"ms tmissing 1 MR c\r\n2\r\n")
    p.same(b"ms tmissing 1 MA N30 c\r\n2\r\n")  # 1.6.18 accepts N and still answers NS
    p.same(b"mg tmissing v\r\n")
    p.same(b"ms tk 1 T100 c\r\n3\r\n")
    # T of 2^31 and more: a 32-bit signed TTL, as memcached reads it.
    p.same(b"ms tb 1 T2147483648\r\nx\r\n")
    p.same(b"mg tb v\r\n")
    p.same(b"ms tb 1 T4294967295\r\nx\r\n")
    p.same(b"mg tb v\r\n")
    p.same(b"ms tb 1 T4294967296\r\nx\r\n")
    p.same(b"mg tb v t\r\n")
    p.same(b"ms tb 1 T18446744073709551615\r\nx\r\n")
    p.same(b"ms tb 1 T-1\r\nx\r\n")
    p.same(b"mg tb v\r\n")
    p.same(b"ms tc 1 T100\r\nx\r\n")
    p.same(b"mg tc T2147483648 v\r\n")
    p.same(b"mg tc v\r\n")
    p.same(b"ma tc N30 J1 v t\r\n")
    p.same(b"ma tc T2147483648 v\r\n")
    p.same(b"mg tc v\r\n")


def hit_and_last_access(p):
    p.same(b"ms hk 1 T100\r\n1\r\n")
    p.same(b"mg hk h l u\r\n")
    p.same(b"mg hk h l v\r\n")
    p.same(b"mg hk h l v\r\n")
    p.same(b"mg hk h l\r\n")


def stampede(mc_port, bale_port):
    p = Pair(mc_port, bale_port, clients=3)
    # Vivify: the first client of a missing key wins, the others wait (Z).
    p.same(b"mg sv N30 c t v\r\n", 0)
    p.same(b"mg sv N30 c t v\r\n", 1)
    p.same(b"mg sv N30 c t v\r\n", 2)
    p.same(b"ms sv 5 T30\r\nfresh\r\n", 0)
    for c in range(3):
        p.same(b"mg sv t v\r\n", c)
    # Invalidate: the first reader wins the recompute; the others serve stale (Z X).
    p.same(b"ms st 3 T100\r\nold\r\n", 0)
    p.same(b"md st I\r\n", 2)
    won = p.same(b"mg st c t v\r\n", 1)
    check(b" W" in won and b" X" in won, "winner %r" % won)
    for c in (2, 0):
        served = p.same(b"mg st c t v\r\n", c)
        check(b" Z X" in served and b"old" in served, "stale reader %r" % served)
    p.same(b"ms st 3 T100\r\nnew\r\n", 1)
    for c in range(3):
        p.same(b"mg st c t v\r\n", c)
    # Recache: the first to see a TTL below its token wins.
    p.same(b"ms sr 1 T20\r\nr\r\n", 0)
    p.same(b"mg sr R30 v\r\n", 2)
    p.same(b"mg sr R30 v\r\n", 0)
    p.same(b"mg sr R30 v\r\n", 1)


def bale_only(srv, data):
    """E and md x (memcached 1.6.18 refuses both; later releases have them), and a
    stale mark that survives a restart."""
    c = Conn(srv.port)
    check(c.request(b"ms ek 2 T0\r\nv1\r\n") == b"HD\r\n", "ms ek")
    cas = int(cas_of(c.request(b"mg ek c\r\n")))
    explicit = cas + (1 << 40)
    got = c.request(b"ms ek 2 E%d c\r\nv2\r\n" % explicit)
    check(got == b"HD c%d\r\n" % explicit, "ms E: %r" % got)
    got = c.request(b"gets ek\r\n")
    check(got == b"VALUE ek 0 2 %d\r\nv2\r\nEND\r\n" % explicit, "gets after E: %r" % got)
    got = c.request(b"mg ek c v\r\n")
    check(got == b"VA 2 c%d\r\nv2\r\n" % explicit, "mg c after E: %r" % got)
    got = c.request(b"ms ek 2 C%d c\r\nv3\r\n" % explicit)
    check(got.startswith(b"HD c") and int(cas_of(got)) > explicit, "cas after E: %r" % got)
    got = c.request(b"ms ek 2 E5 c\r\nv4\r\n")
    check(got.startswith(b"CLIENT_ERROR"), "E below the partition's versions: %r" % got)
    got = c.request(b"ma en N0 J3 E%d c v\r\n" % (explicit + 7))
    check(got == b"VA 1 c%d\r\n3\r\n" % (explicit + 7), "ma E: %r" % got)
    got = c.request(b"mg ev N30 E%d c v\r\n" % (explicit + 9))
    check(got == b"VA 0 c%d W\r\n\r\n" % (explicit + 9), "mg N E: %r" % got)
    check(c.request(b"ms xk 5 F9 T100\r\nvalue\r\n") == b"HD\r\n", "ms xk")
    check(c.request(b"md xk x\r\n") == b"HD\r\n", "md x")
    got = c.request(b"mg xk f s v t\r\n")
    check(re.fullmatch(rb"VA 0 f0 s0 t(9[89]|100)\r\n\r\n", got), "after md x: %r" % got)
    # A stale mark is on disk: it survives a restart (the win token does not).
    check(c.request(b"ms durable 3 T0\r\nold\r\n") == b"HD\r\n", "ms durable")
    check(c.request(b"md durable I\r\n") == b"HD\r\n", "md durable I")
    got = c.request(b"mg durable v\r\n")
    check(got == b"VA 3 X W\r\nold\r\n", "stale before restart: %r" % got)
    srv.stop()
    srv2 = balelib.Server(srv.bale, data)
    c = Conn(srv2.port)
    got = c.request(b"mg durable v\r\n")
    check(got == b"VA 3 X W\r\nold\r\n", "stale after restart: %r" % got)
    got = c.request(b"mg durable v\r\n")
    check(got == b"VA 3 Z X\r\nold\r\n", "stale after restart, second reader: %r" % got)
    got = c.request(b"mg ek c v\r\n")
    check(got.startswith(b"VA 2 c") and int(cas_of(got)) > explicit, "E after restart: %r" % got)
    srv2.stop()


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    mc, mc_port = balelib.start_memcached("-t", "1", "-m", "64")
    data = os.path.join(tmp, "meta-data")
    srv = balelib.Server(bale, data)
    try:
        p = Pair(mc_port, srv.port)
        for step in (flag_sets, vivify, recache, invalidate, ttl_and_cas_flags,
                     hit_and_last_access):
            log("meta_flags: " + step.__name__)
            step(p)
        log("meta_flags: stampede")
        stampede(mc_port, srv.port)
        log("meta_flags: bale only (E, x, a stale mark across a restart)")
        bale_only(srv, data)
    finally:
        mc.send_signal(signal.SIGTERM)
        mc.wait(10)
    log("meta_flags: OK")


if __name__ == "__main__":
    main()
