"""A cluster of real processes on loopback (issue #13): etcd, two `bale directory`, three
`bale store` and a `bale router`, all on ephemeral ports, etcd's data on tmpfs, leases of
5 s. Every step asserts what was acknowledged and what is read back.

1. memccapable -a and -b pass through the router.
2. Keys land where the map says: each node holds exactly the objects of the keys whose
   partition (from the HTTP public URL) the map gives it.
3. A fourth store joins and shows in `bale admin status` (up, 0 partitions).
4. A store killed: its partitions fail within --store-timeout with a clear error, every
   other key answers; restarted, every acknowledged write is back.
5. etcd killed and restarted, the leading directory killed (the standby leads), the
   router killed and restarted: nothing acknowledged is lost, writes go on.
6. Bad input on a store's internal port: garbage, a huge length, an old epoch, a
   partition not held: an error frame or a closed connection, and the store serves on.
7. etcd's request count grows with membership, not with client requests.
"""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request

from balelib import check, log, WAIT_S
from clusterlib import Cluster
from pymemcache.client.base import Client

T0 = time.monotonic()


def mc(port, timeout=WAIT_S):
    return Client(("127.0.0.1", port), connect_timeout=timeout, timeout=timeout)


def http_put(port, key, value):
    req = urllib.request.Request("http://127.0.0.1:%d/o/%s" % (port, key), data=value,
                                 method="PUT")
    with urllib.request.urlopen(req, timeout=WAIT_S) as r:
        return json.loads(r.read())


def http_json(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=WAIT_S) as r:
        return json.loads(r.read())


def raw(port, data, timeout=WAIT_S):
    """Sends `data` to the memcached port and reads one reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def partition_of(url):
    # /<partition>/<key>/<cookie>
    return int(url.strip("/").split("/")[0])


def step(name):
    log("cluster: %s (%.1f s)" % (name, time.monotonic() - T0))


def etcd_grpc_requests(etcd):
    """etcd's own count of gRPC requests it has handled (its /metrics)."""
    with urllib.request.urlopen(etcd.url + "/metrics", timeout=WAIT_S) as r:
        text = r.read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith("grpc_server_handled_total{"):
            total += int(float(line.rsplit(" ", 1)[1]))
        if line.startswith("grpc_server_msg_received_total{") and "Watch" in line:
            pass
    return total


def frame(op, partition, request_id, epoch, key=b"", extras=b"", body=b""):
    """An internal-protocol frame (proto/internal_frame.h): 40-byte header."""
    return struct.pack("<BBBBIQQHHIQ", 0xB1, op, 0, 0, partition, request_id, epoch, len(key),
                       len(extras), 0, len(body)) + extras + key + body


def read_frame(s, timeout=WAIT_S):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < 40:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    magic, op, flags, status, partition, rid, epoch, klen, xlen, _, blen = struct.unpack(
        "<BBBBIQQHHIQ", buf[:40])
    total = 40 + klen + xlen + blen
    while len(buf) < total:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return {"op": op, "status": status, "epoch": epoch, "id": rid, "body": buf[40 + xlen + klen:total]}


def closed(s, timeout=WAIT_S):
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, socket.timeout):
        return False


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    c = Cluster(bale, tmp, partitions=32, initial_nodes=3, lease_ttl=5)
    try:
        run(c)
    finally:
        c.cleanup()
    log("cluster: all checks passed in %.1f s" % (time.monotonic() - T0))


