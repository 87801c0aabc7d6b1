"""Shared helpers for the Python integration tests: start/stop `bale serve`, raw sockets,
a small raw-socket HTTP/1.1 client.

Every server is started on 127.0.0.1 with an ephemeral port and with PR_SET_PDEATHSIG, so
it dies with the test even if the test itself is killed; Server.kill_all() (registered
with atexit, and run on SIGTERM) SIGKILLs whatever is still running. HTTP is on an
ephemeral port too (`--http-port any`, never the default 8080) unless the caller passes
its own `--http-port`; Server.http_port is that port, or None when HTTP is off.

Waits for something that must happen (a reply, a close, a server's start) are bounded by
WAIT_S and START_TIMEOUT_S: generous, because the suite may share a 2-core machine with
another full test run, and free when all is well (they end as soon as the thing happens).
"""

import atexit
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time

# How long to wait for a reply or a close that must come; tests fail when it passes.
WAIT_S = 30.0
# How long a server may take to report its ports (lib.sh reads the same variable).
START_TIMEOUT_S = float(os.environ.get("BALE_START_TIMEOUT", "60"))

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_PORT_RE = re.compile(
    rb"^bale serve: memcached protocol on 127\.0\.0\.1:(\d+), .*\((\d+) partitions, (\d+) objects\)"
)
# The HTTP line (the second line of the start-up output); matched on complete lines only.
_HTTP_RE = re.compile(rb"^bale serve: HTTP (?:on [0-9.]+:(\d+)|off)\s*$")


def _http_port_arg(args):
    """The value of --http-port in args (either form), or None when absent."""
    for i, a in enumerate(args):
        if a == "--http-port" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--http-port="):
            return a.split("=", 1)[1]
    return None


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


def stop_process(proc, out, name, timeout=WAIT_S):
    """SIGTERM, wait (bounded), close its output file; returns the exit code (SIGKILLs
    and raises on timeout)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_process(proc, out)
        raise RuntimeError("%s did not stop within %.0f s after SIGTERM" % (name, timeout))
    out.close()
    return rc


def kill_process(proc, out):
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    out.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User plus system CPU time process `pid` has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# BALE_CLUSTER=1 (run.sh): Server is a router in front of three stores (clusterlib.py).
CLUSTER = os.environ.get("BALE_CLUSTER") == "1"


class Server:
    _all = []

    def __new__(cls, bale, data, *args, **kwargs):
        if CLUSTER:
            import clusterlib
            return clusterlib.ClusterServer(bale, data, *args)
        return super().__new__(cls)

    def __init__(self, bale, data, *args, start_timeout=START_TIMEOUT_S):
        self.bale = bale
        self.data = data
        self.args = list(args)
        if _http_port_arg(self.args) is None:
            self.args += ["--http-port", "any"]
        # run.sh sets BALE_SERVE_ARGS to run suites again with other options.
        self.args += os.environ.get("BALE_SERVE_ARGS", "").split()
        # With --http-port 0 there is no port to wait for ("HTTP off" may still be read).
        http_expected = _http_port_arg(self.args) != "0"
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
        self.partitions = None
        self.http_port = None
        self.http_line = None  # the "bale serve: HTTP ..." line, once seen
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                first = f.readline()
                rest = f.readlines()
            m = _PORT_RE.match(first)
            if m and self.port is None:
                self.port = int(m.group(1))
                self.partitions = int(m.group(2))
                self.objects_at_start = int(m.group(3))
            if self.port is not None:
                for line in rest:
                    h = _HTTP_RE.match(line) if line.endswith(b"\n") else None
                    if h:
                        self.http_line = line.decode("utf-8", "replace").rstrip()
                        self.http_port = int(h.group(1)) if h.group(1) else None
                        break
                if self.http_line is not None or not http_expected:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("bale serve exited %d before listening: %r"
                                   % (self.proc.returncode, self.output()))
            time.sleep(0.05)
        self.kill()
        if self.port is not None:
            raise RuntimeError("bale serve did not report its HTTP port (a second line "
                               "'bale serve: HTTP on 127.0.0.1:PORT') within %.0f s: %r"
                               % (start_timeout, self.output()))
        raise RuntimeError("bale serve did not report its port within %.0f s: %r"
                           % (start_timeout, self.output()))

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=WAIT_S):
        """SIGTERM, wait (bounded); returns the exit code (SIGKILLs and raises on timeout)."""
        return stop_process(self.proc, self._out, "bale serve", timeout)

    def kill(self):
        kill_process(self.proc, self._out)

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def cpu_seconds(self):
        """User plus system CPU time the server has used so far."""
        return cpu_seconds(self.proc.pid)

    def connect(self, timeout=WAIT_S):
        return connect(self.port, timeout)

    @classmethod
    def kill_all(cls):
        for s in cls._all:
            try:
                s.kill()
            except Exception:
                pass


atexit.register(Server.kill_all)


def start_memcached(*extra):
    """Debian's memcached, as the peer bale is compared with, on a free loopback port
    (with `extra` options); returns (process, port) once it listens. It dies with this
    process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", *extra]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            connect(port, 1).close()
            return proc, port
        except OSError:
            check(proc.poll() is None, "memcached exited %s" % proc.returncode)
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("memcached did not listen within %.0f s" % WAIT_S)


def connect(port, timeout=WAIT_S):
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


