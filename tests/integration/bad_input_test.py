"""Abusive clients against one `bale serve`, while a well-behaved client keeps being served.

(a) 64 KB of random bytes; (b) a 1 MB line with no newline (and a 3 MB `get` line) must
get the connection closed; (c) half a `set`, then close; (d) 2000 idle connections held;
(e) a client pipelining `get`s of a 100 KB value without ever reading (memory must stay
bounded: VmRSS < 300 MB); then all of them at once. After every step a fresh connection
must complete a set/get round-trip. (f) a second server with --max-connections 5 refuses
the 6th connection. Finally the first server, still holding idle connections and the
non-reading client, must stop on SIGTERM with exit code 0.

Also: 300 short-lived connections in a row must each be answered.

Usage: bad_input_test.py BALE TMPDIR
"""

import errno
import os
import resource
import socket
import sys
import threading
import time

from balelib import WAIT_S, Server, check, connect, log, recv_until, roundtrip

RSS_LIMIT_KB = 300 * 1024
IDLE_CONNECTIONS = 2000


def healthy(srv, what):
    check(srv.alive(), "server died after %s: %s" % (what, srv.output()))
    roundtrip(srv.port, key=b"health-" + what.replace(" ", "-").encode())
    rss = srv.rss_kb()
    check(rss < RSS_LIMIT_KB, "VmRSS %d kB after %s (limit %d kB)" % (rss, what, RSS_LIMIT_KB))
    log("bad_input: %-34s ok (VmRSS %d MB)" % (what, rss // 1024))


def drain_until_closed(sock, seconds):
    """Reads (and discards) until the peer closes; True if it did within `seconds`."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 16):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def random_bytes(port):
    with connect(port) as s:
        try:
            s.sendall(os.urandom(64 << 10))
            s.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            return  # closing on garbage is allowed
        except OSError as e:
            # The server closed (and reset) the connection before our shutdown: allowed.
            if e.errno == errno.ENOTCONN:
                return
            raise
        drain_until_closed(s, 5)  # replies (ERROR lines) or a close: both fine


def long_line(port, payload, must_close=True):
    """Sends a line with no newline; the server must close the connection."""
    with connect(port) as s:
        sent = 0
        try:
            for i in range(0, len(payload), 64 << 10):
                s.sendall(payload[i:i + (64 << 10)])
                sent += len(payload[i:i + (64 << 10)])
        except (ConnectionResetError, BrokenPipeError):
            return  # closed while we were still sending: what we want
        # Whole payload sent without a newline: the server must close (not wait).
        closed = drain_until_closed(s, WAIT_S)
        if must_close:
            check(closed, "connection not closed after a %d-byte line with no newline" % sent)


def half_set(port, key):
    with connect(port) as s:
        s.sendall(b"set %s 0 0 100\r\nonly-part-of-the-value" % key)
        time.sleep(0.05)
    # The truncated set must not have stored anything.
    with connect(port) as s:
        s.sendall(b"get %s\r\n" % key)
        try:
            r = recv_until(s, b"END\r\n")
        except TimeoutError:
            raise AssertionError("no reply in %.0f s to a get on a new connection opened "
                                 "right after a half-sent set was closed" % WAIT_S)
        check(r == b"END\r\n", "a half-sent set stored something: %r" % r[:100])


def churn(port, n):
    """n short-lived connections, one request each: every one must be answered."""
    for i in range(n):
        with connect(port) as s:
            s.sendall(b"version\r\n")
            try:
                r = recv_until(s, b"\r\n")
            except TimeoutError:
                raise AssertionError("short-lived connection %d of %d got no reply in %.0f s "
                                     "(connect, 'version', close, repeat)" % (i + 1, n, WAIT_S))
            check(r.startswith(b"VERSION "), "connection %d: %r" % (i + 1, r))


def open_idle(port, n):
    socks = []
    for i in range(n):
        socks.append(connect(port))
    # Make sure each was accepted (and not refused) by talking on a sample of them.
    for s in socks[:: max(1, n // 50)] + socks[-1:]:
        s.sendall(b"version\r\n")
        r = recv_until(s, b"\r\n")
        check(r.startswith(b"VERSION "), "idle connection got %r" % r)
    return socks


def non_reader(port, key, seconds=2.0, byte_bound=256 << 20):
    """Pipelines `get key` without reading until send would block (or the bounds)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    s.setblocking(False)
    req = (b"get %s\r\n" % key) * 1024
    sent = 0
    blocked = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sent < byte_bound:
        try:
            sent += s.send(req)
        except BlockingIOError:
            # Would block: the server stopped reading us. Give it a moment, try again
            # (bounded by the deadline) to see that it stays stopped.
            blocked = True
            time.sleep(0.05)
    return s, sent, blocked


def stats(port):
    with connect(port) as s:
        s.sendall(b"stats\r\n")
        r = recv_until(s, b"END\r\n")
    out = {}
    for line in r.split(b"\r\n"):
        p = line.split(b" ")
        if len(p) == 3 and p[0] == b"STAT":
            out[p[1].decode()] = p[2].decode()
    return out


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    check(soft >= want, "RLIMIT_NOFILE soft limit %d < %d (hard %d)" % (soft, want, hard))


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    # Both this process (the clients) and the server (its child) need > 2000 fds.
    raise_fd_limit(IDLE_CONNECTIONS + 1024)
    srv = Server(bale, os.path.join(tmp, "data"), "--max-connections", "4096",
                 "--threads", "2", "--durability", "interval")
    port = srv.port
    healthy(srv, "start")
    big = os.urandom(100 << 10)
    with connect(port) as s:
        s.sendall(b"set big100k 0 0 %d\r\n%s\r\n" % (len(big), big))
        check(recv_until(s, b"\r\n") == b"STORED\r\n", "set big100k")

    # --- in sequence ---
    churn(port, 300)
    healthy(srv, "300 short-lived connections")

    for i in range(3):
        random_bytes(port)
    healthy(srv, "(a) 64 KB of random bytes")

    long_line(port, b"x" * (1 << 20))
    healthy(srv, "(b) 1 MB line, no newline")
    long_line(port, b"get " + b"k " * (3 << 19))
    healthy(srv, "(b) 3 MB get line, no newline")

    for i in range(5):
        half_set(port, b"half-%d" % i)
    healthy(srv, "(c) half a set, then close")

    idle = open_idle(port, IDLE_CONNECTIONS)
    healthy(srv, "(d) %d idle connections" % len(idle))
    st = stats(port)
    check(int(st["curr_connections"]) >= IDLE_CONNECTIONS + 1,
          "curr_connections %s with %d idle held" % (st["curr_connections"], len(idle)))

    nr, sent, blocked = non_reader(port, b"big100k")
    log("bad_input: non-reader sent %d bytes of gets (%s)"
        % (sent, "send blocked" if blocked else "never blocked"))
    healthy(srv, "(e) non-reading client")
    # The stalled connection must not hold the server up: more round-trips, and RSS is
    # still bounded a little later.
    time.sleep(0.5)
    for i in range(20):
        roundtrip(port, key=b"during-stall-%d" % i)
    healthy(srv, "(e) non-reading client, later")

    # --- overlapping: abuse in parallel threads while idle + non-reader are held ---
    errors = []

    def abuse(fn, *args):
        try:
            for i in range(8):
                fn(*args)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%s: %r" % (fn.__name__, e))

    threads = [
        threading.Thread(target=abuse, args=(random_bytes, port)),
        threading.Thread(target=abuse, args=(long_line, port, b"y" * (1 << 20))),
        threading.Thread(target=abuse, args=(half_set, port, b"half-parallel")),
    ]
    for t in threads:
        t.start()
    nr2, sent2, _ = non_reader(port, b"big100k", seconds=1.5)
    for i in range(30):
        roundtrip(port, key=b"overlap-%d" % i)
        if not any(t.is_alive() for t in threads):
            break
    for t in threads:
        t.join(60)
        check(not t.is_alive(), "an abusive client thread did not finish within 60 s")
    check(not errors, "abusive clients: %s" % errors)
    healthy(srv, "overlapping abuse")

    # The idle connections are still usable after all that.
    for s in idle[:: IDLE_CONNECTIONS // 10]:
        s.sendall(b"get big100k\r\n")
        r = recv_until(s, b"END\r\n")
        check(r == b"VALUE big100k 0 %d\r\n%s\r\nEND\r\n" % (len(big), big),
              "get on a long-idle connection: %d bytes" % len(r))
    for s in idle[100:]:
        s.close()
    idle = idle[:100]
    nr2.close()
    healthy(srv, "after closing most idle connections")

    # --- (f) --max-connections on a second server ---
    srv2 = Server(bale, os.path.join(tmp, "data2"), "--max-connections", "5", "--threads", "2",
                  "--durability", "none")
    held = []
    for i in range(5):
        s = connect(srv2.port)
        s.sendall(b"version\r\n")
        check(recv_until(s, b"\r\n").startswith(b"VERSION "), "connection %d refused" % (i + 1))
        held.append(s)
    s6 = socket.create_connection(("127.0.0.1", srv2.port), timeout=WAIT_S)
    got = b""
    try:
        s6.sendall(b"version\r\n")
        while not got.endswith(b"\r\n"):
            chunk = s6.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    s6.close()
    check(got in (b"", b"SERVER_ERROR Too many open connections\r\n"),
          "6th connection with --max-connections 5 got %r" % got)
    # Freeing one slot lets a new client in (retries until a deadline: the server sees
    # the close asynchronously, and refuses new connections until it has).
    held.pop().close()
    ok = False
    deadline = time.monotonic() + WAIT_S
    while not ok and time.monotonic() < deadline:
        try:
            roundtrip(srv2.port, key=b"after-free")
            ok = True
        except (AssertionError, ConnectionError, OSError):
            time.sleep(0.1)
    check(ok, "no connection accepted within %.0f s after one of 5 closed" % WAIT_S)
    for s in held:
        s.close()
    rc = srv2.stop()
    check(rc == 0, "second server exited %d: %s" % (rc, srv2.output()))
    log("bad_input: (f) 6th connection got %r" % got)
    healthy(srv, "(f) --max-connections (other server)")

    # --- clean shutdown with 100 idle connections and a non-reader still open ---
    check(srv.alive(), "server died: %s" % srv.output())
    t0 = time.monotonic()
    rc = srv.stop(timeout=30)
    took = time.monotonic() - t0
    nr.close()
    for s in idle:
        s.close()
    out = srv.output()
    check(rc == 0, "bale serve exited %d after SIGTERM: %s" % (rc, out))
    check("stopped cleanly" in out, "no 'stopped cleanly' in %r" % out)
    log("bad_input: SIGTERM with clients attached: exit 0 in %.1f s" % took)


if __name__ == "__main__":
    main()