def run(c):
    d0 = c.start_directory()
    d1 = c.start_directory()
    for name in ("a", "b", "c"):
        c.start_store(name)
    m = c.wait_placed(stores=3)
    check(m["partitions"] == 32, "map partitions %r" % m["partitions"])
    counts = {}
    for o in m["owners"]:
        counts[o] = counts.get(o, 0) + 1
    check(sorted(counts.values()) in ([10, 11, 11],), "placement %r" % counts)
    r = c.start_router(["--store-timeout", "1000"])
    # The router and every store have the map once a request goes through.
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if mc(r.port).set("warmup", "1"):
                break
        except Exception:
            pass
        time.sleep(0.1)
    leaders = [d for d in (d0, d1) if http_json(d.http_port, "/status")["leading"]]
    check(len(leaders) == 1, "one leading directory, got %d" % len(leaders))
    for d in (d0, d1):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % d.http_port,
                                    timeout=WAIT_S) as resp:
            metrics = resp.read().decode()
        want = "bale_directory_leading %d" % (1 if d is leaders[0] else 0)
        check(want in metrics.splitlines(), "directory /metrics lacks %r: %s" % (want, metrics))
        if d is leaders[0]:
            check("bale_directory_nodes_up 3" in metrics.splitlines(),
                  "the leader's /metrics nodes_up: %s" % metrics)
    step("etcd, 2 directories, 3 stores, router; 32 partitions placed %r" % sorted(counts.values()))

    # 1. memccapable through the router.
    for mode in ("-a", "-b"):
        p = subprocess.run(["memccapable", mode, "-h", "127.0.0.1", "-p", str(r.port)],
                           capture_output=True, timeout=120)
        out = p.stdout.decode() + p.stderr.decode()
        check("All tests passed" in out, "memccapable %s through the router: %s" % (mode, out[-2000:]))
    step("memccapable -a and -b pass through the router")

    # 2. Keys land where the map says.
    client = mc(r.port)
    client.flush_all()
    acked = {}
    where = {}
    m = c.map()
    for i in range(300):
        key = "k%03d" % i
        value = ("value-%d-" % i).encode() * (1 + i % 7)
        desc = http_put(r.http_port, key, value)
        acked[key] = value
        where[key] = c.owner_of(m, partition_of(desc["url"]))
    want = {}
    for k, node in where.items():
        want[node] = want.get(node, 0) + 1
    nodes = json.loads(c.admin("nodes", "--json"))["nodes"]
    got = {n["id"]: n.get("objects") for n in nodes}
    for node, n in want.items():
        check(got.get(node) == n, "node %s holds %r objects, the map says %d (%r)" % (node, got.get(node), n, got))
    check(sum(want.values()) == 300, "300 keys placed")
    for k, v in acked.items():
        check(client.get(k) == v, "get %s through the router" % k)
    got_many = client.get_many(list(acked)[:100])
    check(got_many == {k: acked[k] for k in list(acked)[:100]}, "get_many of 100 keys")
    step("300 keys: each node holds exactly the keys of its partitions %r" % sorted(want.values()))

    # 3. A fourth store joins.
    c.start_store("d")
    c.wait_map(lambda m: len(m["nodes"]) == 4 and all(n["up"] for n in m["nodes"]),
               what="a map with 4 nodes up")
    status = c.admin("status")
    d_id = c.stores["d"].node_id
    row = [l for l in status.splitlines() if l.startswith(d_id)]
    check(len(row) == 1 and " up " in row[0] and re.search(r"\bup\s+0\s", row[0]),
          "admin status shows %s up with 0 partitions: %s" % (d_id, status))
    check("4 of 4 nodes up" in status, "admin status: %s" % status)
    step("a fourth store joined: up, 0 partitions in bale admin status")

    # 4. Kill store b.
    b = c.stores["b"]
    b_keys = [k for k, n in where.items() if n == b.node_id]
    other = [k for k, n in where.items() if n != b.node_id]
    b.kill()
    worst = 0.0
    for k in b_keys[:10]:
        t = time.monotonic()
        reply = raw(r.port, b"get %s\r\n" % k.encode())
        took = time.monotonic() - t
        worst = max(worst, took)
        check(reply.startswith(b"SERVER_ERROR") and b.node_id.encode() in reply,
              "get %s on the killed store: %r" % (k, reply))
    check(worst < 3.0, "an error for a killed store's key took %.2f s (store-timeout 1 s)" % worst)
    for k in other:
        check(client.get(k) == acked[k], "get %s while store b is down" % k)
    # writes to b's partitions fail, writes elsewhere are acknowledged
    t = time.monotonic()
    reply = raw(r.port, b"set %s 0 0 1\r\nx\r\n" % b_keys[0].encode())
    check(reply.startswith(b"SERVER_ERROR"), "set on the killed store: %r" % reply)
    for k in other[:50]:
        acked[k] = b"while-b-down-" + k.encode()
        check(client.set(k, acked[k]), "set %s while b is down" % k)
    step("store b killed: its %d keys fail in %.2f s at worst with SERVER_ERROR naming it; "
         "%d others answer" % (len(b_keys), worst, len(other)))
    b.restart()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if client.get(b_keys[0]) == acked[b_keys[0]]:
                break
        except Exception:
            pass
        time.sleep(0.1)
    for k in b_keys:
        check(client.get(k) == acked[k], "get %s after store b restarted" % k)
    step("store b restarted: its %d keys are back" % len(b_keys))

    # A hung store (SIGSTOP): its keys fail after --store-timeout (1 s), the others answer.
    cs = c.stores["c"]
    c_keys = [k for k, n in where.items() if n == cs.node_id]
    cs.pause()
    try:
        t = time.monotonic()
        reply = raw(r.port, b"get %s\r\n" % c_keys[0].encode())
        took = time.monotonic() - t
        check(reply.startswith(b"SERVER_ERROR") and b"did not answer within 1000 ms" in reply
              and cs.node_id.encode() in reply, "get on a hung store: %r" % reply)
        check(0.9 <= took < 5.0, "a hung store's key answered after %.2f s (timeout 1 s)" % took)
        for k in [k for k, n in where.items() if n != cs.node_id][:50]:
            check(client.get(k) == acked[k], "get %s while store c hangs" % k)
    finally:
        cs.resume()
    for k in c_keys:
        check(client.get(k) == acked[k], "get %s after store c resumed" % k)
    step("store c hung: its key failed after %.2f s naming it; others answered; resumed" % took)

    # 5a. etcd killed: the cluster serves on its last map; restarted, it carries on.
    before_epoch = c.map()["epoch"]
    c.etcd.kill()
    for k in list(acked)[:100]:
        check(client.get(k) == acked[k], "get %s while etcd is down" % k)
    for k in other[50:100]:
        acked[k] = b"while-etcd-down-" + k.encode()
        check(client.set(k, acked[k]), "set %s while etcd is down" % k)
    c.etcd.restart()
    time.sleep(1)
    m = c.wait_map(lambda m: all(n["up"] for n in m["nodes"]), what="every node up after etcd")
    check(m["epoch"] >= before_epoch, "epoch after etcd restart %d < %d" % (m["epoch"], before_epoch))
    for k, v in acked.items():
        check(client.get(k) == v, "get %s after etcd restarted" % k)
    step("etcd killed and restarted: %d acknowledged keys read back" % len(acked))

    # 5b. The leading directory killed: the standby leads.
    deadline = time.monotonic() + WAIT_S
    leaders = []
    while time.monotonic() < deadline:
        leaders = [d for d in (d0, d1) if http_json(d.http_port, "/status")["leading"]]
        if len(leaders) == 1:
            break
        time.sleep(0.2)
    check(len(leaders) == 1, "one leading directory after etcd restarted, got %d" % len(leaders))
    leader = leaders[0]
    standby = d1 if leader is d0 else d0
    leader.kill()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and not http_json(standby.http_port, "/status")["leading"]:
        time.sleep(0.2)
    check(http_json(standby.http_port, "/status")["leading"], "the standby leads")
    # the new leader acts: stopping store d shows it down
    c.stores["d"].stop()
    c.wait_map(lambda m: any(n["id"] == d_id and not n["up"] for n in m["nodes"]),
               what="store d down in the new leader's map")
    for k, v in acked.items():
        check(client.get(k) == v, "get %s after the leader died" % k)
    step("leading directory killed: the standby leads and marks store d down")

    # 5c. The router killed and restarted.
    client.close()
    r.kill()
    r.restart()
    r.port, r.http_port = int(r.ready_match.group(1)), int(r.ready_match.group(2))
    client = mc(r.port)
    for k, v in acked.items():
        check(client.get(k) == v, "get %s after the router restarted" % k)
    step("router killed and restarted: %d keys read back" % len(acked))

    # 6. Bad input on the internal port.
    a = c.stores["a"]
    epoch = c.map()["epoch"]
    with socket.create_connection(("127.0.0.1", a.port), timeout=WAIT_S) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" + b"\x00" * 64)
        f = read_frame(s)
        check(f is None or f["op"] == 0x7F, "garbage: %r" % f)
        check(closed(s), "garbage: connection not closed")
    with socket.create_connection(("127.0.0.1", a.port), timeout=WAIT_S) as s:
        s.sendall(frame(0x02, 0, 7, epoch, key=b"x", body=b"")[:32] + struct.pack("<Q", 1 << 40))
        f = read_frame(s)
        check(f is None or (f["op"] == 0x7F), "huge length: %r" % f)
        check(closed(s), "huge length: connection not closed")
    m = c.map()
    a_index = [i for i, n in enumerate(m["nodes"]) if n["id"] == a.node_id][0]
    held = [p for p, o in enumerate(m["owners"]) if o == a_index]
    not_held = [p for p, o in enumerate(m["owners"]) if o != a_index]
    with socket.create_connection(("127.0.0.1", a.port), timeout=WAIT_S) as s:
        s.sendall(frame(0x06, 0xFFFFFFFF, 9, epoch))  # STATS: not fenced
        f = read_frame(s)
        check(f and f["op"] == 0x06 and f["status"] == 0, "STATS: %r" % f)
        old = frame(0x02, held[0], 10, max(0, epoch - 1), key=b"x", extras=b"\x00" * 32)
        s.sendall(old)
        f = read_frame(s)
        check(f and f["op"] == 0x7F and f["status"] == 5 and f["epoch"] == epoch,
              "an old epoch: %r (node epoch %d)" % (f, epoch))
        s.sendall(frame(0x02, not_held[0], 11, epoch, key=b"x", extras=b"\x00" * 32))
        f = read_frame(s)
        check(f and f["op"] == 0x7F and f["status"] == 6, "a partition not held: %r" % f)
        s.sendall(frame(0x06, 0xFFFFFFFF, 12, epoch))
        f = read_frame(s)
        check(f and f["op"] == 0x06 and f["status"] == 0, "STATS after refusals: %r" % f)
    step("bad input on a store's port: error frames and closed connections")
    for k, v in list(acked.items())[:50]:
        check(client.get(k) == v, "get %s after bad input" % k)

    # 7. etcd's load does not follow client load.
    time.sleep(1)
    e0, t0 = etcd_grpc_requests(c.etcd), time.monotonic()
    for i in range(2000):
        k = "load%d" % (i % 200)
        client.set(k, b"v", noreply=False)
        client.get(k)
    e1, t1 = etcd_grpc_requests(c.etcd), time.monotonic()
    procs = 1 + 3 + 1  # a directory, three stores, a router: keep-alives every TTL/3
    bound = int((t1 - t0) / (5 / 3.0) + 1) * procs * 2 + 10
    check(e1 - e0 <= bound, "etcd handled %d requests during 4000 client requests (bound %d)"
          % (e1 - e0, bound))
    step("4000 client requests in %.1f s: etcd handled %d requests (bound %d)"
         % (t1 - t0, e1 - e0, bound))
    client.close()


if __name__ == "__main__":
    main()
