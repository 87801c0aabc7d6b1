"""Start a real bale cluster on loopback for the integration tests: etcd (Debian's
etcd-server, its data on tmpfs), `bale directory`, `bale store` nodes and `bale router`,
every one on ephemeral ports, each dying with the test (PR_SET_PDEATHSIG) and killed
at exit.

Each role prints a start-up line naming its ports; Proc waits (bounded) for it.
Lease TTLs are 5 s or more and etcd's data lives in /dev/shm, so a busy disk on a
2-core machine shared with another test run cannot expire a lease.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import balelib

WAIT_S = balelib.WAIT_S
START_TIMEOUT_S = balelib.START_TIMEOUT_S


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A process whose combined output goes to a file; waits for `ready` (a regex of
    one output line, its groups returned by .ready_match)."""
    _all = []

    def __init__(self, name, cmd, out_path, ready, start_timeout=START_TIMEOUT_S):
        self.name, self.cmd, self.out_path = name, list(cmd), out_path
        self.ready_re = re.compile(ready) if ready else None
        self._start(start_timeout)
        Proc._all.append(self)

    def _start(self, start_timeout):
        self._out = open(self.out_path, "ab")
        self._offset = os.path.getsize(self.out_path)
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=balelib._die_with_parent)
        self.ready_match = self.wait_for(self.ready_re, start_timeout) if self.ready_re else None

    def wait_for(self, regex, timeout=WAIT_S):
        regex = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                f.seek(self._offset)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    m = regex.search(line)
                    if m:
                        return m
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited %d before printing %r: %s"
                                   % (self.name, self.proc.returncode, regex.pattern,
                                      self.output()[-3000:]))
            time.sleep(0.05)
        raise RuntimeError("%s did not print %r within %.0f s: %s"
                           % (self.name, regex.pattern, timeout, self.output()[-3000:]))

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def restart(self, start_timeout=START_TIMEOUT_S):
        if self.alive():
            raise RuntimeError("%s is still running" % self.name)
        self._out.close()
        self._start(start_timeout)

    def stop(self, timeout=WAIT_S):
        return balelib.stop_process(self.proc, self._out, self.name, timeout)

    def kill(self):
        balelib.kill_process(self.proc, self._out)

    def pause(self):
        """SIGSTOP, and waits until every thread has stopped (the stop is delivered
        asynchronously: a busy machine may let a thread run on a moment)."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + WAIT_S
        task_dir = "/proc/%d/task" % self.proc.pid
        while time.monotonic() < deadline:
            states = []
            for tid in os.listdir(task_dir):
                try:
                    with open("%s/%s/stat" % (task_dir, tid)) as f:
                        states.append(f.read().rsplit(") ", 1)[1].split()[0])
                except OSError:
                    pass
            if states and all(st in ("T", "t") for st in states):
                return
            time.sleep(0.01)
        raise RuntimeError("%s did not stop within %.0f s of SIGSTOP" % (self.name, WAIT_S))

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    @classmethod
    def kill_all(cls):
        for p in cls._all:
            try:
                if p.proc.poll() is None:
                    os.kill(p.proc.pid, signal.SIGCONT)
                p.kill()
            except Exception:
                pass


import atexit  # noqa: E402

atexit.register(Proc.kill_all)


class Etcd(Proc):
    """A one-member etcd on loopback, its data on tmpfs (/dev/shm when present). With
    tls_dir (a make_certs directory holding "etcd" and "router"), its client URL is
    https:// and asks for client certificates; etcdctl presents router's."""

    def __init__(self, tmp, tls_dir=None):
        self.ctl_flags = []
        tls = []
        if tls_dir:
            pem = lambda name: os.path.join(tls_dir, name)  # noqa: E731
            tls = ["--cert-file", pem("etcd.pem"), "--key-file", pem("etcd.key"),
                   "--trusted-ca-file", pem("ca.pem"), "--client-cert-auth"]
            self.ctl_flags = ["--cacert", pem("ca.pem"), "--cert", pem("router.pem"),
                              "--key", pem("router.key")]
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else tmp
        # free_port's ports may be taken by another test run before etcd binds them: a
        # start that fails on a taken port is tried again on new ones.
        for attempt in range(3):
            self.data_dir = tempfile.mkdtemp(prefix="bale-etcd-", dir=shm)
            self.client_port, self.peer_port = free_port(), free_port()
            self.url = "%s://127.0.0.1:%d" % ("https" if tls_dir else "http", self.client_port)
            peer = "http://127.0.0.1:%d" % self.peer_port
            cmd = ["etcd", "--name", "bale-test", "--data-dir", self.data_dir,
                   "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                   "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                   "--initial-cluster", "bale-test=" + peer, "--log-level", "warn"] + tls
            Proc.__init__(self, "etcd", cmd, os.path.join(tmp, "etcd.out"), None)
            try:
                self.wait_healthy()
                return
            except RuntimeError:
                taken = "address already in use" in self.output()
                self.cleanup()
                if not taken or attempt == 2:
                    raise

    def wait_healthy(self, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(["etcdctl", "--endpoints", self.url] + self.ctl_flags +
                               ["endpoint", "health"],
                               env=dict(os.environ, ETCDCTL_API="3"), capture_output=True,
                               timeout=WAIT_S)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("etcd exited %d: %s" % (self.proc.returncode,
                                                            self.output()[-3000:]))
            time.sleep(0.2)
        raise RuntimeError("etcd did not become healthy: %s" % self.output()[-3000:])

    def restart(self, start_timeout=START_TIMEOUT_S):
        Proc.restart(self, start_timeout)
        self.wait_healthy(start_timeout)

    def enable_auth(self, password):
        """etcd's authentication on: a root user with `password` (etcdctl then uses it)."""
        self.etcdctl("user", "add", "root:" + password)
        self.etcdctl("user", "grant-role", "root", "root")
        self.etcdctl("auth", "enable")
        self.ctl_flags += ["--user", "root:" + password]

    def etcdctl(self, *args):
        r = subprocess.run(["etcdctl", "--endpoints", self.url] + self.ctl_flags + list(args),
                           env=dict(os.environ, ETCDCTL_API="3"), capture_output=True,
                           timeout=WAIT_S)
        if r.returncode != 0:
            raise RuntimeError("etcdctl %s: %s" % (" ".join(args), r.stderr.decode()))
        return r.stdout.decode()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def wait_answers(port, timeout=WAIT_S):
    """Whether a memcached get on 127.0.0.1:port answered END within `timeout`: a
    router answers once it has the map (and the stores theirs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"get cluster-warmup\r\n")
                if s.recv(100).startswith(b"END"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def router_client(port, timeout=WAIT_S):
    """A pymemcache client of the router on `port` (replies awaited), once a set through
    it succeeds (the router has the map and reaches the stores)."""
    from pymemcache.client.base import Client
    client = Client(("127.0.0.1", port), connect_timeout=WAIT_S, timeout=WAIT_S,
                    default_noreply=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.set("warmup", "1"):
                return client
        except Exception:  # noqa: BLE001 -- the router may not have the map yet
            pass
        time.sleep(0.1)
    raise RuntimeError("the router on port %d did not take a set within %.0f s" % (port, timeout))


def write_secret(path, text=None):
    """A cluster secret file as `make cluster` makes one: 32 random bytes in base64 (or
    `text`), 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write((text or base64.b64encode(os.urandom(32)).decode()) + "\n")
    os.chmod(path, 0o600)
    return path


MAKE_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "make_certs")


