#!/usr/bin/env python3
"""Writes a golden data directory with the bale build given, for formats_test.py.

Run once per on-disk format release, with that release's executable, and check the result
in under tests/golden/<name>/ (data/ plus expected.json). Later builds must open it and
read every object exactly as recorded (tests/integration/formats_test.py), so that a
change of format can never strand data written by an earlier release.

Usage: make_golden.py BALE OUT_DIR [--kill]

The store has 4 partitions and 1 MiB segments, so several segments are sealed (with their
checkpoints) and a head is open. It holds small and large values (the large ones are
written from the caller's memory: the direct-value path), flags, absolute expiry times,
HTTP content types and cookies, overwrites, deletes (tombstones), appends, counters and
a flush_all marker with objects written before it (gone) and after it (present).
With --kill the server is SIGKILLed at the end instead of stopped, so no closing
checkpoint is written and a restart must scan the head's tail. It also writes touch records
and stale marks (`md KEY I`), listed in expected.json ("touched", "stale"); the v1
directories were written by an earlier version of this script, without them.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import balelib  # noqa: E402

FAR_EXPIRY = 2147480000  # January 2038, absolute unix seconds (memcached parses a signed 32-bit)


def value_for(key, size):
    """Deterministic bytes for a key: the golden test recomputes nothing, it compares
    hashes, but a reader of expected.json can regenerate the values from this."""
    out = bytearray()
    block = hashlib.sha256(key.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def cmd(self, text, data=None):
        payload = text.encode() + b"\r\n"
        if data is not None:
            payload += data + b"\r\n"
        self.s.sendall(payload)
        return self.line()


def http(port, method, path, body=b"", headers=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        method, path, len(body))
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    s.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def main():
    bale, out = sys.argv[1], sys.argv[2]
    kill = "--kill" in sys.argv[3:]
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    data = os.path.join(out, "data")
    srv = balelib.Server(bale, data, "--partitions", "4", "--segment-size", "1m",
                         "--durability", "sync", "--threads", "1")
    c = Client(srv.port)
    expected = {}  # key -> dict, or None when the key must read as missing

    def put(key, size, flags=0, exptime=0):
        v = value_for(key, size)
        assert c.cmd("set %s %d %d %d" % (key, flags, exptime, len(v)), v) == b"STORED"
        expected[key] = {"flags": flags, "value": v}

    # Before the flush: all of these must be gone.
    for i in range(50):
        put("preflush-%d" % i, 100 + i)
    assert c.cmd("flush_all") == b"OK"
    for i in range(50):
        expected["preflush-%d" % i] = None

    # Small values, some with flags and a far expiry.
    for i in range(2000):
        put("small-%d" % i, 10 + (i * 37) % 900, flags=i % 7, exptime=FAR_EXPIRY if i % 3 == 0 else 0)
    # Large values (direct-value path above 64 KiB), enough to seal segments.
    for i in range(12):
        put("large-%d" % i, 70000 + i * 9000, flags=1000 + i)
    # Overwrites and deletes.
    for i in range(0, 2000, 5):
        put("small-%d" % i, 33 + i % 50, flags=42)
    for i in range(1, 2000, 11):
        r = c.cmd("delete small-%d" % i)
        assert r == b"DELETED", (i, r)
        expected["small-%d" % i] = None
    # append and a counter.
    put("appended", 20)
    assert c.cmd("append appended 0 0 5", b"-tail") == b"STORED"
    expected["appended"]["value"] += b"-tail"
    assert c.cmd("set counter 0 0 2", b"40") == b"STORED"
    assert c.cmd("incr counter 2") == b"42"
    expected["counter"] = {"flags": 0, "value": b"42"}
    # Touch records (needle kind 2, since issue 9): a new expiry without a copy of the
    # value. Keys that had none, so that the expiry read back must come from the record.
    touched = []
    for i in range(1, 600, 3):
        key = "small-%d" % i
        if expected.get(key) is None or i % 5 == 0:
            continue
        assert c.cmd("touch %s %d" % (key, FAR_EXPIRY)) == b"TOUCHED", key
        touched.append(key)
    # Stale marks (meta `md KEY I`, since issue 12): the object stays, marked stale.
    stale = []
    for i in range(10):
        key = "stale-%d" % i
        put(key, 60 + i, flags=i)
        assert c.cmd("md %s I" % key) == b"HD", key
        stale.append(key)
    # An empty value, and a key of the longest length.
    put("empty", 0)
    put("k" * 250, 77)

    # HTTP: content types and server-side cookies.
    http_objects = {}
    for i in range(20):
        key = "http-%d" % i
        body = value_for(key, 500 + i * 3000)
        ctype = "image/jpeg" if i % 2 == 0 else "text/plain; charset=utf-8"
        status, _ = http(srv.http_port, "PUT", "/o/" + key, body, {"Content-Type": ctype})
        assert status in (200, 201), status
        expected[key] = {"flags": 0, "value": body}
        http_objects[key] = ctype

    # Every object as the server returns it now (flags, and the cookie of the public URL).
    manifest = {"objects": {}, "missing": [], "http": {}}
    manifest["touched"] = sorted(touched)  # each reads with an expiry (mg t), not -1
    manifest["stale"] = sorted(stale)  # each reads with mg's X flag
    for key, e in sorted(expected.items()):
        if e is None:
            manifest["missing"].append(key)
            continue
        head = c.cmd("get " + key)
        assert head.startswith(b"VALUE "), (key, head)
        got = c.exact(int(head.split()[3]) + 2)[:-2]
        assert got == e["value"], key
        assert int(head.split()[2]) == e["flags"], key
        assert c.line() == b"END"
        manifest["objects"][key] = {
            "flags": e["flags"],
            "size": len(e["value"]),
            "sha256": hashlib.sha256(e["value"]).hexdigest(),
        }
    for key, ctype in http_objects.items():
        manifest["http"][key] = {"content_type": ctype}

    if kill:
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait()
    else:
        srv.stop()
    for name in os.listdir(out):
        if name.startswith("data.out"):
            os.remove(os.path.join(out, name))
    # What a server makes afresh at each open: the owner's lock and the full-disk reserve.
    for name in ("LOCK", "RESERVE"):
        if os.path.exists(os.path.join(data, name)):
            os.remove(os.path.join(data, name))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=0, sort_keys=True)
        f.write("\n")
    print("wrote %s: %d objects, %d missing" % (out, len(manifest["objects"]),
                                               len(manifest["missing"])))


if __name__ == "__main__":
    main()
