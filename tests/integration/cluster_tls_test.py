"""TLS on the internal links (issue #14) between real processes on loopback: etcd, a
directory, three `bale store` serving TLS that ask for client certificates, a `bale
router` and `bale admin` presenting theirs (clusterlib's Cluster(secret=True, tls=True):
a CA made by scripts/make_certs), the cluster handshake running inside TLS. etcd itself
is reached over TLS with a client certificate and has authentication on: every role
logs in as root with --etcd-password-file.

1. memcached set/get through the router work (small values and one past the stores'
   sendfile threshold), and `bale admin` reaches every node.
2. While a client keeps writing and reading through the router, bad peers connect to
   a store's port: a TLS client with a certificate from another CA, one with no
   certificate, a plain-TCP client sending a frame, a TCP client that says nothing and
   one that sends half a ClientHello. Each is closed without a frame of the internal
   protocol (the stalled ones within the 5 s TLS handshake deadline), `bale admin`
   trusting another CA gets no figures, the store logs each with its address and counts
   them, the admin's too (/metrics tls_failures and auth_failures: 6), and the router's
   client saw no error.
3. Flags: a store with --tls-cert and no --tls-key, and a router whose key does not match
   its certificate, refuse to start and say why; `bale admin` with a wrong etcd password
   fails and says so (without the password).
"""

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.request

from balelib import check, log, WAIT_S
from clusterlib import Cluster, make_certs, router_client, tls_flags

T0 = time.monotonic()
MAGIC = 0xB1  # the internal protocol's first byte (proto/internal_frame.h)


def step(name):
    log("cluster_tls: %s (%.1f s)" % (name, time.monotonic() - T0))


def get_frame(partition, epoch, key):
    """A GET frame of the internal protocol, no handshake."""
    extras = b"\x00" * 32
    return struct.pack("<BBBBIQQHHIQ", MAGIC, 0x02, 0, 0, partition, 1, epoch, len(key),
                       len(extras), 0, 0) + extras + key


def read_until_closed(sock, timeout):
    """Everything the peer sends until it closes; (bytes, seconds, closed)."""
    t0 = time.monotonic()
    data = b""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, time.monotonic() - t0, True
            data += chunk
    except (socket.timeout, TimeoutError):
        return data, time.monotonic() - t0, False
    except (ssl.SSLError, ConnectionResetError) as e:
        return data + b"<%s>" % type(e).__name__.encode(), time.monotonic() - t0, True


def tls_peer(port, ca, cert=None, key=None):
    """A TLS client of a store trusting `ca`, presenting cert/key when given: sends a GET
    frame and returns what came back before the store closed (a refused handshake
    raises, or ends the stream after TLS 1.3's client Finished)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    try:
        s = ctx.wrap_socket(raw)
        s.sendall(get_frame(0, 1, b"key1"))
        data, _, closed = read_until_closed(s, WAIT_S)
        return data, closed
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return b"<%s>" % type(e).__name__.encode(), True
    finally:
        raw.close()


class Traffic(threading.Thread):
    """Sets and gets through the router until stopped; counts what failed."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = router_client(port)
        self.stop_flag = threading.Event()
        self.ops = 0
        self.errors = []

    def run(self):
        i = 0
        while not self.stop_flag.is_set() and i < 100000:
            key, value = "live%d" % (i % 200), b"v%d" % i
            try:
                if not self.client.set(key, value) or self.client.get(key) != value:
                    self.errors.append("set/get %s" % key)
            except Exception as e:  # noqa: BLE001 -- any failure is what we count
                self.errors.append("%s: %r" % (key, e))
            self.ops += 1
            i += 1

    def finish(self):
        self.stop_flag.set()
        self.join(WAIT_S)
        self.client.close()


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=WAIT_S) as r:
        lines = r.read().decode().splitlines()
    return {l.split()[0]: float(l.split()[1]) for l in lines if l and not l.startswith("#")}


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    c = Cluster(bale, tmp, partitions=16, initial_nodes=3, lease_ttl=5, secret=True, tls=True,
                etcd_auth=True)
    try:
        run(c, bale, tmp)
    finally:
        c.cleanup()
    log("cluster_tls: all checks passed in %.1f s" % (time.monotonic() - T0))


