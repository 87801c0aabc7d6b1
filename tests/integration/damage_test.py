#!/usr/bin/env python3
"""Damage is contained and reported; nothing is lost silently (issue 10, items 5 and 6).

Before, one flipped byte in a segment's superblock, or a damaged FLUSH marker in one
partition, made `bale serve` exit at start; a deleted segment made its objects vanish
with no word (and `bale verify` exit 0); a flipped bit in the head's last record was
taken for a torn write and cut. Must hold, with four partitions each damaged one way:

  p0  a byte flipped in the superblock (salt) of a sealed middle segment
  p1  a byte flipped in FLUSH
  p2  a middle segment deleted
  p3  no checkpoint; a bit flipped in a record of the head followed by good records,
      and one in the head's last record (a 100 KB object)

the server starts; every object of p0 reads back exactly; p1's keys answer
`SERVER_ERROR partition 1 unavailable: ...` (HTTP 503), never a miss, and take no
writes; p2's objects outside the deleted segment read back exactly; p3's objects read
back exactly but the two damaged ones (misses), and its head keeps every byte; the
damage is on stderr at start, in `stats`, /status and /metrics, and again after a
restart; `bale verify` exits 1 naming each file (and offset); flush_all repairs p1.

Then FLUSH_ALL, the store's flush_all marker (format 2, format/store_flush.h), in a store
of its own: a byte flipped in its header and one in partition 2's rule. Before, its one
CRC over every rule made all partitions unavailable; now only partition 2 is (its keys
answer SERVER_ERROR / 503), the others serve and keep what flush_all hid, the header is
the store's own report (log, `stats` bale_flush_all_damaged, /status with partition
null, /metrics), `bale verify` exits 1 naming both offsets, and flush_all repairs it.

Usage: damage_test.py BALE TMPDIR
"""

import hashlib
import os
import shutil
import struct
import subprocess
import sys

import balelib
from balelib import check, log

HERE = os.path.dirname(os.path.abspath(__file__))

OBJECTS = 4800
VALUE_SIZE = 3000
BIG_SIZE = 100 << 10
NEEDLE_MAGIC = 0x314C444E
SUPERBLOCK = 64
HEADER = struct.Struct("<IIQQIIIIBBH")  # format/needle.h: 44 bytes
FLUSH_ALL_HEADER = 24  # format/store_flush.h, format 2: the header, then a rule per partition
FLUSH_ALL_RULE = 24


