"""`stats` and its subcommands, `slabs`, the counters and the smaller differences, checked
against Debian's memcached (1.6.18) by sending the same bytes to both:

- `stats items`, `stats slabs`: the same STAT names (class numbers aside) and line format;
  `stats sizes`, `stats conns`: the line format; bad `stats`/`slabs` arguments: the same
  replies byte for byte.
- counters: after sets, deletes, expiry found by reads and flush_all, curr_items counts
  what is live on both (bale also right after flush_all), bytes follows it, get_expired and
  get_flushed count the reads that found such objects, limit_maxbytes is the disk's size.
- append past the item size limit and incr on values with spaces answer the same.
- pylibmc, python-memcached and pymemcache read every stats kind from bale without raising.

Usage: stats_compat_test.py BALE TMPDIR
"""

import os
import re
import shutil
import sys
import time

from balelib import WAIT_S, Server, check, connect, log, start_memcached

STAT_LINE = re.compile(rb"^STAT [^ \r\n]+ [^\r\n]*$")
SINGLE_LINE = (b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR", b"OK", b"RESET", b"SAME", b"BADCLASS",
               b"NOSPARE", b"STORED", b"NOT_STORED", b"DELETED", b"NOT_FOUND", b"BUSY",
               b"VERSION")


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


class Memcached:
    """Debian's memcached on a free loopback port."""

    def __init__(self, *extra):
        self.proc, self.port = start_memcached("-t", "2", *extra)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=WAIT_S)