def run(c, bale, tmp):
    stores, m, r = c.start_checked("TLS with client certificates, cluster handshake required")
    step("etcd, a directory, 3 TLS stores and a router with a secret and a certificate")

    # 1. Through the router.
    client = router_client(r.port)
    for i in range(50):
        check(client.set("key%d" % i, b"value-%d" % i), "set key%d through the router" % i)
    big = bytes(range(256)) * 800  # 200 KiB: past the stores' sendfile threshold
    check(client.set("big", big), "set a 200 KiB value through the router")
    for i in range(50):
        got = client.get("key%d" % i)
        check(got == b"value-%d" % i, "get key%d through the router: %r" % (i, got))
    check(client.get("big") == big, "the 200 KiB value read back over TLS")
    nodes = json.loads(c.admin("nodes", "--json"))["nodes"]
    check(all(n["answered"] for n in nodes), "bale admin over TLS reaches every node: %r" % nodes)
    check(sum(n.get("objects", 0) for n in nodes) == 52, "52 objects: %r" % nodes)
    step("set/get through the router and bale admin over TLS")

    # 2. Bad peers on one store's port while the router serves.
    target = stores[0]
    before = metrics(target.http_port)
    traffic = Traffic(r.port)
    traffic.start()
    other = make_certs(os.path.join(tmp, "other-ca"), "rogue")
    ca = os.path.join(c.tls_dir, "ca.pem")
    data, closed = tls_peer(target.port, ca, os.path.join(other, "rogue.pem"),
                            os.path.join(other, "rogue.key"))
    check(closed and MAGIC not in data[:1], "another CA's certificate: refused, got %r" % data)
    data, closed = tls_peer(target.port, ca)
    check(closed and MAGIC not in data[:1], "no client certificate: refused, got %r" % data)
    with socket.create_connection(("127.0.0.1", target.port), timeout=WAIT_S) as s:
        s.sendall(get_frame(0, m["epoch"], b"key1"))
        data, waited, closed = read_until_closed(s, WAIT_S)
    check(closed and waited < 3 and MAGIC not in data[:1],
          "plain TCP on the TLS port: closed at once without a frame (%.2f s, %r)"
          % (waited, data[:40]))
    t0 = time.monotonic()
    silent = socket.create_connection(("127.0.0.1", target.port), timeout=WAIT_S)
    half = socket.create_connection(("127.0.0.1", target.port), timeout=WAIT_S)
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01")  # a ClientHello's first 8 of 517 bytes
    for name, s in (("silent", silent), ("half a ClientHello", half)):
        data, _, closed = read_until_closed(s, 12)
        waited = time.monotonic() - t0
        s.close()
        check(closed and data == b"" and 4.0 <= waited < 9,
              "%s: closed within the 5 s TLS deadline (%.2f s, %r)" % (name, waited, data))
    p = subprocess.run([bale, "admin"] + c.common() + c.auth + tls_flags(other, "rogue") +
                       ["nodes", "--json", "--store-timeout", "3000"],
                       capture_output=True, timeout=WAIT_S)
    plain = json.loads(p.stdout)["nodes"]
    check(not any(n["answered"] for n in plain), "admin trusting another CA: %r" % plain)
    traffic.finish()
    check(traffic.ops >= 20 and not traffic.errors,
          "the router served meanwhile: %d ops, errors %r" % (traffic.ops, traffic.errors[:5]))
    step("5 bad peers refused while the router served %d set+get" % traffic.ops)

    after = metrics(target.http_port)
    for name in ("bale_store_tls_failures_total", "bale_store_auth_failures_total"):
        got = after.get(name, 0) - before.get(name, 0)
        check(got == 6, "%s counted the 5 bad peers and the admin: %+d (%r)"
              % (name, got, after.get(name)))
    for why in ("certificate verify failed", "peer did not return a certificate",
                "wrong version number", "no TLS handshake within 5000 ms", "unknown ca"):
        target.wait_for(r"refused tcp:127\.0\.0\.1:\d+: TLS handshake failed \(.*%s" % why)
    step("each refusal logged with the peer's address, counted in /metrics")

    # 3. Flags.
    base = [bale, "store"] + c.common() + ["--data", os.path.join(tmp, "store-x"), "--port", "0"]
    p = subprocess.run(base + ["--tls-cert", os.path.join(c.tls_dir, "store.pem")],
                       capture_output=True, timeout=WAIT_S)
    check(p.returncode == 2 and "--tls-cert and --tls-key go together" in p.stderr.decode(),
          "store with a certificate and no key: %d %s" % (p.returncode, p.stderr.decode()))
    p = subprocess.run([bale, "router"] + c.common() + ["--port", "0", "--tls-ca", ca,
                       "--tls-cert", os.path.join(c.tls_dir, "router.pem"),
                       "--tls-key", os.path.join(other, "rogue.key")],
                       capture_output=True, timeout=WAIT_S)
    check(p.returncode == 2 and "does not match --tls-cert" in p.stderr.decode(),
          "router with a key of another certificate: %d %s" % (p.returncode, p.stderr.decode()))
    wrong = os.path.join(tmp, "wrong.password")
    with open(wrong, "w") as f:
        f.write("not-the-password\n")
    os.chmod(wrong, 0o600)
    flags = c.common()
    flags[flags.index("--etcd-password-file") + 1] = wrong
    p = subprocess.run([bale, "admin"] + flags + c.auth + c.client_tls + ["status"],
                       capture_output=True, timeout=WAIT_S)
    err = p.stderr.decode()
    check(p.returncode == 1 and "invalid user ID or password" in err and
          "not-the-password" not in err, "admin with a wrong etcd password: %d %s"
          % (p.returncode, err))
    step("bad TLS flags and a wrong etcd password refused with a reason")
    client.close()


if __name__ == "__main__":
    main()
