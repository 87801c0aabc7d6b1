"""Shared helpers for the Python integration tests: start/stop `bale serve`, raw sockets.

Every server is started on 127.0.0.1 with an ephemeral port and with PR_SET_PDEATHSIG, so
it dies with the test even if the test itself is killed; Server.kill_all() (registered
with atexit, and run on SIGTERM) SIGKILLs whatever is still running.
"""

import atexit
import ctypes
import re
import signal
import socket
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_PORT_RE = re.compile(
    rb"^bale serve: memcached protocol on 127\.0\.0\.1:(\d+), .*\((\d+) partitions, (\d+) objects\)"
)


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


class Server:
    _all = []

    def __init__(self, bale, data, *args, start_timeout=15.0):
        self.bale = bale
        self.data = data
        self.args = list(args)
        self.out_path = "%s.out.%d" % (data, len(Server._all))
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            [bale, "serve", "--data", data, "--listen", "127.0.0.1", "--port", "0"] + self.args,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        Server._all.append(self)
        self.port = None
        self.objects_at_start = None
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                first = f.readline()
            m = _PORT_RE.match(first)
            if m:
                self.port = int(m.group(1))
                self.objects_at_start = int(m.group(3))
                return
            if self.proc.poll() is not None:
                raise RuntimeError("bale serve exited %d before listening: %r"
                                   % (self.proc.returncode, self.output()))
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("bale serve did not report its port: %r" % self.output())

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM, wait (bounded); returns the exit code (SIGKILLs and raises on timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("bale serve did not stop within %.0f s after SIGTERM" % timeout)
        self._out.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._out.close()

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def connect(self, timeout=10.0):
        return connect(self.port, timeout)

    @classmethod
    def kill_all(cls):
        for s in cls._all:
            try:
                s.kill()
            except Exception:
                pass


atexit.register(Server.kill_all)


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_until(sock, terminator, limit=64 << 20):
    """Reads until the buffer ends with terminator (or the peer closes); bounded."""
    buf = b""
    while not buf.endswith(terminator):
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("peer closed after %d bytes: %r" % (len(buf), buf[:200]))
        buf += chunk
        if len(buf) > limit:
            raise RuntimeError("reply larger than %d bytes" % limit)
    return buf


def roundtrip(port, key=b"healthcheck", value=None, timeout=10.0):
    """A well-behaved client on a fresh connection: set then get; raises on any mismatch."""
    if value is None:
        value = b"ok-%d" % time.monotonic_ns()
    try:
        _roundtrip(port, key, value, timeout)
    except TimeoutError:
        raise AssertionError("well-behaved client: no reply within %.0f s to set/get %r on a "
                             "fresh connection" % (timeout, key))


def _roundtrip(port, key, value, timeout):
    with connect(port, timeout) as s:
        s.sendall(b"set %s 7 0 %d\r\n%s\r\n" % (key, len(value), value))
        r = recv_until(s, b"\r\n")
        if r != b"STORED\r\n":
            raise AssertionError("set %r: %r" % (key, r))
        s.sendall(b"get %s\r\n" % key)
        r = recv_until(s, b"END\r\n")
        want = b"VALUE %s 7 %d\r\n%s\r\nEND\r\n" % (key, len(value), value)
        if r != want:
            raise AssertionError("get %r: %r, want %r" % (key, r[:200], want[:200]))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def log(*a):
    print(*a, flush=True)
    sys.stdout.flush()