def make_certs(directory, *names):
    """A CA in `directory` (ca.pem, ca.key) and NAME.pem / NAME.key it signed for each
    name, by scripts/make_certs (the openssl CLI)."""
    subprocess.run([MAKE_CERTS, directory] + list(names), check=True, timeout=WAIT_S)
    return directory


def tls_flags(directory, name):
    """The --tls-* flags of a role whose files are `name` in a make_certs directory."""
    return ["--tls-cert", os.path.join(directory, name + ".pem"),
            "--tls-key", os.path.join(directory, name + ".key"),
            "--tls-ca", os.path.join(directory, "ca.pem")]


class Cluster:
    """etcd, directories, stores and a router, named and started on demand. With
    secret=True a secret file is written under tmp and every store, router and admin
    call is given it (--cluster-secret-file): the cluster handshake on every link. With
    tls=True a CA and certificates are made under tmp/tls (make_certs): every store
    serves TLS and asks for client certificates, the router and admin present theirs,
    and etcd is reached over TLS with a client certificate too. With etcd_auth=True etcd
    has authentication on and every role logs in as root (--etcd-password-file)."""

    def __init__(self, bale, tmp, name="test", partitions=32, initial_nodes=3, lease_ttl=5,
                 store_args=(), router_args=(), secret=False, tls=False, etcd_auth=False):
        self.bale, self.tmp, self.name = bale, tmp, name
        self.partitions, self.initial_nodes, self.lease_ttl = partitions, initial_nodes, lease_ttl
        self.secret_file = write_secret(os.path.join(tmp, "cluster.secret")) if secret else None
        self.auth = ["--cluster-secret-file", self.secret_file] if secret else []
        self.tls_dir = make_certs(os.path.join(tmp, "tls"), "store", "router", "etcd") \
            if tls else None
        store_tls = tls_flags(self.tls_dir, "store") if tls else []
        self.client_tls = tls_flags(self.tls_dir, "router") if tls else []
        self.store_args = self.auth + store_tls + list(store_args)
        self.router_args = self.auth + self.client_tls + list(router_args)
        self.etcd = Etcd(tmp, self.tls_dir)
        self.etcd_flags = []
        if tls:
            self.etcd_flags = ["--etcd-ca", os.path.join(self.tls_dir, "ca.pem"),
                               "--etcd-cert", os.path.join(self.tls_dir, "router.pem"),
                               "--etcd-key", os.path.join(self.tls_dir, "router.key")]
        if etcd_auth:
            password = base64.b64encode(os.urandom(12)).decode()
            self.etcd.enable_auth(password)
            self.etcd_password_file = write_secret(os.path.join(tmp, "etcd.password"), password)
            self.etcd_flags += ["--etcd-user", "root",
                                "--etcd-password-file", self.etcd_password_file]
        self.directories, self.stores, self.routers = [], {}, []

    def common(self):
        return ["--etcd", self.etcd.url, "--cluster", self.name] + self.etcd_flags

    def start_directory(self):
        i = len(self.directories)
        cmd = [self.bale, "directory"] + self.common() + [
            "--partitions", str(self.partitions), "--initial-nodes", str(self.initial_nodes),
            "--lease-ttl", str(self.lease_ttl), "--http-listen", "127.0.0.1", "--http-port", "any"]
        d = Proc("directory%d" % i, cmd, os.path.join(self.tmp, "directory%d.out" % i),
                 r"^bale directory: HTTP on 127\.0\.0\.1:(\d+)")
        d.http_port = int(d.ready_match.group(1))
        self.directories.append(d)
        return d

    def start_store(self, name, zone=None, extra=()):
        data = os.path.join(self.tmp, "store-" + name)
        cmd = [self.bale, "store"] + self.common() + [
            "--data", data, "--listen", "127.0.0.1", "--port", "0",
            "--lease-ttl", str(self.lease_ttl)] + self.store_args + list(extra)
        if zone:
            cmd += ["--zone", zone]
        s = Proc("store-" + name, cmd, os.path.join(self.tmp, "store-%s.out" % name),
                 r"^bale store: node (\S+) serves the internal protocol on 127\.0\.0\.1:(\d+)")
        s.node_id, s.port, s.data = s.ready_match.group(1), int(s.ready_match.group(2)), data
        self.stores[name] = s
        return s

    def start_router(self, extra=()):
        i = len(self.routers)
        cmd = [self.bale, "router"] + self.common() + [
            "--listen", "127.0.0.1", "--port", "0", "--http-port", "any"] + \
            self.router_args + list(extra)
        r = Proc("router%d" % i, cmd, os.path.join(self.tmp, "router%d.out" % i),
                 r"^bale router: memcached protocol on 127\.0\.0\.1:(\d+), HTTP on "
                 r"127\.0\.0\.1:(\d+)")
        r.port, r.http_port = int(r.ready_match.group(1)), int(r.ready_match.group(2))
        self.routers.append(r)
        return r

    def start_checked(self, start_line):
        """A directory, stores a, b and c (HTTP on, each start line containing
        `start_line`) and a router (--store-timeout 2000); (stores, map, router) once
        every partition is placed."""
        self.start_directory()
        stores = [self.start_store(name, extra=["--http-port", "any"]) for name in "abc"]
        for s in stores:
            s.http_port = int(s.wait_for(r"HTTP on 127\.0\.0\.1:(\d+)").group(1))
            balelib.check(start_line in s.ready_match.string,
                          "start line: %r" % s.ready_match.string)
        m = self.wait_placed(stores=3)
        return stores, m, self.start_router(["--store-timeout", "2000"])

    def admin(self, *args):
        r = subprocess.run([self.bale, "admin"] + self.common() + self.auth + self.client_tls +
                           list(args),
                           capture_output=True, timeout=WAIT_S)
        if r.returncode != 0:
            raise RuntimeError("bale admin %s exited %d: %s"
                               % (" ".join(args), r.returncode, r.stderr.decode()))
        return r.stdout.decode()

    def map(self):
        """The cluster map as etcd holds it (JSON), or None."""
        out = self.etcd.etcdctl("get", "--print-value-only", "/bale/%s/map" % self.name)
        return json.loads(out) if out.strip() else None

    def wait_placed(self, stores=None, timeout=WAIT_S):
        """Waits until every partition has an owner (and `stores` nodes are up)."""
        deadline = time.monotonic() + timeout
        m = None
        while time.monotonic() < deadline:
            m = self.map()
            if m and all(o >= 0 for o in m["owners"]):
                up = sum(1 for n in m["nodes"] if n["up"])
                if stores is None or up >= stores:
                    return m
            time.sleep(0.1)
        raise RuntimeError("partitions were not placed within %.0f s: %r" % (timeout, m))

    def wait_map(self, pred, timeout=WAIT_S, what="a map"):
        deadline = time.monotonic() + timeout
        m = None
        while time.monotonic() < deadline:
            m = self.map()
            if m and pred(m):
                return m
            time.sleep(0.1)
        raise RuntimeError("no %s within %.0f s: %r" % (what, timeout, m))

    def owner_of(self, m, partition):
        return m["nodes"][m["owners"][partition]]["id"]

    def cleanup(self):
        Proc.kill_all()
        self.etcd.cleanup()