def roundtrip(port, key=b"healthcheck", value=None, timeout=WAIT_S):
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


# --- HTTP ------------------------------------------------------------------------------
# A deliberately small HTTP/1.1 client over raw sockets, so tests control every byte sent
# (pipelining, half requests, odd targets) and see every byte received.


class HttpResponse:
    def __init__(self, version, status, reason, headers, body):
        self.version = version  # "HTTP/1.1"
        self.status = status  # int
        self.reason = reason
        self.headers = headers  # [(lower-case name, value)], in order
        self.body = body  # bytes

    def header(self, name, default=None):
        """The first header with this name (case-insensitive), or default."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        import json
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("response body is not JSON (%s): %r" % (e, self.body[:300]))

    def __repr__(self):
        body = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        return "<%s %d %s %r body(%d)=%r>" % (self.version, self.status, self.reason,
                                             self.headers, len(self.body), body)


def _as_bytes(x):
    if isinstance(x, bytes):
        return x
    return str(x).encode("utf-8")


def build_request(method, target, body=None, headers=None, version="HTTP/1.1", host=True):
    """The bytes of one request. headers: dict or [(name, value)]; Host is added unless
    given (or host=False); Content-Length is added for a body unless given."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {_as_bytes(k).lower() for k, _ in hs}
    if host and b"host" not in names:
        hs.insert(0, ("Host", "127.0.0.1"))
    if body is not None and b"content-length" not in names and \
            b"transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    out = [b"%s %s %s\r\n" % (_as_bytes(method), _as_bytes(target), _as_bytes(version))]
    for k, v in hs:
        out.append(b"%s: %s\r\n" % (_as_bytes(k), _as_bytes(v)))
    out.append(b"\r\n")
    if body is not None:
        out.append(body)
    return b"".join(out)


class HttpConn:
    """One client connection. request() sends one request and reads its response;
    send() + read_response() pipeline."""

    def __init__(self, port, timeout=WAIT_S):
        self.port = port
        self.timeout = timeout
        self.sock = connect(port, timeout)
        self.buf = b""
        self.last = "(nothing sent)"
        self.prev = "(nothing)"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data, what=None):
        self.prev = self.last
        self.last = what or data[:80].split(b"\r\n", 1)[0].decode("latin-1")
        self.sock.sendall(data)

    def request(self, method, target, body=None, headers=None, version="HTTP/1.1"):
        self.send(build_request(method, target, body, headers, version),
                  "%s %s" % (method, target if isinstance(target, str)
                             else target.decode("latin-1")))
        return self.read_response(method)

    def _fill(self, what):
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("%s: no complete response within %.0f s to %s; have %r"
                                 % (what, self.timeout, self.last, self.buf[:300]))
        if not chunk:
            raise ConnectionError("%s: server closed the connection (response to %s); have %r"
                                  % (what, self.last, self.buf[:300]))
        self.buf += chunk

    def _take(self, n, what):
        while len(self.buf) < n:
            self._fill(what)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self, what, limit=64 << 10):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 2:]
                return out
            if len(self.buf) > limit:
                raise AssertionError("%s: no CRLF in %d bytes: %r" % (what, len(self.buf),
                                                                      self.buf[:300]))
            self._fill(what)

    def read_response(self, method="GET"):
        """Reads one response (status line, headers, body framed by Content-Length or
        chunked, none for HEAD/1xx/204/304, else up to the close)."""
        line = self._line("status line")
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise AssertionError("bad status line %r (response to %s; the request before was "
                                 "%s: did its answer hold more bytes than it framed?)"
                                 % (line[:200], self.last, self.prev))
        version, status = parts[0].decode(), int(parts[1])
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        headers = []
        while True:
            h = self._line("headers")
            if not h:
                break
            if b":" not in h:
                raise AssertionError("bad header line %r (response to %s)" % (h, self.last))
            k, v = h.split(b":", 1)
            headers.append((k.strip().decode("latin-1").lower(), v.strip().decode("latin-1")))
        resp = HttpResponse(version, status, reason, headers, b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            body = []
            while True:
                size = int(self._line("chunk size").split(b";")[0], 16)
                if size == 0:
                    while self._line("trailer"):
                        pass
                    break
                body.append(self._take(size, "chunk"))
                self._take(2, "chunk end")
            resp.body = b"".join(body)
        elif cl is not None:
            resp.body = self._take(int(cl), "body of %d bytes" % int(cl))
        else:
            while True:
                try:
                    self._fill("body up to close")
                except ConnectionError:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def closed_by_peer(self, seconds=WAIT_S):
        """True if the server closes (EOF or RST) within `seconds`; bytes that arrive
        meanwhile are kept in self.buf. Returns as soon as it closes: a short `seconds`
        only for checks that the server does *not* close."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = self.sock.recv(1 << 16)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not chunk:
                    return True
                self.buf += chunk
            return False
        finally:
            self.sock.settimeout(self.timeout)


def http_request(port, method, target, body=None, headers=None, version="HTTP/1.1",
                 timeout=WAIT_S):
    """One request on a fresh connection; returns the HttpResponse."""
    with HttpConn(port, timeout) as c:
        return c.request(method, target, body, headers, version)


def listening_ports(pid):
    """The TCP ports the process `pid` is listening on (from /proc), sorted."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return sorted(ports)
