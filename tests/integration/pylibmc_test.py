"""The memcached binary protocol against a real `bale serve`, side by side with Debian's
memcached (1.6.18, started here on a free port):

1. pylibmc (libmemcached) with binary=True runs every call (get, set, add, replace,
   append, prepend, incr, decr, delete, get_multi, set_multi, delete_multi, touch,
   gets/cas, flush_all, get_stats) against both servers; the values read back are
   asserted, and what every call returned (or raised) must be the same on both.
2. Raw exchanges: the same request bytes go to both servers and the reply bytes must be
   identical, CAS values masked (the two servers number their writes differently) and
   the version string aside.

Usage: pylibmc_test.py BALE TMPDIR
"""

import os
import struct
import sys
import time

import pylibmc

from balelib import WAIT_S, Server, check, connect, log, start_memcached

BIG = bytes(range(256)) * 800  # 200 KiB: sent by sendfile from its segment


def client(port):
    return pylibmc.Client(["127.0.0.1:%d" % port], binary=True,
                          behaviors={"cas": True, "connect_timeout": int(WAIT_S * 1000),
                                     "receive_timeout": int(WAIT_S * 1e6),
                                     "send_timeout": int(WAIT_S * 1e6)})


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got if not isinstance(got, bytes) or
                                                len(got) < 100 else got[:100] + b"...", want))


def scenario(c):
    """Every call; asserts what must be read back and returns what each call gave."""
    seen = []

    def do(what, f, *args, **kw):
        try:
            r = f(*args, **kw)
        except pylibmc.Error as e:
            r = "raised %s" % type(e).__name__
        seen.append((what, r if what != "gets" else (r[0], "cas")))
        return r

    eq(do("flush_all", c.flush_all), True, "flush_all")
    eq(do("set", c.set, "a", b"1"), True, "set a")
    eq(do("get", c.get, "a"), b"1", "get a")
    do("add existing", c.add, "a", b"x")
    eq(c.get("a"), b"1", "a after add of an existing key")
    eq(do("add", c.add, "b", b"new"), True, "add b")
    eq(do("get b", c.get, "b"), b"new", "get b")
    eq(do("replace", c.replace, "a", b"2"), True, "replace a")
    eq(c.get("a"), b"2", "a after replace")
    do("replace missing", c.replace, "missing", b"x")
    eq(c.get("missing"), None, "missing after replace")
    eq(do("append", c.append, "a", b"x"), True, "append")
    eq(do("prepend", c.prepend, "a", b"<"), True, "prepend")
    eq(c.get("a"), b"<2x", "a after append and prepend")
    do("append missing", c.append, "missing", b"x")
    eq(c.get("missing"), None, "missing after append")

    c.set("n", b"10")
    eq(do("incr", c.incr, "n", 5), 15, "incr")
    eq(do("decr", c.decr, "n", 20), 0, "decr floors at 0")
    eq(do("incr 1", c.incr, "n"), 1, "incr by 1")
    # memcached may pad a shortened number with spaces (protocol.txt allows it).
    eq(c.get("n").rstrip(), b"1", "n after incr/decr")
    do("incr missing", c.incr, "nothing", 1)
    do("decr missing", c.decr, "nothing", 1)
    eq(c.get("nothing"), None, "incr of a missing key creates nothing")
    c.set("word", b"abc")
    do("incr non-numeric", c.incr, "word", 1)

    eq(do("delete", c.delete, "a"), True, "delete a")
    do("delete again", c.delete, "a")
    eq(do("get deleted", c.get, "a"), None, "get a after delete")

    items = {"m1": b"one", "m2": b"two", "m3": b"three"}
    eq(do("set_multi", c.set_multi, items), [], "set_multi failures")
    eq(do("get_multi", c.get_multi, ["m1", "m2", "m3", "nope"]), items, "get_multi")
    eq(do("delete_multi", c.delete_multi, ["m1", "m2"]), True, "delete_multi")
    eq(do("get_multi after", c.get_multi, ["m1", "m2", "m3"]), {"m3": b"three"}, "get_multi")
    # add_multi answers the keys it could not add (m3 exists); incr_multi has no answer.
    do("add_multi", c.add_multi, {"m3": b"taken", "a1": b"new1", "a2": b"new2"})
    eq(do("get_multi after add_multi", c.get_multi, ["m3", "a1", "a2"]),
       {"m3": b"three", "a1": b"new1", "a2": b"new2"}, "get_multi after add_multi")
    c.set_multi({"c1": b"1", "c2": b"20"})
    do("incr_multi", c.incr_multi, ["c1", "c2", "c-missing"], delta=3)
    got = do("get_multi after incr_multi", c.get_multi, ["c1", "c2", "c-missing"])
    eq({k: v.rstrip() for k, v in got.items()}, {"c1": b"4", "c2": b"23"},
       "get_multi after incr_multi")

    eq(do("touch", c.touch, "m3", 100), True, "touch")
    do("touch missing", c.touch, "nope", 100)
    eq(c.get("m3"), b"three", "m3 after touch")

    value, token = do("gets", c.gets, "m3")
    eq(value, b"three", "gets value")
    check(isinstance(token, int) and token != 0, "gets cas token %r" % token)
    eq(do("cas", c.cas, "m3", b"swapped", token), True, "cas with a fresh token")
    do("cas stale", c.cas, "m3", b"stale", token)
    eq(c.get("m3"), b"swapped", "m3 after cas")

    eq(do("set big", c.set, "big", BIG), True, "set 200 KiB")
    eq(do("get big", c.get, "big"), BIG, "get 200 KiB")
    eq(do("get_multi big", c.get_multi, ["big", "m3"]), {"big": BIG, "m3": b"swapped"},
       "get_multi with a big value")
    eq(do("set int", c.set, "int", 42), True, "set an int (flags say so)")
    eq(do("get int", c.get, "int"), 42, "get an int")
    key250 = "k" * 250
    eq(do("set 250", c.set, key250, b"long key"), True, "set a 250-byte key")
    eq(do("get 250", c.get, key250), b"long key", "get a 250-byte key")
    eq(do("set ttl", c.set, "ttl", b"short", time=1), True, "set with a 1 s expiry")

    stats = c.get_stats()
    check(len(stats) == 1, "get_stats: %r" % stats)
    for k in ("pid", "version", "curr_connections", "cmd_get", "get_hits"):
        check(k in stats[0][1], "get_stats() lacks %r: %r" % (k, sorted(stats[0][1])))
    check(int(stats[0][1]["get_hits"]) > 0, "get_hits %r" % stats[0][1]["get_hits"])
    # With a group libmemcached fills only its fixed fields; it must not fail.
    eq(len(c.get_stats("settings")), 1, "get_stats('settings')")
    seen.append(("get_stats", "ok"))

    time.sleep(2.1)
    eq(do("get expired", c.get, "ttl"), None, "get after expiry")
    eq(do("flush_all 2", c.flush_all), True, "flush_all")
    eq(do("get flushed", c.get, "m3"), None, "get after flush_all")
    return seen