def value_for(key, size=VALUE_SIZE):
    seed = hashlib.sha256(key).digest()
    return (seed * (size // len(seed) + 1))[:size]


def records(path):
    """(offset, size, key, value_offset, value_len) of each needle in a segment file."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    pos = SUPERBLOCK
    while pos + HEADER.size <= len(data):
        magic, _, _, _, vlen, _, _, _, klen, _, ctlen = HEADER.unpack_from(data, pos)
        if magic != NEEDLE_MAGIC:
            break
        raw = HEADER.size + klen + ctlen + vlen
        key = data[pos + HEADER.size:pos + HEADER.size + klen]
        out.append((pos, (raw + 7) & ~7, key, pos + HEADER.size + klen + ctlen, vlen))
        pos += (raw + 7) & ~7
    return out


def segments(data, p):
    d = os.path.join(data, "p-%05d" % p)
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.startswith("seg-") and n.endswith(".dat"))


def xor_byte(path, offset, mask):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0] ^ mask
        f.seek(offset)
        f.write(bytes([b]))


class Conn:
    def __init__(self, srv):
        self.s = srv.connect(timeout=60)
        self.buf = bytearray()

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def get_many(self, keys):
        """One `get` per key, pipelined; key -> value, None (miss) or the error line."""
        self.s.sendall(b"".join(b"get %s\r\n" % k for k in keys))
        out = {}
        for k in keys:
            line = self.line()
            if line.startswith(b"SERVER_ERROR"):
                out[k] = line.decode()
                continue
            if line == b"END":
                out[k] = None
                continue
            parts = line.split()
            check(parts[0] == b"VALUE" and parts[1] == k, "get %r: %r" % (k, line))
            value = self.take(int(parts[3]) + 2)[:-2]
            check(self.line() == b"END", "get %r: no END" % k)
            out[k] = value
        return out

    def command(self, raw):
        self.s.sendall(raw)
        return self.line()

    def stats(self):
        self.s.sendall(b"stats\r\n")
        out = {}
        while True:
            line = self.line()
            if line == b"END":
                return out
            _, name, value = line.decode().split(" ", 2)
            out[name] = value


def verify(bale, data, want_rc, needles):
    """Runs `bale verify`: it must exit want_rc and say every one of `needles`."""
    v = subprocess.run([bale, "verify", "--data", data], capture_output=True, text=True,
                       timeout=120)
    check(v.returncode == want_rc, "bale verify exited %d, want %d:\n%s%s"
          % (v.returncode, want_rc, v.stdout, v.stderr))
    for needle in needles:
        check(needle in v.stdout, "bale verify does not say %r:\n%s" % (needle, v.stdout))


def repair_with_flush_all(bale, data, args, key, want):
    """flush_all without a delay, on a server of `data`: then `stats` has the figures in
    `want`, `key` (of a partition that was unavailable) reads as flushed and takes a set."""
    srv = balelib.Server(bale, data, *args)
    c = Conn(srv)
    check(c.command(b"flush_all\r\n") == b"OK", "flush_all")
    st = c.stats()
    check(all(st.get(k) == v for k, v in want.items()),
          "after flush_all: %r" % {k: st.get(k) for k in want})
    check(c.get_many([key])[key] is None, "flushed %r came back" % key)
    check(c.command(b"set %s 0 0 3\r\nnew\r\n" % key) == b"STORED", "set %r after repair" % key)
    check(srv.stop() == 0, "the repairing server did not stop cleanly")


def check_damage_stats(st, when):
    want = {"bale_damaged_partitions": "4", "bale_unavailable_partitions": "1",
            "bale_damaged_segments": "1", "bale_unreadable_segments": "0",
            "bale_missing_segments": "1", "bale_corrupt_records": "2",
            "bale_truncated_bytes": "0"}
    for name, value in want.items():
        check(st.get(name) == value, "%s: stats %s = %r, want %s" % (when, name, st.get(name),
                                                                    value))


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")
    args = ("--partitions", "4", "--segment-size", "1m", "--threads", "2")

    # 1. Data in every partition.
    srv = balelib.Server(bale, data, *args)
    where = {}  # key -> partition
    c = Conn(srv)
    with balelib.HttpConn(srv.http_port, timeout=60) as h:
        for i in range(OBJECTS):
            key = b"obj-%05d" % i
            r = h.request("PUT", "/o/" + key.decode(), value_for(key))
            check(r.status == 200, "PUT %r: %r" % (key, r))
            where[key] = r.json()["partition"]
        # A 100 KB object written last to partition 3: the head's last record.
        for i in range(100):
            key = b"big-%02d" % i
            r = h.request("PUT", "/o/" + key.decode(), value_for(key, BIG_SIZE))
            check(r.status == 200, "PUT %r: %r" % (key, r))
            where[key] = r.json()["partition"]
            if where[key] == 3:
                big = key
                break
        else:
            raise AssertionError("no big-NN key landed in partition 3")
    want = {k: value_for(k, BIG_SIZE if k.startswith(b"big-") else VALUE_SIZE) for k in where}
    check(srv.stop() == 0, "first server did not stop cleanly")

    # 2. Damage.
    for p in (0, 2):
        check(len(segments(data, p)) >= 3, "partition %d has %d segments, want 3 or more"
              % (p, len(segments(data, p))))
    p0_damaged = segments(data, 0)[1]
    xor_byte(p0_damaged, 29, 0x08)  # in the salt
    with open(p0_damaged, "rb") as f:
        p0_bytes = f.read()
    # A FLUSH marker as earlier builds kept one per partition (this build writes FLUSH_ALL
    # at the top, which would supersede it), taken from a golden data directory.
    shutil.copyfile(os.path.join(HERE, "..", "golden", "v1-stopped", "data", "p-00001", "FLUSH"),
                    os.path.join(data, "p-00001", "FLUSH"))
    xor_byte(os.path.join(data, "p-00001", "FLUSH"), 10, 0x01)
    p2_deleted = segments(data, 2)[1]
    lost = {key for _, _, key, _, _ in records(p2_deleted)}
    check(lost, "the deleted segment held no records")
    os.remove(p2_deleted)
    os.remove(os.path.join(data, "p-00003", "index.ckpt"))
    p3_head = segments(data, 3)[-1]
    recs = records(p3_head)
    check(len(recs) >= 3 and recs[-1][2] == big, "partition 3's head: %d records, last %r"
          % (len(recs), recs[-1][2] if recs else None))
    mid = recs[len(recs) // 2]
    xor_byte(p3_head, mid[3] + 7, 0x10)  # in a value, good records follow
    last = recs[-1]
    xor_byte(p3_head, last[3] + BIG_SIZE // 2, 0x02)  # in the last record's value
    with open(p3_head, "rb") as f:
        p3_bytes = f.read()
    damaged_keys = {mid[2], last[2]}
    log("damaged: %s superblock, p-00001/FLUSH, %s deleted (%d objects), %s records at %d "
        "and %d" % (os.path.basename(p0_damaged), os.path.basename(p2_deleted), len(lost),
                    os.path.basename(p3_head), mid[0], last[0]))

    # 3. The server starts, serves what is readable and reports the rest.
    for round_ in ("first start", "restart"):
        srv = balelib.Server(bale, data, *args)
        out = srv.output()
        for needle in ("partition 0: damaged_superblock: %s: offset 0" % p0_damaged,
                       "partition 1: bad_flush_marker: %s" % os.path.join(data, "p-00001",
                                                                          "FLUSH"),
                       "partition 2: missing_segment: %s"
                       % os.path.join(data, "p-00002", "seg-0000000002-*.dat"),
                       "partition 3: corrupt_record: %s: offset %d" % (p3_head, mid[0]),
                       "partition 3: corrupt_record: %s: offset %d" % (p3_head, last[0]),
                       "4 of 4 partitions damaged (1 unavailable)"):
            check(needle in out, "%s: %r not in the server's output:\n%s" % (round_, needle, out))
        c = Conn(srv)
        got = c.get_many(sorted(want))
        served = 0
        for key, value in got.items():
            p = where[key]
            if p == 1:
                check(isinstance(value, str) and
                      value.startswith("SERVER_ERROR partition 1 unavailable: "),
                      "%s: get %r in partition 1: %r" % (round_, key, value))
            elif (p == 2 and key in lost) or (p == 3 and key in damaged_keys):
                check(value is None, "%s: get %r: %r, want a miss" % (round_, key, value))
            else:
                check(value == want[key], "%s: get %r (partition %d): %r" % (
                    round_, key, p, value if not isinstance(value, bytes) else value[:40]))
                served += 1
        check_damage_stats(c.stats(), round_)
        r = balelib.http_request(srv.http_port, "GET", "/o/" + next(
            k for k in sorted(want) if where[k] == 1).decode())
        check(r.status == 503 and b"partition 1 unavailable" in r.body, "HTTP: %r" % r)
        k0 = next(k for k in sorted(want) if where[k] == 0)
        r = balelib.http_request(srv.http_port, "GET", "/o/" + k0.decode())
        check(r.status == 200 and r.body == want[k0], "HTTP GET %r: %r" % (k0, r))
        status = balelib.http_request(srv.http_port, "GET", "/status").json()["damage"]
        check(status["unavailable_partitions"] == [1] and
              status["damaged_partitions"] == [0, 1, 2, 3] and
              status["missing_segments"] == 1 and status["corrupt_records"] == 2,
              "%s: /status damage: %r" % (round_, status))
        kinds = sorted((d["partition"], d["kind"]) for d in status["reports"])
        check(kinds == [(0, "damaged_superblock"), (1, "bad_flush_marker"),
                        (2, "missing_segment"), (3, "corrupt_record"), (3, "corrupt_record")],
              "/status reports: %r" % status["reports"])
        metrics = balelib.http_request(srv.http_port, "GET", "/metrics").body.decode()
        for line in ("bale_unavailable_partitions 1", "bale_damaged_partitions 4",
                     "bale_missing_segments 1", "bale_corrupt_records 2"):
            check("\n" + line + "\n" in metrics, "/metrics lacks %r" % line)
        if round_ == "first start":
            # Writes: the damaged-but-serving partitions take them, without touching the
            # damaged bytes; the unavailable one refuses them.
            k3 = next(k for k in sorted(want) if where[k] == 3 and k not in damaged_keys)
            k1 = next(k for k in sorted(want) if where[k] == 1)
            check(c.command(b"set %s 0 0 3\r\nnew\r\n" % k3) == b"STORED", "set in p3")
            want[k3] = b"new"
            check(c.command(b"set %s 0 0 3\r\nnew\r\n" % k1).startswith(
                b"SERVER_ERROR partition 1 unavailable: "), "set in p1")
        log("%s: %d objects served, %d in partition 1 refused, %d lost with the deleted "
            "segment, %d damaged records missed" % (round_, served,
                                                    sum(1 for p in where.values() if p == 1),
                                                    len(lost), len(damaged_keys)))
        check(srv.stop() == 0, "%s: server did not stop cleanly" % round_)

        # Nothing damaged was rewritten or cut (partition 3's head takes appends after it).
        with open(p0_damaged, "rb") as f:
            check(f.read() == p0_bytes, "the damaged segment of partition 0 changed")
        with open(p3_head, "rb") as f:
            check(f.read(len(p3_bytes) + 1)[:len(p3_bytes)] == p3_bytes,
                  "partition 3's damaged head was rewritten or cut")

    # 4. bale verify names every damaged file.
    verify(bale, data, 1, ("%s: offset 0: Corruption" % p0_damaged,
                           "%s: offset 0: Corruption" % os.path.join(data, "p-00001", "FLUSH"),
                           "%s: missing" % os.path.join(data, "p-00002", "seg-0000000002-*.dat"),
                           "%s: offset %d: Corruption" % (p3_head, mid[0]),
                           "%s: offset %d: Corruption" % (p3_head, last[0]),
                           "problems=5"))

    # 5. flush_all (without a delay) repairs partition 1.
    repair_with_flush_all(bale, data, args, next(k for k in sorted(want) if where[k] == 1),
                          {"bale_unavailable_partitions": "0", "bale_damaged_partitions": "3"})

    flush_all_case(bale, tmp)
    log("damage_test: OK")


def flush_all_case(bale, tmp):
    data = os.path.join(tmp, "flush-data")
    args = ("--partitions", "4", "--threads", "2")
    srv = balelib.Server(bale, data, *args)
    where = {}  # key -> partition
    with balelib.HttpConn(srv.http_port, timeout=60) as h:
        def put(key):
            r = h.request("PUT", "/o/" + key.decode(), value_for(key, 100))
            check(r.status == 200, "PUT %r: %r" % (key, r))
            where[key] = r.json()["partition"]
        for i in range(100):
            put(b"old-%03d" % i)
        c = Conn(srv)
        check(c.command(b"flush_all\r\n") == b"OK", "flush_all")
        for i in range(200):
            put(b"new-%03d" % i)
    check(srv.stop() == 0, "FLUSH_ALL case: server did not stop cleanly")
    path = os.path.join(data, "FLUSH_ALL")
    check(os.path.getsize(path) == FLUSH_ALL_HEADER + 4 * FLUSH_ALL_RULE,
          "FLUSH_ALL is %d bytes" % os.path.getsize(path))
    rule2 = FLUSH_ALL_HEADER + 2 * FLUSH_ALL_RULE
    xor_byte(path, 13, 0x01)  # the header's partition count
    xor_byte(path, rule2 + 9, 0x04)  # partition 2's flush_version
    log("damaged: FLUSH_ALL header (byte 13) and partition 2's rule (offset %d)" % rule2)

    for round_ in ("first start", "restart"):
        srv = balelib.Server(bale, data, *args)
        c = Conn(srv)
        got = c.get_many(sorted(where))
        for key, value in got.items():
            p = where[key]
            if p == 2:
                check(isinstance(value, str) and value.startswith(
                    "SERVER_ERROR partition 2 unavailable: its FLUSH_ALL marker is damaged"),
                    "%s: get %r in partition 2: %r" % (round_, key, value))
            elif key.startswith(b"old-"):
                check(value is None, "%s: flushed %r (partition %d) came back: %r"
                      % (round_, key, p, value))
            else:
                check(value == value_for(key, 100), "%s: get %r (partition %d): %r"
                      % (round_, key, p, value))
        served = sum(1 for k, v in got.items() if isinstance(v, bytes))
        check(served == sum(1 for k, p in where.items() if p != 2 and k.startswith(b"new-")),
              "%s: %d objects served" % (round_, served))
        st = c.stats()
        for name, value in (("bale_flush_all_damaged", "1"), ("bale_unavailable_partitions", "1"),
                            ("bale_damaged_partitions", "1")):
            check(st.get(name) == value, "%s: stats %s = %r, want %s"
                  % (round_, name, st.get(name), value))
        k2 = next(k for k in sorted(where) if where[k] == 2)
        r = balelib.http_request(srv.http_port, "GET", "/o/" + k2.decode())
        check(r.status == 503 and b"partition 2 unavailable" in r.body, "HTTP: %r" % r)
        status = balelib.http_request(srv.http_port, "GET", "/status").json()["damage"]
        check(status["unavailable_partitions"] == [2] and status["damaged_partitions"] == [2]
              and status["flush_all_damaged"] is True, "%s: /status damage: %r" % (round_, status))
        reports = [(d["partition"], d["kind"], d["file"], d["offset"]) for d in status["reports"]]
        check(reports == [(2, "bad_flush_marker", path, rule2), (None, "bad_flush_marker", path, 0)],
              "%s: /status reports: %r" % (round_, status["reports"]))
        metrics = balelib.http_request(srv.http_port, "GET", "/metrics").body.decode()
        for line in ("bale_flush_all_damaged 1", "bale_unavailable_partitions 1",
                     "bale_damaged_partitions 1"):
            check("\n" + line + "\n" in metrics, "%s: /metrics lacks %r" % (round_, line))
        out = srv.output()
        for needle in ("bale serve: store: bad_flush_marker: %s: offset 0: header" % path,
                       "bale serve: partition 2: bad_flush_marker: %s: offset %d: rule fails its "
                       "checksum" % (path, rule2),
                       "1 of 4 partitions damaged (1 unavailable)"):
            check(needle in out, "%s: %r not in the server's output:\n%s" % (round_, needle, out))
        check(srv.stop() == 0, "FLUSH_ALL case, %s: server did not stop cleanly" % round_)
        log("FLUSH_ALL case, %s: %d objects served, partition 2's refused" % (round_, served))

    verify(bale, data, 1, ("%s: offset 0: Corruption: header" % path,
                           "%s: offset %d: Corruption: rule fails its checksum (the rule of "
                           "partition 2 is lost)" % (path, rule2),
                           "problems=2"))

    # flush_all (without a delay) repairs it: a whole new marker.
    repair_with_flush_all(bale, data, args, k2, {"bale_flush_all_damaged": "0",
                                                 "bale_unavailable_partitions": "0",
                                                 "bale_damaged_partitions": "0"})
    verify(bale, data, 0, ("problems=0",))


if __name__ == "__main__":
    main()
