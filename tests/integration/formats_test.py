#!/usr/bin/env python3
"""Formats kept: every golden data directory under tests/golden/ (written by an earlier
release, see tests/golden/make_golden.py) opens with this build, passes `bale verify`,
and reads back every object exactly as recorded: value bytes, flags, HTTP content type;
deleted and flushed keys stay missing; touched objects keep their expiry and stale marks
stay (where the manifest lists them). Each directory is opened twice (the second time
from what this build wrote at its first close), always on a copy.

Usage: formats_test.py BALE TMPDIR
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import balelib
from balelib import check, log

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")


def read_value(sock, buf, key):
    """Sends `get key`; returns (flags, value) or None on a miss."""
    sock.sendall(b"get " + key + b"\r\n")
    while b"\r\n" not in buf[0]:
        buf[0] += sock.recv(1 << 16)
    line, _, rest = buf[0].partition(b"\r\n")
    if line == b"END":
        buf[0] = rest
        return None
    parts = line.split()
    check(parts[0] == b"VALUE" and parts[1] == key, "get %r: %r" % (key, line))
    size = int(parts[3])
    while len(rest) < size + 7:
        rest += sock.recv(1 << 16)
    value, tail = rest[:size], rest[size:]
    check(tail.startswith(b"\r\nEND\r\n"), "get %r: bad end %r" % (key, tail[:20]))
    buf[0] = tail[7:]
    return int(parts[2]), value


def meta_flags(sock, buf, key):
    """Sends `mg key t` (no value); returns the reply's flags (HD ...)."""
    sock.sendall(b"mg " + key + b" t\r\n")
    while b"\r\n" not in buf[0]:
        buf[0] += sock.recv(1 << 16)
    line, _, buf[0] = buf[0].partition(b"\r\n")
    parts = line.split()
    check(parts and parts[0] == b"HD", "mg %r: %r" % (key, line))
    return parts[1:]


def check_store(bale, data, manifest, name):
    srv = balelib.Server(bale, data, "--threads", "1")
    check(srv.partitions == 4, "%s: %s partitions" % (name, srv.partitions))
    with srv.connect(timeout=30) as s:
        buf = [b""]
        for key, want in manifest["objects"].items():
            got = read_value(s, buf, key.encode())
            check(got is not None, "%s: %r is missing" % (name, key))
            flags, value = got
            check(flags == want["flags"], "%s: %r flags %d, want %d"
                  % (name, key, flags, want["flags"]))
            check(len(value) == want["size"] and
                  hashlib.sha256(value).hexdigest() == want["sha256"],
                  "%s: %r value differs (%d bytes, want %d)" % (name, key, len(value), want["size"]))
        for key in manifest["missing"]:
            check(read_value(s, buf, key.encode()) is None, "%s: %r came back" % (name, key))
        # Touch records and stale marks (golden directories written since issue 12).
        for key in manifest.get("touched", []):
            flags = meta_flags(s, buf, key.encode())
            check(any(f.startswith(b"t") and f != b"t-1" for f in flags),
                  "%s: %r lost its touched expiry: %r" % (name, key, flags))
        for key in manifest.get("stale", []):
            flags = meta_flags(s, buf, key.encode())
            check(b"X" in flags, "%s: %r lost its stale mark: %r" % (name, key, flags))
    for key, want in manifest["http"].items():
        r = balelib.http_request(srv.http_port, "GET", "/o/" + key, timeout=30)
        check(r.status == 200, "%s: GET /o/%s: %d" % (name, key, r.status))
        check(r.header("Content-Type") == want["content_type"],
              "%s: %s content type %r" % (name, key, r.header("Content-Type")))
        check(hashlib.sha256(r.body).hexdigest() == manifest["objects"][key]["sha256"],
              "%s: %s body differs over HTTP" % (name, key))
    rc = srv.stop()
    check(rc == 0, "%s: bale serve exited %d" % (name, rc))
    return len(manifest["objects"]), len(manifest["missing"])


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    names = sorted(d for d in os.listdir(GOLDEN) if os.path.isdir(os.path.join(GOLDEN, d)))
    check(names, "no golden directories under %s" % GOLDEN)
    for name in names:
        with open(os.path.join(GOLDEN, name, "expected.json")) as f:
            manifest = json.load(f)
        data = os.path.join(tmp, name)
        shutil.copytree(os.path.join(GOLDEN, name, "data"), data)
        v = subprocess.run([bale, "verify", "--data", data], capture_output=True, text=True,
                           timeout=120)
        check(v.returncode == 0, "%s: bale verify exited %d: %s%s"
              % (name, v.returncode, v.stdout, v.stderr))
        for attempt in ("first open", "reopen"):
            objects, missing = check_store(bale, data, manifest, "%s (%s)" % (name, attempt))
        log("%s: %d objects read back, %d keys stay missing, twice" % (name, objects, missing))
    log("formats_test: %d golden directories OK" % len(names))


if __name__ == "__main__":
    main()
