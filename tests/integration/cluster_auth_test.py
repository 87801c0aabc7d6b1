"""The cluster handshake (issue #14) between real processes on loopback: etcd, a
directory, three `bale store` and a `bale router`, every store, the router and `bale
admin` given the same --cluster-secret-file (clusterlib's Cluster(secret=True)).

1. memcached set/get through the router work, and `bale admin` reaches every node.
2. A raw TCP client sending a GET frame to a store's port without the handshake is
   closed without an answer (after the node's 1 s delay); the store logs the refusal
   with the peer's address and counts it in its /metrics (auth_failures); `bale admin`
   without the secret gets no figures from the nodes.
3. Safe defaults: a store asked to listen on 0.0.0.0 without a secret refuses to start
   and says why; with --insecure it starts and logs it.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

from balelib import check, log, WAIT_S
from clusterlib import Cluster, Proc, router_client

T0 = time.monotonic()


def step(name):
    log("cluster_auth: %s (%.1f s)" % (name, time.monotonic() - T0))


def get_frame(partition, epoch, key):
    """A GET frame of the internal protocol (proto/internal_frame.h), no handshake."""
    extras = b"\x00" * 32
    return struct.pack("<BBBBIQQHHIQ", 0xB1, 0x02, 0, 0, partition, 1, epoch, len(key),
                       len(extras), 0, 0) + extras + key


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    c = Cluster(bale, tmp, partitions=16, initial_nodes=3, lease_ttl=5, secret=True)
    try:
        run(c, bale, tmp)
    finally:
        c.cleanup()
    log("cluster_auth: all checks passed in %.1f s" % (time.monotonic() - T0))


def run(c, bale, tmp):
    check(os.stat(c.secret_file).st_mode & 0o777 == 0o600, "the secret file is 0600")
    stores, m, r = c.start_checked("cluster handshake required")
    step("etcd, a directory, 3 stores and a router with a secret")

    # 1. Through the router.
    client = router_client(r.port)
    for i in range(50):
        check(client.set("key%d" % i, b"value-%d" % i), "set key%d through the router" % i)
    for i in range(50):
        got = client.get("key%d" % i)
        check(got == b"value-%d" % i, "get key%d through the router: %r" % (i, got))
    nodes = json.loads(c.admin("nodes", "--json"))["nodes"]
    check(all(n["answered"] for n in nodes), "bale admin with the secret reaches every node: %r"
          % nodes)
    check(sum(n.get("objects", 0) for n in nodes) == 51, "51 objects: %r" % nodes)
    step("set/get through the router and bale admin pass the handshake")

    # 2. A raw GET frame on a store's port, without the handshake.
    target = stores[0]
    with socket.create_connection(("127.0.0.1", target.port), timeout=WAIT_S) as s:
        t0 = time.monotonic()
        s.sendall(get_frame(0, m["epoch"], b"key1"))  # refused whatever it asks
        s.settimeout(WAIT_S)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        waited = time.monotonic() - t0
    check(data == b"", "no answer before the handshake, got %r" % data[:100])
    check(0.8 <= waited < 10, "closed after the node's delay, %.2f s" % waited)
    target.wait_for(r"refused tcp:127\.0\.0\.1:\d+: a frame before the cluster handshake")
    with open(c.secret_file) as f:
        secret = f.read().strip()
    check(secret not in target.output(), "the secret is never logged")
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % target.http_port,
                                timeout=WAIT_S) as resp:
        metrics = resp.read().decode().splitlines()
    check("bale_store_auth_failures_total 1" in metrics, "/metrics auth_failures: %r" % metrics)
    ok = [l for l in metrics if l.startswith("bale_store_auth_ok_total ")]
    check(ok and int(ok[0].split()[1]) >= 2, "/metrics auth_ok (router, admin): %r" % ok)
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % target.http_port,
                                timeout=WAIT_S) as resp:
        status = json.loads(resp.read())
    check(status["node"] == target.node_id and status["counters"]["auth_failures"] == 1,
          "/status: %r" % status)
    p = subprocess.run([bale, "admin"] + c.common() + ["nodes", "--json", "--store-timeout",
                                                       "3000"], capture_output=True, timeout=WAIT_S)
    plain = json.loads(p.stdout)["nodes"]
    check(not any(n["answered"] for n in plain), "admin without the secret: %r" % plain)
    check(client.get("key1") == b"value-1", "the router is served meanwhile")
    step("a frame without the handshake: closed unanswered after %.2f s, logged, counted" % waited)

    # 3. Safe defaults.
    wide = [bale, "store"] + c.common() + ["--data", os.path.join(tmp, "store-wide"),
                                           "--listen", "0.0.0.0", "--port", "0"]
    p = subprocess.run(wide, capture_output=True, timeout=WAIT_S)
    err = p.stderr.decode()
    check(p.returncode == 2, "store on 0.0.0.0 without a secret exits 2, got %d: %s"
          % (p.returncode, err))
    check("refusing to listen on 0.0.0.0 without a cluster secret" in err and
          "--cluster-secret-file" in err and "--insecure" in err, "says why: %s" % err)
    p = subprocess.run([bale, "router"] + c.common() + ["--listen", "0.0.0.0", "--port", "0"],
                       capture_output=True, timeout=WAIT_S)
    check(p.returncode == 2 and "refusing to listen on 0.0.0.0" in p.stderr.decode(),
          "router on 0.0.0.0 without a secret refuses: %s" % p.stderr.decode())
    insecure = Proc("store-wide", wide + ["--insecure", "--lease-ttl", "5"],
                    os.path.join(tmp, "store-wide.out"),
                    r"^bale store: node (\S+) serves the internal protocol on 0\.0\.0\.0:(\d+)")
    check("--insecure: listening on 0.0.0.0 without a cluster secret" in insecure.output(),
          "--insecure is logged: %s" % insecure.output())
    check(insecure.stop() == 0, "the insecure store stops cleanly")
    step("0.0.0.0 without a secret refused; --insecure starts and logs it")
    client.close()


if __name__ == "__main__":
    main()