# --- raw exchanges -----------------------------------------------------------------------

def req(opcode, key=b"", extras=b"", value=b"", cas=0, opaque=0):
    body = extras + key + value
    return struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, len(body),
                       opaque, cas) + body


NOOP = req(0x0a, opaque=0xfeedface)


def set_extras(flags=0, exp=0):
    return struct.pack(">II", flags, exp)


def arith(delta, initial, exp):
    return struct.pack(">QQI", delta, initial, exp)


EXCHANGES = [
    ("noop", req(0x0a, opaque=1)),
    ("set get getk", req(0x01, b"k", set_extras(5), b"hello", opaque=2) + req(0x00, b"k") +
     req(0x0c, b"k", opaque=3)),
    ("misses", req(0x00, b"none") + req(0x0c, b"none") + req(0x09, b"none") +
     req(0x0d, b"none") + req(0x1e, b"none", struct.pack(">I", 10))),
    ("quiet hits", req(0x11, b"q", set_extras(7), b"v") + req(0x09, b"q", opaque=4) +
     req(0x0d, b"q", opaque=5)),
    ("add replace", req(0x02, b"k", set_extras(), b"x") + req(0x03, b"nokey", set_extras(), b"x") +
     req(0x12, b"k", set_extras(), b"x") + req(0x13, b"nokey", set_extras(), b"x")),
    ("append prepend", req(0x0e, b"k", value=b">") + req(0x0f, b"k", value=b"<") +
     req(0x0e, b"nokey", value=b"x") + req(0x19, b"nokey", value=b"x") + req(0x00, b"k")),
    ("cas", req(0x01, b"k", set_extras(), b"v", cas=0xfffffffffff) +
     req(0x01, b"nokey", set_extras(), b"v", cas=0xfffffffffff) +
     req(0x04, b"k", cas=0xfffffffffff) + req(0x0e, b"k", value=b"x", cas=0xfffffffffff)),
    ("delete", req(0x04, b"k") + req(0x04, b"k") + req(0x14, b"k") + req(0x00, b"k")),
    ("arith", req(0x05, b"n", arith(1, 10, 0xffffffff)) + req(0x05, b"n", arith(1, 10, 0)) +
     req(0x05, b"n", arith(5, 0, 0)) + req(0x06, b"n", arith(100, 0, 0)) +
     req(0x15, b"n", arith(3, 0, 0)) + req(0x05, b"n", arith(0, 0, 0)) +
     req(0x01, b"w", set_extras(), b"abc") +
     req(0x05, b"w", arith(1, 0, 0)) + req(0x16, b"nokey", arith(1, 0, 0xffffffff))),
    ("touch gat", req(0x01, b"t", set_extras(9), b"tv") + req(0x1c, b"t", struct.pack(">I", 100)) +
     req(0x1d, b"t", struct.pack(">I", 100)) + req(0x23, b"t", struct.pack(">I", 100)) +
     req(0x1c, b"nokey", struct.pack(">I", 100)) + req(0x24, b"nokey", struct.pack(">I", 1))),
    ("flush", req(0x08, extras=struct.pack(">I", 0)) + req(0x18) + req(0x00, b"t")),
    # Unknown opcodes carry no extras or key here: memcached would skip that many bytes
    # of the next request too (bale skips exactly the body; docs/memcached.md).
    ("unknown and sasl", req(0x1b) + req(0x30, value=b"xyz") +
     req(0xff) + req(0x20) + req(0x21, b"PLAIN", value=b"\0user\0pass") +
     req(0x22, b"PLAIN", value=b"x")),
    ("too large", req(0x01, b"k", set_extras(), b"old") +
     req(0x11, b"k", set_extras(), b"v" * (2 << 20)) + req(0x00, b"k")),
    ("stat bogus", req(0x10, b"bogus", opaque=6)),
    ("stat reset", req(0x10, b"reset", opaque=6)),
    ("quit", req(0x07, opaque=7) + NOOP),
    ("quitq", req(0x17) + NOOP),
    ("bad magic", req(0x0a, opaque=8) + b"\x81" + NOOP[1:]),
    ("key too long", req(0x00, b"k" * 251) + NOOP),
    ("get with extras", req(0x00, b"k", b"xxxx") + NOOP),
    ("lengths contradict", struct.pack(">BBHBBHIIQ", 0x80, 0, 10, 0, 0, 0, 4, 0, 0) + NOOP),
    ("text after binary", req(0x0a) + b"get k\r\n"),
]


