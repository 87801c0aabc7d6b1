"""pymemcache (a real third-party client) against a real `bale serve`, then durability of
every surviving key across a SIGTERM + restart on the same data directory.

Usage: pymemcache_test.py BALE TMPDIR
"""

import os
import sys
import time

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError, MemcacheServerError

from balelib import WAIT_S, Server, check, log

MAX_ITEM = 1 << 20  # bale's default --max-item-size 1m


def client(port):
    # default_noreply=False: every storage command waits for and returns its reply.
    return Client(("127.0.0.1", port), connect_timeout=WAIT_S, timeout=WAIT_S, no_delay=True,
                  default_noreply=False)


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got if not isinstance(got, bytes) or
                                                len(got) < 200 else got[:200] + b"...",
                                                want if not isinstance(want, bytes) or
                                                len(want) < 200 else want[:200] + b"..."))


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")
    srv = Server(bale, data, "--threads", "2")
    c = client(srv.port)
    expect = {}  # key -> value that must still be there after the restart

    # version / stats
    v = c.version()
    check(isinstance(v, bytes) and len(v) > 0, "version() = %r" % v)
    st = c.stats()
    for k in (b"curr_items", b"pid", b"uptime", b"curr_connections", b"cmd_get", b"cmd_set"):
        check(k in st, "stats() lacks %r: %r" % (k, sorted(st)))
    eq(int(st[b"pid"]), srv.pid, "stats pid")

    # flush_all first, so everything stored after it must survive.
    eq(c.set(b"pre-flush", b"x"), True, "set pre-flush")
    eq(c.flush_all(), True, "flush_all")
    eq(c.get(b"pre-flush"), None, "get after flush_all")
    # flush_all is lazy, as in memcached: curr_items may still count the flushed item.
    check(int(c.stats()[b"curr_items"]) <= 1, "curr_items after flush_all")

    # set / get / get_many
    eq(c.set(b"k1", b"v1"), True, "set k1")
    eq(c.get(b"k1"), b"v1", "get k1")
    eq(c.set(b"k2", b"v2", flags=5), True, "set k2")
    eq(c.get_many([b"k1", b"k2", b"missing"]), {b"k1": b"v1", b"k2": b"v2"}, "get_many")
    eq(c.get(b"missing"), None, "get missing")
    eq(c.set(b"k1", b"v1-overwritten"), True, "set k1 again")
    eq(c.get(b"k1"), b"v1-overwritten", "get overwritten k1")
    expect[b"k1"] = b"v1-overwritten"
    expect[b"k2"] = b"v2"

    # gets / cas: success, EXISTS, NOT_FOUND
    val, token = c.gets(b"k2")
    eq(val, b"v2", "gets k2")
    check(token is not None, "gets returned no cas token")
    eq(c.cas(b"k2", b"v2-cas", token), True, "cas with fresh token")
    eq(c.get(b"k2"), b"v2-cas", "get after cas")
    eq(c.cas(b"k2", b"v2-stale", token), False, "cas with stale token (EXISTS)")
    eq(c.get(b"k2"), b"v2-cas", "get after failed cas")
    eq(c.cas(b"cas-missing", b"x", token), None, "cas on missing key (NOT_FOUND)")
    eq(c.get(b"cas-missing"), None, "get cas-missing")
    expect[b"k2"] = b"v2-cas"
    val2, token2 = c.gets(b"k2")
    check(token2 != token, "cas token unchanged after a cas: %r" % token2)
    eq(c.gets_many([b"k1", b"k2"])[b"k2"], (b"v2-cas", token2), "gets_many")

    # add / replace
    eq(c.add(b"k1", b"nope"), False, "add existing")
    eq(c.get(b"k1"), b"v1-overwritten", "get after failed add")
    eq(c.add(b"added", b"fresh"), True, "add new")
    eq(c.get(b"added"), b"fresh", "get added")
    expect[b"added"] = b"fresh"
    eq(c.replace(b"replace-missing", b"x"), False, "replace missing")
    eq(c.get(b"replace-missing"), None, "get replace-missing")
    eq(c.replace(b"added", b"replaced"), True, "replace existing")
    eq(c.get(b"added"), b"replaced", "get replaced")
    expect[b"added"] = b"replaced"

    # append / prepend
    eq(c.set(b"ap", b"middle"), True, "set ap")
    eq(c.append(b"ap", b"-tail"), True, "append")
    eq(c.prepend(b"ap", b"head-"), True, "prepend")
    eq(c.get(b"ap"), b"head-middle-tail", "get after append/prepend")
    eq(c.append(b"ap-missing", b"x"), False, "append missing")
    eq(c.prepend(b"ap-missing", b"x"), False, "prepend missing")
    eq(c.get(b"ap-missing"), None, "get ap-missing")
    expect[b"ap"] = b"head-middle-tail"

    # incr / decr
    eq(c.set(b"n", b"10"), True, "set n")
    eq(c.incr(b"n", 5), 15, "incr")
    eq(c.decr(b"n", 3), 12, "decr")
    eq(c.decr(b"n", 100), 0, "decr floors at 0")
    eq(c.get(b"n"), b"0", "get after floor")
    eq(c.set(b"big", b"18446744073709551615"), True, "set 2^64-1")
    eq(c.incr(b"big", 1), 0, "incr wraps at 2^64")
    eq(c.incr(b"big", 7), 7, "incr after wrap")
    eq(c.set(b"big2", b"18446744073709551610"), True, "set 2^64-6")
    eq(c.incr(b"big2", 10), 4, "incr wraps at 2^64 (past the top)")
    eq(c.incr(b"n-missing", 1), None, "incr missing (NOT_FOUND)")
    eq(c.decr(b"n-missing", 1), None, "decr missing (NOT_FOUND)")
    eq(c.set(b"text", b"not a number"), True, "set text")
    try:
        r = c.incr(b"text", 1)
        raise AssertionError("incr on a non-numeric value returned %r, want an error" % r)
    except MemcacheClientError:
        pass
    try:
        r = c.decr(b"text", 1)
        raise AssertionError("decr on a non-numeric value returned %r, want an error" % r)
    except MemcacheClientError:
        pass
    eq(c.get(b"text"), b"not a number", "non-numeric value unchanged by incr")
    eq(c.incr(b"n", 41), 41, "incr after floor")
    expect.update({b"n": b"41", b"big": b"7", b"big2": b"4", b"text": b"not a number"})

    # touch
    eq(c.set(b"t", b"touched", expire=1), True, "set t with expire=1")
    eq(c.touch(b"t", 0), True, "touch t (never expire)")
    eq(c.touch(b"touch-missing", 10), False, "touch missing")
    expect[b"t"] = b"touched"

    # delete
    eq(c.set(b"del", b"x"), True, "set del")
    eq(c.delete(b"del"), True, "delete existing")
    eq(c.get(b"del"), None, "get deleted")
    eq(c.delete(b"del"), False, "delete missing")

    # binary values, with \r\n, NUL, "END" and "VALUE" lines inside
    binv = b"\x00\r\n\x00END\r\nVALUE k 0 1\r\n" + bytes(range(256)) + b"\r\n\r\n\x00"
    eq(c.set(b"bin", binv), True, "set binary")
    eq(c.get(b"bin"), binv, "get binary")
    eq(c.set(b"empty", b""), True, "set empty")
    eq(c.get(b"empty"), b"", "get empty")
    expect[b"bin"] = binv
    expect[b"empty"] = b""

    # a value just under the limit round-trips; one over it is refused and the old value
    # is gone (memcached's behaviour: a failed oversized set deletes the key).
    big = (os.urandom(1024) * 1024)[: MAX_ITEM - 100]
    eq(c.set(b"large", big), True, "set 1 MiB - 100 bytes")
    eq(c.get(b"large"), big, "get 1 MiB - 100 bytes")
    expect[b"large"] = big
    exact = os.urandom(MAX_ITEM)
    eq(c.set(b"exact", exact), True, "set exactly --max-item-size bytes")
    eq(c.get(b"exact"), exact, "get exactly --max-item-size bytes")
    expect[b"exact"] = exact
    eq(c.set(b"over", b"old value"), True, "set over (small)")
    try:
        r = c.set(b"over", b"y" * (MAX_ITEM + 1))
        raise AssertionError("oversized set returned %r, want SERVER_ERROR" % r)
    except MemcacheServerError as e:
        check(b"too large" in str(e).encode() or "too large" in str(e), "error %r" % e)
    eq(c.get(b"over"), None, "old value after a refused oversized set")
    # The connection is still in sync after the server swallowed the oversized value.
    eq(c.get(b"k1"), b"v1-overwritten", "get after oversized set")

    # expiry: gone after 2.5 s (checks the TTL, not performance)
    eq(c.set(b"exp", b"short-lived", expire=1), True, "set exp expire=1")
    eq(c.set(b"exp-long", b"long-lived", expire=3600), True, "set exp-long expire=3600")
    eq(c.get(b"exp"), b"short-lived", "get exp before expiry")
    time.sleep(2.5)
    eq(c.get(b"exp"), None, "get exp after 2.5 s")
    eq(c.get(b"t"), b"touched", "touched key outlived its original 1 s TTL")
    eq(c.get(b"exp-long"), b"long-lived", "get exp-long")
    expect[b"exp-long"] = b"long-lived"

    # many keys of varied sizes
    for i in range(300):
        k = b"many-%04d" % i
        v = (b"%d:" % i) * (1 + (i * 37) % 200)
        eq(c.set(k, v), True, "set %r" % k)
        expect[k] = v
    got = c.get_many([b"many-%04d" % i for i in range(300)])
    for i in range(300):
        k = b"many-%04d" % i
        eq(got.get(k), expect[k], "get_many %r" % k)

    # Flushed ("pre-flush") and expired ("exp") items may still be counted until
    # reclaimed, as in memcached.
    lazily_dead = 2
    st = c.stats()
    n = int(st[b"curr_items"])
    check(len(expect) <= n <= len(expect) + lazily_dead,
          "stats curr_items = %d, want %d (+ up to %d)" % (n, len(expect), lazily_dead))
    check(int(st[b"cmd_set"]) > 300, "stats cmd_set = %r" % st[b"cmd_set"])
    check(int(st[b"get_hits"]) > 0 and int(st[b"get_misses"]) > 0, "stats get_hits/misses")
    c.close()

    # Durability across a clean restart.
    rc = srv.stop()
    check(rc == 0, "bale serve exited %d after SIGTERM: %s" % (rc, srv.output()))
    check("stopped cleanly" in srv.output(), "no 'stopped cleanly': %s" % srv.output())
    srv2 = Server(bale, data, "--threads", "2")
    n = srv2.objects_at_start
    check(len(expect) <= n <= len(expect) + lazily_dead,
          "objects reported at restart = %d, want %d (+ up to %d)" % (n, len(expect), lazily_dead))
    c = client(srv2.port)
    for k, v in expect.items():
        eq(c.get(k), v, "after restart, get %r" % k)
    for k in (b"pre-flush", b"del", b"over", b"exp", b"missing", b"cas-missing",
              b"replace-missing", b"ap-missing", b"n-missing"):
        eq(c.get(k), None, "after restart, get %r" % k)
    val, _ = c.gets(b"k2")
    eq(val, b"v2-cas", "gets k2 after restart")
    n = int(c.stats()[b"curr_items"])
    check(len(expect) <= n <= len(expect) + lazily_dead, "curr_items after restart = %d" % n)
    c.close()
    rc = srv2.stop()
    check(rc == 0, "bale serve (restarted) exited %d: %s" % (rc, srv2.output()))
    log("pymemcache: %d keys checked across a restart (bale counted %d objects at restart)"
        % (len(expect), srv2.objects_at_start))


if __name__ == "__main__":
    main()
