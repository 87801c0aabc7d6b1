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
(These run with --disk-reserve 0: plain failures, no reserve.)

Then the reserve (--disk-reserve 2m), on a fresh data directory on the same disk:
6. 32 KiB objects are set until one answers SERVER_ERROR out of disk space (the reserve
   is released then, and writes that add data refused): every acknowledged object reads
   back, and deleting half of them works (the tombstones use the reserve's space).
7. Compaction reclaims the deleted values by itself; writes resume once the reserve fits
   again: a set answers STORED within a bounded wait.
8. The disk is filled to the last page by another file: SIGTERM exits 0 (the checkpoint
   it cannot write costs a longer scan, not data); the stop removes the sync journal's
   files, so the disk is filled again; a restart on the full disk (no room for a journal
   file: sync writes fall back to their partitions' fdatasync) serves every
   object, a 32 KiB set fails (releasing the reserve), a delete then works, and SIGTERM
   exits 0 again.

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
    args = ("--partitions", "8", "--segment-size", "1m", "--durability", "sync",
            "--disk-reserve", "0")
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
    reserve_part(bale, disk)
    log("full_disk_test: OK")


def reserve_part(bale, disk):
    import shutil
    for name in os.listdir(disk):
        path = os.path.join(disk, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    data = disk  # the server's output goes beside it, off the small disk
    args = ("--partitions", "4", "--segment-size", "1m", "--durability", "sync",
            "--disk-reserve", "2m")
    srv = Server(bale, data, *args)
    value = b"v" * (32 << 10)
    stored = []
    log("reserve: filling the disk through bale")
    for i in range(10000):
        key = b"r%05d" % i
        r = mc(srv.port, b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
        if r == b"STORED\r\n":
            stored.append(key)
            continue
        check(r == b"SERVER_ERROR out of disk space\r\n", "set %s: %r" % (key, r))
        break
    check(len(stored) > 50, "only %d objects fit" % len(stored))
    status = HttpConn(srv.http_port).request("GET", "/status").json()
    check(status["disk"]["full"] is True, "/status disk: %r" % status["disk"])
    for key in stored:
        check(get(srv.port, key.decode()) == value, "%s does not read back" % key)
    gone = stored[::2]
    for key in gone:
        r = mc(srv.port, b"delete %s\r\n" % key)
        check(r == b"DELETED\r\n", "delete %s on a full disk: %r" % (key, r))
    log("reserve: %d stored, %d deleted; waiting for compaction to bring writes back"
        % (len(stored), len(gone)))
    deadline = time.monotonic() + 60
    while True:
        r = mc(srv.port, b"set again 0 0 5\r\nagain\r\n")
        if r == b"STORED\r\n":
            break
        check(r == b"SERVER_ERROR out of disk space\r\n", "set again: %r" % r)
        check(time.monotonic() < deadline, "writes did not resume within 60 s: %s"
              % srv.output()[-600:])
        time.sleep(0.2)
    check("writes resume" in srv.output(), "no log line says writes resumed")
    kept = [k for k in stored if k not in set(gone)]
    for key in kept:
        check(get(srv.port, key.decode()) == value, "%s lost" % key)
    for key in gone:
        check(get(srv.port, key.decode()) is None, "%s came back" % key)

    log("reserve: the disk full to the last page: stop, start, read, stop")
    fill_disk(disk, 0)
    check(srv.stop() == 0, "SIGTERM on a full disk did not exit 0")
    fill_disk(disk, 0)  # the stop removed the sync journal's files: full again
    srv = Server(bale, data, *args)
    for key in kept:
        check(get(srv.port, key.decode()) == value, "%s unreadable after a start on a full disk" % key)
    check(get(srv.port, "again") == b"again", "again lost")
    # The reserve survived the restart: the first write that finds no space releases it
    # again for deletes.
    r = mc(srv.port, b"set more 0 0 %d\r\n%s\r\n" % (len(value), value))
    check(r == b"SERVER_ERROR out of disk space\r\n", "set on a full disk: %r" % r)
    r = mc(srv.port, b"delete %s\r\n" % kept[0])
    check(r == b"DELETED\r\n", "delete on a full disk after a restart: %r" % r)
    check(srv.stop() == 0, "the second SIGTERM on a full disk did not exit 0")
    free_disk(disk)


if __name__ == "__main__":
    main()