def packets(data):
    """Splits reply bytes into packets, CAS masked; a torn tail is kept as is."""
    out = []
    while len(data) >= 24:
        body = struct.unpack(">I", data[8:12])[0]
        p = data[:24 + body]
        cas = struct.unpack(">Q", p[16:24])[0]
        out.append(p[:16] + (b"<cas>" if cas else b"<0>") + p[24:])
        data = data[24 + body:]
    return out + ([data] if data else [])


def exchange(port, payload):
    """Sends payload then a NOOP; reads until the NOOP's reply or the close."""
    with connect(port) as s:
        s.sendall(payload)
        try:
            s.sendall(NOOP)
        except OSError:
            pass
        buf = b""
        while not buf.endswith(b"\x81\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xfe\xed\xfa\xce"
                               + b"\x00" * 8):
            try:
                chunk = s.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return packets(buf) + ["<closed>"]
            buf += chunk
        return packets(buf)


def compare_raw(bale_port, memcached_port):
    for name, payload in EXCHANGES:
        got = exchange(bale_port, payload)
        want = exchange(memcached_port, payload)
        check(got == want, "raw exchange %r differs:\n  bale      %r\n  memcached %r"
              % (name, got, want))
    # The version differs by design ("1.6.18-bale-..."); its shape does not.
    got, want = exchange(bale_port, req(0x0b)), exchange(memcached_port, req(0x0b))
    check(got[0][:8] == want[0][:8] and got[0][16:].startswith(b"<0>1.6.18"),
          "version: %r vs %r" % (got, want))


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    srv = Server(bale, os.path.join(tmp, "data"), "--threads", "2")
    mc, mc_port = start_memcached()
    try:
        got = scenario(client(srv.port))
        want = scenario(client(mc_port))
        for g, w in zip(got, want):
            check(g == w, "pylibmc %s: bale gave %r, memcached %r" % (g[0], g[1], w[1]))
        eq(len(got), len(want), "calls")
        log("pylibmc binary=True: %d calls, the same results as memcached" % len(got))
        compare_raw(srv.port, mc_port)
        log("raw binary exchanges: %d identical to memcached's" % len(EXCHANGES))
    finally:
        mc.kill()
        mc.wait()
    rc = srv.stop()
    check(rc == 0, "bale serve exited %d: %s" % (rc, srv.output()))


if __name__ == "__main__":
    main()
