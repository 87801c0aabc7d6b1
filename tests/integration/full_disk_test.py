#!/usr/bin/env python3
"""flush_all and POST /batch on a real full disk (a 16 MiB tmpfs): an error changes
nothing, now or after a restart; success takes full effect, now and after a restart.

1. 40 objects are stored, then the disk is filled to the last page.
2. `flush_all` and `flush_all 2` answer SERVER_ERROR: every object still reads back.
3. Some pages are freed, fewer than a batch needs: `POST /batch?keys=names` of 20 parts
   (5 of them overwriting stored objects) answers 507 with some partitions written:
   no part reads back and the overwritten objects keep their values.
4. The server is SIGKILLed and, with the space back, restarted: the same holds.
5. With space, the batch answers 201 and `flush_all` OK, before and after a restart.

Usage: full_disk_test.py BALE DISK_DIR
"""

import errno
import os
import signal
import sys
import time

from balelib import HttpConn, Server, check, connect, log, recv_until

KEYS = ["k%d" % i for i in range(40)]
PARTS = ["b%d" % i for i in range(15)] + KEYS[:5]  # 5 overwrite stored objects
B = "bnd"


def value_of(key):
    return (key.encode() + b"-") * 20


def part_value(key):
    return (key.encode() + b"=") * 2000  # about 6 KiB


def mc(port, line):
    with connect(port) as s:
        s.sendall(line)
        return recv_until(s, b"\r\n")


def get(port, key):
    with connect(port) as s:
        s.sendall(b"get %s\r\n" % key.encode())
        r = recv_until(s, b"END\r\n")
    if r == b"END\r\n":
        return None
    header, _, rest = r.partition(b"\r\n")
    size = int(header.split()[3])
    return rest[:size]


def fill(path, chunk):
    """Appends to `path` until the disk is full."""
    with open(path, "ab", buffering=0) as f:
        block = b"\0" * chunk
        while True:
            try:
                f.write(block)
            except OSError as e:
                check(e.errno == errno.ENOSPC, "filling: %s" % e)
                return


def fill_disk(disk, slack):
    """Fills the disk, then frees `slack` bytes (0: none)."""
    if slack:
        with open(os.path.join(disk, "slack"), "wb") as f:
            f.write(b"\0" * slack)
    fill(os.path.join(disk, "fill"), 1 << 16)
    fill(os.path.join(disk, "fill"), 4096)
    fill(os.path.join(disk, "fill"), 1)
    if slack:
        os.remove(os.path.join(disk, "slack"))


def free_disk(disk):
    for name in ("fill", "slack"):
        try:
            os.remove(os.path.join(disk, name))
        except FileNotFoundError:
            pass


def batch(port):
    body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (B.encode(), k.encode(), part_value(k)) for k in PARTS)
    body += b"--%s--\r\n" % B.encode()
    with HttpConn(port, timeout=30) as c:
        return c.request("POST", "/batch?keys=names", body,
                         {"Content-Type": "multipart/form-data; boundary=" + B})


def check_nothing_changed(port, when):
    for k in KEYS:
        check(get(port, k) == value_of(k), "%s: %s does not read back" % (when, k))
    for k in PARTS[:15]:
        check(get(port, k) is None, "%s: batch part %s is readable" % (when, k))


def main():
    bale, disk = sys.argv[1], sys.argv[2]
    data = disk  # the server's output goes beside it, off the small disk
    args = ("--partitions", "8", "--segment-size", "1m", "--durability", "sync")
    srv = Server(bale, data, *args)
    for k in KEYS:
        v = value_of(k)
        r = mc(srv.port, b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v))
        check(r == b"STORED\r\n", "set %s: %r" % (k, r))

    log("the disk is full: flush_all must fail and hide nothing")
    fill_disk(disk, 0)
    for cmd in (b"flush_all\r\n", b"flush_all 2\r\n"):
        r = mc(srv.port, cmd)
        check(r.startswith(b"SERVER_ERROR"), "%r on a full disk: %r" % (cmd, r))
    check_nothing_changed(srv.port, "after the failed flush_all")
    time.sleep(3)  # past the failed delayed flush's time
    check_nothing_changed(srv.port, "3 s after the failed flush_all 2")

    log("room for a few partitions of the batch: it must fail and store nothing")
    free_disk(disk)
    fill_disk(disk, 48 << 10)
    r = batch(srv.http_port)
    check(r.status == 507, "POST /batch on a nearly full disk: %r" % r)
    check_nothing_changed(srv.port, "after the failed batch")

    log("SIGKILL, space back, restart")
    srv.proc.send_signal(signal.SIGKILL)
    srv.kill()
    free_disk(disk)
    srv = Server(bale, data, *args)
    check_nothing_changed(srv.port, "after a restart")

    log("with space: the batch and flush_all take full effect")
    r = batch(srv.http_port)
    check(r.status == 201, "POST /batch with space: %r" % r)
    for k in PARTS:
        check(get(srv.port, k) == part_value(k), "batch part %s does not read back" % k)
    r = mc(srv.port, b"flush_all\r\n")
    check(r == b"OK\r\n", "flush_all: %r" % r)
    for k in KEYS + PARTS:
        check(get(srv.port, k) is None, "%s survived flush_all" % k)
    check(srv.stop() == 0, "bale serve did not stop cleanly")
    srv = Server(bale, data, *args)
    for k in KEYS + PARTS:
        check(get(srv.port, k) is None, "%s came back after a restart" % k)
    v = b"after"
    check(mc(srv.port, b"set late 0 0 5\r\n%s\r\n" % v) == b"STORED\r\n", "set late")
    r = mc(srv.port, b"flush_all 2\r\n")
    check(r == b"OK\r\n", "flush_all 2: %r" % r)
    check(get(srv.port, "late") == v, "late is gone before its flush time")
    check(srv.stop() == 0, "bale serve did not stop cleanly")
    time.sleep(3)
    srv = Server(bale, data, *args)
    check(get(srv.port, "late") is None, "late survived flush_all 2 and a restart")
    check(srv.stop() == 0, "bale serve did not stop cleanly")
    log("full_disk_test: OK")


if __name__ == "__main__":
    main()
