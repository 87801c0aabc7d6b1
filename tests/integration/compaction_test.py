#!/usr/bin/env python3
"""Space is reclaimed by itself: overwrites, deletes and flush_all stop costing disk.

Before, nothing in `bale serve` compacted: 1,000 live 1 KB keys overwritten grew the data
directory without bound. Must hold: overwriting 1,000 keys 25 times (~28 MB written) leaves
the data directory small by itself (with --compaction-min-dead 32k, so that the bound is
tight: each of the 64 partitions keeps under 32 KiB of dead bytes, or under its live
bytes; bench/churn.py measures the default flags); deleting every key, and a
flush_all, are reclaimed by POST /admin/compact (loopback only; 202, GET is 405); the
counters show it in stats, /status and /metrics, a log line reports the on-demand pass;
and after SIGKILL and restart every key reads back as last written (deleted keys stay
deleted).

Usage: compaction_test.py BALE TMPDIR
"""

import os
import signal
import sys
import time

import balelib
from balelib import check, log

KEYS = 1000
VALUE = 1024


def data_bytes(data):
    """Bytes of segment files (what compaction bounds; checkpoints are ~10 KB a partition)."""
    total = 0
    for root, _, files in os.walk(data):
        for name in files:
            if not name.startswith("seg-"):
                continue
            try:
                total += os.path.getsize(os.path.join(root, name))
            except FileNotFoundError:
                pass
    return total


def mc(sock, payload, replies):
    """Sends payload; reads until `replies` lines ending in \\r\\n have arrived."""
    sock.sendall(payload)
    buf = b""
    while buf.count(b"\r\n") < replies:
        chunk = sock.recv(1 << 20)
        check(chunk, "server closed")
        buf += chunk
    return buf


def ask(sock, request, terminator):
    sock.sendall(request)
    return balelib.recv_until(sock, terminator)


def stats(sock):
    buf = ask(sock, b"stats\r\n", b"END\r\n")
    return {p[1]: p[2] for p in (l.split() for l in buf.decode().splitlines()) if len(p) == 3}


def value_for(key, round_):
    return (b"%s-%d-" % (key, round_)).ljust(VALUE, b"x")


def write_round(sock, round_, keys):
    payload = b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, VALUE, value_for(k, round_)) for k in keys)
    got = mc(sock, payload, len(keys))
    check(got == b"STORED\r\n" * len(keys), "set round %d: %r" % (round_, got[:80]))


def wait_for(what, cond, seconds=balelib.WAIT_S * 2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def check_values(sock, expected):
    for k, v in expected.items():
        got = ask(sock, b"get %s\r\n" % k, b"END\r\n")
        want = b"END\r\n" if v is None else b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (k, len(v), v)
        check(got == want, "get %r: %r" % (k, got[:80]))


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")
    args = ("--compaction-min-dead", "32k")
    srv = balelib.Server(bale, data, *args)
    keys = [b"key%04d" % i for i in range(KEYS)]
    with srv.connect(timeout=balelib.WAIT_S) as s:
        for r in range(25):
            write_round(s, r, keys)
        written = 25 * KEYS * VALUE
        # The compactor reclaims what the overwrites left, by itself.
        # 64 partitions of ~17 KB live (27 KB for the fullest), each under 32 KiB dead.
        wait_for("automatic compaction", lambda: data_bytes(data) < 6 << 20)
        st = stats(s)
        log("overwrites: %d MB written, data directory %d KB, %s compactions"
            % (written >> 20, data_bytes(data) >> 10, st.get("bale_compactions")))
        check(int(st["bale_compactions"]) > 0 and int(st["bale_compaction_reclaimed_bytes"]) > 0,
              "stats: %r" % {k: v for k, v in st.items() if "compact" in k})
        check_values(s, {k: value_for(k, 24) for k in keys})

        # Deletes: small garbage waits for the automatic policy, an admin request takes it.
        got = mc(s, b"".join(b"delete %s\r\n" % k for k in keys[:KEYS // 2]), KEYS // 2)
        check(got == b"DELETED\r\n" * (KEYS // 2), "delete: %r" % got[:80])
        r = balelib.http_request(srv.http_port, "GET", "/admin/compact")
        check(r.status == 405, "GET /admin/compact: %d" % r.status)
        before = int(stats(s)["bale_compactions"])
        r = balelib.http_request(srv.http_port, "POST", "/admin/compact", b"")
        check(r.status == 202, "POST /admin/compact: %d %r" % (r.status, r.body))
        wait_for("the requested pass", lambda: "compaction on request" in srv.output())
        check(int(stats(s)["bale_compactions"]) > before, "the request compacted nothing")
        live = KEYS // 2 * (VALUE + 64)
        check(data_bytes(data) < live + (1 << 20), "after deletes: %d bytes" % data_bytes(data))
        expected = {k: None for k in keys[:KEYS // 2]}
        expected.update({k: value_for(k, 24) for k in keys[KEYS // 2:]})
        check_values(s, expected)

        # flush_all: everything written before it is dead.
        check(mc(s, b"flush_all\r\n", 1) == b"OK\r\n", "flush_all")
        r = balelib.http_request(srv.http_port, "POST", "/admin/compact", b"")
        check(r.status == 202, "POST /admin/compact: %d" % r.status)
        wait_for("a second requested pass",
                 lambda: srv.output().count("compaction on request") >= 2)
        flushed = data_bytes(data)
        check(flushed < 256 << 10, "after flush_all and compaction: %d bytes" % flushed)
        write_round(s, 99, keys[:10])
    status = balelib.http_request(srv.http_port, "GET", "/status").json()
    check(status["compaction"]["reclaimed_bytes"] > written // 2, "/status: %r" % status["compaction"])
    metrics = balelib.http_request(srv.http_port, "GET", "/metrics").body.decode()
    check("bale_compaction_reclaimed_bytes_total" in metrics and "bale_dead_bytes" in metrics,
          "/metrics lacks the compaction counters")

    os.kill(srv.pid, signal.SIGKILL)
    srv.proc.wait()
    srv = balelib.Server(bale, data, *args)
    expected = {k: None for k in keys}
    expected.update({k: value_for(k, 99) for k in keys[:10]})
    with srv.connect(timeout=balelib.WAIT_S) as s:
        check_values(s, expected)
    check(srv.stop() == 0, "clean stop")
    log("compaction_test: OK (data directory %d KB after flush_all)" % (flushed >> 10))


if __name__ == "__main__":
    main()