class Conn:
    """A raw text-protocol connection that reads one whole reply per request."""

    def __init__(self, port):
        self.sock = connect(port)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One reply: a single status line, a number, or lines up to END."""
        lines = [self._line()]
        if lines[0].startswith(SINGLE_LINE) or lines[0].isdigit():
            return lines
        while lines[-1] != b"END":
            if lines[-1].startswith(b"VALUE "):
                size = int(lines[-1].split()[3])
                while len(self.buf) < size + 2:
                    self.buf += self.sock.recv(65536)
                self.buf = self.buf[size + 2:]
            lines.append(self._line())
        return lines

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.reply()

    def set(self, key, value, exptime=0):
        self.send(b"set %s 0 %d %d\r\n%s\r\n" % (key, exptime, len(value), value))
        return self._line()

    def stats(self, sub=b""):
        lines = self.cmd(b"stats " + sub if sub else b"stats")
        check(lines[-1] == b"END", "stats %r ends with END: %r" % (sub, lines[-3:]))
        out = {}
        for line in lines[:-1]:
            check(STAT_LINE.match(line), "stats %r line format: %r" % (sub, line))
            _, name, value = line.split(b" ", 2)
            out[name.decode()] = value.decode()
        return out


def class_free(names):
    """STAT names with their slab class numbers replaced by C."""
    return {re.sub(r"^(items:)?\d+:", r"\1C:", n) for n in names}


def compare_formats(bale, mc):
    for conn in (bale, mc):
        conn.cmd(b"flush_all")
        for i in range(10):
            eq(conn.set(b"fmt%d" % i, b"x" * 100), b"STORED", "set fmt%d" % i)
        conn.cmd(b"get fmt1")
    for sub in (b"items", b"slabs"):
        b_names, m_names = class_free(bale.stats(sub)), class_free(mc.stats(sub))
        eq(sorted(b_names - m_names), [], "stats %s: names bale has and memcached lacks" % sub)
        eq(sorted(m_names - b_names), [], "stats %s: names memcached has and bale lacks" % sub)
    eq(bale.stats(b"items")["items:1:number"], "10", "stats items number")
    eq(bale.cmd(b"stats sizes"), mc.cmd(b"stats sizes"), "stats sizes")
    for conn in (bale, mc):
        conns = conn.stats(b"conns")
        for name in conns:
            check(re.match(r"^\d+:(addr|listen_addr|state|secs_since_last_cmd)$", name),
                  "stats conns name %r" % name)
        me = "tcp:127.0.0.1:%d" % conn.sock.getsockname()[1]
        fds = [n.split(":")[0] for n, v in conns.items() if n.endswith(":addr") and v == me]
        eq(len(fds), 1, "stats conns lists the asking connection %s: %r" % (me, conns))
        eq(conns[fds[0] + ":state"], "conn_parse_cmd", "the asking connection's state")
    m_general = set(mc.stats())
    b_general = set(bale.stats())
    for name in ("curr_items", "bytes", "limit_maxbytes", "get_expired", "get_flushed",
                 "evictions", "total_items", "curr_connections"):
        check(name in m_general and name in b_general, "stats has %s on both" % name)


def compare_bad_arguments(bale, mc):
    for line in (b"stats nonsense", b"stats detail", b"stats detail bogus", b"stats detail on",
                 b"stats detail off", b"stats cachedump 1", b"stats cachedump x 1",
                 b"stats cachedump 99 1", b"stats reset", b"slabs automove bad",
                 b"slabs automove 3", b"slabs automove", b"slabs automove 1",
                 b"slabs automove 0", b"slabs automove ratio x", b"slabs bogus", b"slabs",
                 b"slabs reassign 1 1", b"slabs reassign x 1", b"slabs reassign 1",
                 b"slabs reassign 1 9", b"slabs reassign -1 1", b"slabs reassign 1 40",
                 b"slabs automove -1", b"stats extstore", b"stats reset foo"):
        eq(bale.cmd(line), mc.cmd(line), "reply to %r" % line)
    for line in (b"slabs automove bad noreply", b"slabs automove 1 noreply"):
        for conn in (bale, mc):
            conn.send(line + b"\r\n")
            eq(conn.cmd(b"version")[0][:8], b"VERSION ", "%r answers nothing" % line)


def compare_counters(bale, mc):
    value = b"v" * 100
    for conn in (bale, mc):
        conn.cmd(b"flush_all")
        conn.cmd(b"stats reset")
        for i in range(20):
            eq(conn.set(b"key%02d" % i, value, 1 if i < 5 else 0), b"STORED", "set key%02d" % i)
    full = int(bale.stats()["bytes"])
    for conn in (bale, mc):
        for i in range(17, 20):
            eq(conn.cmd(b"delete key%02d" % i), [b"DELETED"], "delete key%02d" % i)
    for conn, name in ((bale, "bale"), (mc, "memcached")):
        st = conn.stats()
        eq(st["curr_items"], "17", name + ": curr_items after 20 sets and 3 deletes")
    eq(int(bale.stats()["bytes"]), full // 20 * 17, "bale: bytes after the deletes")
    time.sleep(2.2)
    for conn in (bale, mc):
        for i in range(5):
            eq(conn.cmd(b"get key%02d" % i), [b"END"], "get of expired key%02d" % i)
        eq(conn.cmd(b"get key00"), [b"END"], "a second get of expired key00")
    for conn, name in ((bale, "bale"), (mc, "memcached")):
        st = conn.stats()
        eq(st["curr_items"], "12", name + ": curr_items once the expired ones were read")
        eq(st["get_expired"], "5", name + ": get_expired")
        eq(st["get_flushed"], "0", name + ": get_flushed")
    eq(int(bale.stats()["bytes"]), full // 20 * 12, "bale: bytes once the expired were read")
    for conn in (bale, mc):
        conn.cmd(b"flush_all")
    st = bale.stats()
    eq((st["curr_items"], st["bytes"]), ("0", "0"), "bale: curr_items and bytes after flush_all")
    for conn, name in ((bale, "bale"), (mc, "memcached")):
        eq(conn.cmd(b"get key10"), [b"END"], name + ": get after flush_all")
        eq(conn.cmd(b"get key10"), [b"END"], name + ": get after flush_all, again")
        eq(conn.stats()["get_flushed"], "1", name + ": get_flushed")
        eq(conn.set(b"again", value), b"STORED", name + ": set after flush_all")
    st = bale.stats()
    eq((st["curr_items"], int(st["bytes"])), ("1", full // 20), "bale: one object after flush")
    limit = int(st["limit_maxbytes"])
    fs = os.statvfs(bale.data_dir)
    check(0 < limit <= fs.f_blocks * fs.f_frsize and limit != int(st["bytes"]),
          "bale: limit_maxbytes %d is the disk's size (%d), not bytes"
          % (limit, fs.f_blocks * fs.f_frsize))


def compare_smaller_differences(bale, mc):
    big = b"b" * 1048000
    for conn, name in ((bale, "bale"), (mc, "memcached")):
        eq(conn.set(b"big", big), b"STORED", name + ": set 1048000 bytes")
    for cmd in (b"append", b"prepend"):
        line = b"%s big 0 0 10000\r\n%s\r\n" % (cmd, b"a" * 10000)
        replies = []
        for conn in (bale, mc):
            conn.send(line)
            replies.append(conn.reply())
        eq(replies[0], replies[1], "%s past the item size limit" % cmd.decode())
        eq(replies[0], [b"NOT_STORED"], "%s past the item size limit" % cmd.decode())
    for value in (b" 12", b"12 ", b"1 2", b"\t7", b"+5", b"-0", b"-1", b"12abc", b"abc", b"0x10",
                  b"18446744073709551615", b"18446744073709551616", b" ", b"007"):
        replies = []
        for conn in (bale, mc):
            eq(conn.set(b"n", value), b"STORED", "set n %r" % value)
            replies.append((conn.cmd(b"incr n 1"), conn.cmd(b"decr n 1")))
        eq(replies[0], replies[1], "incr/decr of %r" % value)
    for conn in (bale, mc):
        conn.set(b"n", b" 12")
        conn.send(b"ma n v\r\n")
    eq(bale._line(), b"VA 2", "bale: ma of ' 12'")
    eq(bale._line(), b"13", "bale: ma of ' 12'")
    eq(mc._line(), b"VA 2", "memcached: ma of ' 12'")
    eq(mc._line(), b"13", "memcached: ma of ' 12'")


def clients_read_stats(port, name):
    import memcache
    import pylibmc
    from pymemcache.client.base import Client

    addr = "127.0.0.1:%d" % port
    lc = pylibmc.Client([addr])
    lc.set("client-key", "v")
    for kind in (None, "items", "slabs", "sizes", "conns", "settings"):
        got = lc.get_stats(kind) if kind else lc.get_stats()
        check(len(got) == 1, "%s: pylibmc get_stats(%r) -> %r" % (name, kind, got))
    # (libmemcached reads any stats reply into its struct of general figures.)
    mc = memcache.Client([addr])
    for kind in ("", "items", "slabs", "sizes", "conns"):
        got = mc.get_stats(kind)
        check(len(got) == 1, "%s: python-memcached get_stats(%r) -> %r" % (name, kind, got))
    # (Its get_slab_stats fails under Python 3 on any server: it splits bytes with a str.)
    pc = Client(("127.0.0.1", port), connect_timeout=WAIT_S, timeout=WAIT_S)
    for kind in ("items", "slabs", "sizes", "conns", "settings"):
        pc.stats(kind)
    pc.stats()


def main():
    bale_path, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")
    srv = Server(bale_path, data, "--threads", "2")
    mcd = Memcached()
    # Without the LRU crawler and maintainer, which reclaim expired items in the
    # background (and change `stats items`): as in bale, an expired item is then found by
    # the read that asks for it.
    lazy = Memcached("-o", "no_lru_crawler,no_lru_maintainer")
    try:
        bale, mc = Conn(srv.port), Conn(mcd.port)
        bale.data_dir = data
        compare_formats(bale, mc)
        log("stats items/slabs/sizes/conns: formats match memcached")
        compare_bad_arguments(bale, mc)
        log("bad stats/slabs arguments: replies match memcached")
        compare_counters(bale, Conn(lazy.port))
        log("curr_items, bytes, get_expired, get_flushed, limit_maxbytes: true")
        compare_smaller_differences(bale, mc)
        log("append past the limit, incr of spaced values: as memcached")
        for port, name in ((srv.port, "bale"), (mcd.port, "memcached")):
            clients_read_stats(port, name)
        log("pylibmc, python-memcached, pymemcache read every stats kind")
    finally:
        lazy.stop()
        mcd.stop()
        srv.stop()
    shutil.rmtree(data, ignore_errors=True)
    print("stats_compat_test: OK")


if __name__ == "__main__":
    main()
