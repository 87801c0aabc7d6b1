"""Graceful shutdown: SIGTERM with pipelined sets in flight loses nothing acknowledged, the
exit code is 0, index checkpoints are written at shutdown, and the restart sees exactly
the objects that were stored.

Phase 1: pipeline 1000 sets, read all 1000 STORED, SIGTERM; every partition holding data
gets an index.ckpt newer than the SIGTERM; the restart reports exactly 1000 objects and
each value reads back.
Phase 2: pipeline 300 more sets (new keys and overwrites), SIGTERM, 700 more, without
waiting for replies; read replies until the server closes. Every acknowledged set must
survive the restart; the restart's object count must equal the keys readable.

Usage: shutdown_test.py BALE TMPDIR
"""

import glob
import os
import sys
import time

from balelib import Server, check, connect, log, recv_until

N = 1000
ARGS = ("--threads", "2", "--durability", "interval", "--interval-ms", "60000")


def value(key, phase):
    return (b"%s/phase%d/" % (key, phase)) * (1 + len(key) % 7)


def pipeline(keys, phase):
    return b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, phase, len(value(k, phase)),
                                                   value(k, phase)) for k in keys)


def read_values(port, keys):
    found = {}
    with connect(port) as s:
        for i in range(0, len(keys), 100):
            chunk = keys[i:i + 100]
            s.sendall(b"get " + b" ".join(chunk) + b"\r\n")
            buf = recv_until(s, b"END\r\n")
            pos = 0
            while True:
                nl = buf.index(b"\r\n", pos)
                line = buf[pos:nl]
                if line == b"END":
                    break
                _, k, flags, n = line.split(b" ")
                found[k] = (int(flags), buf[nl + 2:nl + 2 + int(n)])
                pos = nl + 4 + int(n)
    return found


def checkpoints_since(data, marker_ns):
    """(partitions with segments, of which with an index.ckpt written after marker_ns)."""
    with_data = fresh = 0
    for p in sorted(glob.glob(os.path.join(data, "p-*"))):
        if not glob.glob(os.path.join(p, "seg-*")):
            continue
        with_data += 1
        ck = os.path.join(p, "index.ckpt")
        if os.path.exists(ck) and os.stat(ck).st_mtime_ns >= marker_ns:
            fresh += 1
        else:
            log("shutdown: %s has segments but no index.ckpt from the shutdown" % p)
    return with_data, fresh


def start(bale, data):
    t0 = time.monotonic()
    srv = Server(bale, data, *ARGS)
    return srv, time.monotonic() - t0


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")

    # --- phase 1: all acknowledged before SIGTERM ---
    srv, _ = start(bale, data)
    keys1 = [b"shut-%04d" % i for i in range(N)]
    with connect(srv.port, timeout=30) as s:
        s.sendall(pipeline(keys1, 1))
        acks = b""
        while acks.count(b"\r\n") < N:
            acks += recv_until(s, b"\r\n")
    check(acks == b"STORED\r\n" * N, "phase 1 replies: %r" % acks[:200])
    # File times come from the kernel's coarse clock: compare with a file's, not time_ns().
    marker = os.path.join(tmp, "before-sigterm")
    with open(marker, "wb"):
        pass
    marker_ns = os.stat(marker).st_mtime_ns
    rc = srv.stop()
    check(rc == 0, "exit code %d after SIGTERM: %s" % (rc, srv.output()))
    check("stopped cleanly" in srv.output(), "no 'stopped cleanly': %s" % srv.output())
    with_data, fresh = checkpoints_since(data, marker_ns)
    check(with_data > 0, "no partition directory holds a segment")
    check(fresh == with_data, "%d of %d partitions with data got an index.ckpt at shutdown"
          % (fresh, with_data))

    srv, took = start(bale, data)
    check(took < 10, "restart after a clean shutdown took %.1f s" % took)
    check(srv.objects_at_start == N, "phase 1: restart reports %d objects, want %d (lost %d)"
          % (srv.objects_at_start, N, N - srv.objects_at_start))
    found = read_values(srv.port, keys1)
    check(len(found) == N, "phase 1: %d of %d keys readable after restart" % (len(found), N))
    for k in keys1:
        check(found[k] == (1, value(k, 1)), "phase 1: %r reads %r" % (k, found[k]))
    log("shutdown: phase 1: %d acked, %d partitions checkpointed at shutdown, restart in "
        "%.2f s reported %d objects" % (N, fresh, took, srv.objects_at_start))

    # --- phase 2: SIGTERM while the pipeline is in flight ---
    keys2 = [b"shut-%04d" % i for i in range(N // 2, N // 2 + N)]  # 500 overwrites, 500 new
    # The first 300 sets, SIGTERM, then the rest (the server may stop reading or close
    # at any point; a set cut in half by the shutdown must not be stored).
    s = connect(srv.port, timeout=30)
    s.sendall(pipeline(keys2[:300], 2))
    srv.proc.send_signal(15)
    try:
        rest = pipeline(keys2[300:], 2)
        for i in range(0, len(rest), 4096):
            s.sendall(rest[i:i + 4096])
    except (ConnectionResetError, BrokenPipeError):
        pass
    replies = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        replies += chunk
    s.close()
    rc = srv.stop()
    check(rc == 0, "phase 2: exit code %d after SIGTERM: %s" % (rc, srv.output()))
    lines = replies.split(b"\r\n")
    check(lines[-1] == b"", "phase 2: a partial reply: %r" % lines[-1])
    lines = lines[:-1]
    check(all(line == b"STORED" for line in lines), "phase 2 replies: %r" % set(lines))
    acked = len(lines)
    check(acked <= N, "phase 2: %d replies to %d sets" % (acked, N))

    srv, took = start(bale, data)
    all_keys = sorted(set(keys1) | set(keys2))
    found = read_values(srv.port, all_keys)
    for i, k in enumerate(keys2):
        if i < acked:
            check(found.get(k) == (2, value(k, 2)),
                  "phase 2: acknowledged set %d (%r) lost: %r" % (i, k, found.get(k)))
        else:
            check(found.get(k) in ((2, value(k, 2)), (1, value(k, 1)), None),
                  "phase 2: %r reads %r" % (k, found.get(k)))
    for k in keys1:
        check(k in found, "phase 1 key %r missing after phase 2" % k)
    check(srv.objects_at_start == len(found),
          "phase 2: restart reports %d objects, %d keys readable"
          % (srv.objects_at_start, len(found)))
    rc = srv.stop()
    check(rc == 0, "final exit code %d: %s" % (rc, srv.output()))
    log("shutdown: phase 2: %d of %d in-flight sets acknowledged before exit; restart in "
        "%.2f s reported %d objects = keys readable" % (acked, N, took, len(found)))


if __name__ == "__main__":
    main()