class ClusterServer:
    """`bale serve` played by a cluster (BALE_CLUSTER=1, balelib.Server): a router in
    front of three stores, with etcd and a directory, so that a suite written for `bale
    serve` runs unchanged through a router. The cluster belongs to the data directory:
    a second ClusterServer on the same `data` (a restart) restarts the same stores on
    their data. Serve flags go to the role that has them; a flag neither has is refused
    (a suite must not pass by ignoring it)."""
    _clusters = {}
    STORE_FLAGS = {"--durability", "--interval-ms", "--segment-size"}
    ROUTER_FLAGS = {"--threads", "--max-item-size", "--max-connections", "--http-max-body",
                    "--http-body-budget", "--http-timeout", "--admin-from", "--http-port"}
    ROUTER_SWITCHES = {"--http-public-only"}

    def __init__(self, bale, data, *args):
        store_args, router_args = [], []
        args = list(args)
        i = 0
        while i < len(args):
            a = args[i]
            if a in self.ROUTER_SWITCHES:
                router_args.append(a)
                i += 1
                continue
            name, value = (a.split("=", 1) + [None])[:2] if a.startswith("--") and "=" in a \
                else (a, args[i + 1] if i + 1 < len(args) else None)
            step = 1 if "=" in a else 2
            if name in self.STORE_FLAGS:
                store_args += [name, value]
            elif name in self.ROUTER_FLAGS:
                router_args += [name, value]
            else:
                raise RuntimeError("BALE_CLUSTER: %s is not a flag of bale store or bale "
                                   "router" % a)
            i += step
        if "--http-port" not in router_args:
            router_args += ["--http-port", "any"]
        self.data = data
        c = ClusterServer._clusters.get(data)
        if c is None:
            os.makedirs(data, exist_ok=True)
            c = Cluster(bale, data, partitions=16, initial_nodes=3, lease_ttl=5,
                        store_args=store_args)
            c.start_directory()
            for name in ("a", "b", "c"):
                c.start_store(name)
            ClusterServer._clusters[data] = c
        else:
            for s in c.stores.values():
                if not s.alive():
                    s.restart()
        self.cluster = c
        c.wait_map(lambda m: all(o >= 0 for o in m["owners"]) and
                   all(n["up"] for n in m["nodes"]), what="every store up")
        i = len(c.routers)
        cmd = [bale, "router"] + c.common() + ["--listen", "127.0.0.1", "--port", "0"] + router_args
        self.router = Proc("router%d" % i, cmd, os.path.join(data, "router%d.out" % i),
                           r"^bale router: memcached protocol on 127\.0\.0\.1:(\d+), "
                           r"(?:HTTP on 127\.0\.0\.1:(\d+)|HTTP off)")
        c.routers.append(self.router)
        m = self.router.ready_match
        self.port = int(m.group(1))
        self.http_port = int(m.group(2)) if m.group(2) else None
        self.http_line = m.group(0)
        self.partitions = c.map()["partitions"]
        nodes = json.loads(c.admin("nodes", "--json"))["nodes"]
        self.objects_at_start = sum(n.get("objects", 0) for n in nodes)
        # The router answers once it has the map (and the stores theirs).
        wait_answers(self.port)

    @property
    def pid(self):
        return self.router.proc.pid

    def output(self):
        return self.router.output()

    def alive(self):
        return self.router.alive()

    def stop(self, timeout=WAIT_S):
        rc = self.router.stop(timeout)
        for s in self.cluster.stores.values():
            src = s.stop(timeout)
            if src != 0:
                raise RuntimeError("%s exited %d: %s" % (s.name, src, s.output()[-2000:]))
        return rc

    def kill(self):
        self.router.kill()
        for s in self.cluster.stores.values():
            s.kill()

    def rss_kb(self):
        return balelib.rss_kb(self.pid)

    def cpu_seconds(self):
        return balelib.cpu_seconds(self.pid)

    def connect(self, timeout=WAIT_S):
        return balelib.connect(self.port, timeout)

    @classmethod
    def cleanup_all(cls):
        for c in cls._clusters.values():
            try:
                c.cleanup()
            except Exception:
                pass


atexit.register(ClusterServer.cleanup_all)
