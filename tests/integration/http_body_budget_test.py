"""The memory bound on HTTP request bodies (docs/http.md, "Memory"): bodies are admitted
against one server-wide budget, --http-body-budget; past it a request is answered
503 with Retry-After and the connection closed, and every share of the budget is given
back when its body is freed: after the route, on an error, on a timeout, and when the
client goes away mid-body.

Parts (all run by default; name some to run only those):
  flags      --http-body-budget is in --help and in /status; bad values are refused.
  refusals   a server with a 1 MiB budget: a request is refused (503 + Retry-After, also
             instead of 100 Continue, also chunked) exactly while another body holds the
             budget, admitted once it is freed; one larger than the budget is served
             when alone; a client that disconnects mid-body, a 413 and a 408 give their
             share back (the bale_http_body_bytes gauge).
  many       default flags: 60 concurrent uploads of 60 MiB, each retried on 503 after
             its Retry-After; every acknowledged upload reads back identical (sha256),
             all 60 are acknowledged, and the server's peak RSS (VmHWM) stays under
             512 MiB.

No check depends on timing: where the server acts asynchronously (on a closed
connection) the test polls for the outcome within a generous bound.

Usage: http_body_budget_test.py BALE TMPDIR [PART...]
"""

import hashlib
import http.client
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time

from balelib import HttpConn, Server, check, http_request, log

T0 = time.monotonic()
MIB = 1 << 20
RSS_LIMIT_KIB = 512 << 10
UPLOADS = 60
UPLOAD_BYTES = 60 * MIB
BLOCK = 64 << 10
UPLOAD_DEADLINE_S = 150  # every upload acknowledged within this, retries included
_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")


def step(name):
    log("http_body_budget: %-58s ok (%.1f s)" % (name, time.monotonic() - T0))


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def metric(port, name, labels=None):
    """The sum of the /metrics samples called `name` (whose labels include `labels`)."""
    r = http_request(port, "GET", "/metrics")
    eq(r.status, 200, "GET /metrics")
    total, seen = 0.0, False
    for line in r.body.decode("utf-8").splitlines():
        m = _SAMPLE_RE.match(line)
        if not m or m.group(1) != name:
            continue
        if labels and not all('%s="%s"' % kv in (m.group(3) or "") for kv in labels.items()):
            continue
        total += float(m.group(4))
        seen = True
    check(seen or labels, "/metrics has no %s" % name)
    return int(total)


def wait_metric(port, name, want, what, seconds=30.0):
    """Polls until the metric equals `want` (or, if want is a function, satisfies it):
    the server acts on another connection's bytes, or its close, when its event loop
    gets to them, not at a moment this client knows."""
    ok = want if callable(want) else (lambda v: v == want)
    deadline = time.monotonic() + seconds
    got = metric(port, name)
    while not ok(got) and time.monotonic() < deadline:
        time.sleep(0.05)
        got = metric(port, name)
    check(ok(got), "%s: %s is %d (waited %.0f s)" % (what, name, got, seconds))


def check_refusal(r, what):
    """A refusal over the budget: 503, Retry-After in whole seconds, a JSON reason,
    Connection: close."""
    check(r.status == 503, "%s: got %r, want 503" % (what, r))
    ra = r.header("retry-after")
    check(ra is not None and ra.isdigit() and int(ra) >= 1,
          "%s: 503 without a Retry-After of whole seconds: %r" % (what, r))
    check("json" in (r.header("content-type") or ""), "%s: 503 not JSON: %r" % (what, r))
    check(isinstance(r.json().get("error"), str), "%s: 503 body has no error: %r" % (what, r))
    eq((r.header("connection") or "").lower(), "close", "%s: Connection header" % what)
    return int(ra)


def head(key, length, expect=False, chunked=False):
    h = b"PUT /o/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % key.encode()
    h += b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % length
    if expect:
        h += b"Expect: 100-continue\r\n"
    return h + b"\r\n"


def get_body(port, key):
    r = http_request(port, "GET", "/o/" + key, timeout=30)
    return r.status, r.body


# --- flags ----------------------------------------------------------------------------

def flags(bale, tmp):
    out = subprocess.run([bale, "serve", "--help"], capture_output=True, timeout=30)
    text = out.stdout.decode("utf-8", "replace")
    check("--http-body-budget" in text, "bale serve --help does not list --http-body-budget")
    for bad in ("0", "1000", "12x", "-1", ""):
        p = subprocess.run([bale, "serve", "--data", os.path.join(tmp, "data-flags"),
                            "--port", "0", "--http-port", "any", "--http-body-budget", bad],
                           capture_output=True, timeout=30)
        eq(p.returncode, 2, "bale serve --http-body-budget %r: exit code (output %r)"
           % (bad, (p.stdout + p.stderr)[-300:]))
        check(b"--http-body-budget" in p.stderr,
              "--http-body-budget %r: the error does not name the flag: %r" % (bad, p.stderr))
    srv = Server(bale, os.path.join(tmp, "data-flags"))
    cfg = http_request(srv.http_port, "GET", "/status").json()["config"]
    eq(cfg.get("http_body_budget"), 256 * MIB, "/status config.http_body_budget by default")
    eq(srv.stop(), 0, "exit code")
    srv = Server(bale, os.path.join(tmp, "data-flags"), "--http-body-budget", "3m")
    cfg = http_request(srv.http_port, "GET", "/status").json()["config"]
    eq(cfg.get("http_body_budget"), 3 * MIB, "/status config.http_body_budget with 3m")
    eq(metric(srv.http_port, "bale_http_body_bytes"), 0, "bale_http_body_bytes when idle")
    eq(metric(srv.http_port, "bale_http_body_budget_refusals_total"), 0, "refusals at start")
    eq(srv.stop(), 0, "exit code")
    step("--http-body-budget: --help, /status, bad values exit 2")


# --- refusals -------------------------------------------------------------------------

def refusals(bale, tmp):
    srv = Server(bale, os.path.join(tmp, "data-refusals"), "--http-body-budget", "1m",
                 "--http-max-body", "2m")
    hp = srv.http_port
    body_a = os.urandom(MIB)

    # A announces the whole budget and is told to go on: from then on it holds it.
    a = HttpConn(hp, 30)
    a.send(head("a", MIB, expect=True), "PUT /o/a announcing 1 MiB, Expect: 100-continue")
    eq(a.read_response().status, 100, "A (1 MiB = the budget) with Expect: 100-continue")
    eq(metric(hp, "bale_http_body_bytes"), MIB, "bale_http_body_bytes while A is admitted")

    with HttpConn(hp, 30) as b:
        b.send(head("b", 10) + b"0123456789", "PUT /o/b of 10 bytes")
        check_refusal(b.read_response(), "PUT of 10 bytes while A holds the budget")
        check(b.closed_by_peer(10), "connection not closed after the 503")
    with HttpConn(hp, 30) as b:
        b.send(head("b", 10, expect=True), "PUT /o/b of 10 bytes, Expect: 100-continue")
        check_refusal(b.read_response(), "Expect: 100-continue while A holds the budget "
                      "(want 503 instead of 100)")
        check(b.closed_by_peer(10), "connection not closed after the 503 (100-continue)")
    with HttpConn(hp, 30) as b:
        b.send(head("b", 0, chunked=True) + b"a\r\n0123456789\r\n0\r\n\r\n",
               "chunked PUT /o/b")
        check_refusal(b.read_response(), "chunked PUT while A holds the budget")
    eq(metric(hp, "bale_http_body_budget_refusals_total"), 3, "refusals counted")
    eq(metric(hp, "bale_http_requests_total", {"code": "503"}), 3,
       "bale_http_requests_total{code=503}")
    eq(get_body(hp, "b")[0], 404, "GET of the refused PUTs")

    a.send(body_a, "A's body")
    r = a.read_response()
    eq(r.status, 200, "A's PUT once its body is sent: %r" % r)
    a.close()
    # The body is freed before A's reply is queued: no wait needed.
    eq(metric(hp, "bale_http_body_bytes"), 0, "bale_http_body_bytes after A's reply")
    eq(http_request(hp, "PUT", "/o/b", b"0123456789").status, 200, "B after A finished")
    eq(get_body(hp, "a"), (200, body_a), "A reads back")
    eq(get_body(hp, "b"), (200, b"0123456789"), "B reads back")
    step("503 + Retry-After while the budget is held; admitted after")

    # One body larger than the whole budget (within --http-max-body) is served alone.
    big = os.urandom(MIB + MIB // 2)
    with HttpConn(hp, 30) as c:
        c.send(head("c", len(big), expect=True), "PUT /o/c of 1.5 MiB, budget 1 MiB")
        eq(c.read_response().status, 100, "1.5 MiB with a 1 MiB budget, nothing else held")
        eq(metric(hp, "bale_http_body_bytes"), len(big), "bale_http_body_bytes during C")
        with HttpConn(hp, 30) as d:
            d.send(head("d", 1) + b"x", "PUT /o/d of 1 byte")
            check_refusal(d.read_response(), "1 byte while a body over the budget is held")
        c.send(big, "C's body")
        eq(c.read_response().status, 200, "C's PUT")
    eq(get_body(hp, "c"), (200, big), "C reads back")
    eq(http_request(hp, "PUT", "/o/d", b"x").status, 200, "D after C finished")
    step("a body over the budget is admitted alone")

    # A client that goes away mid-body gives its share back.
    e = HttpConn(hp, 30)
    e.send(head("e", MIB, expect=True), "PUT /o/e announcing 1 MiB")
    eq(e.read_response().status, 100, "E admitted")
    e.send(body_a[:MIB // 2], "half of E's body")
    e.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    e.close()  # a reset, as a killed client
    wait_metric(hp, "bale_http_body_bytes", 0, "after a client reset mid-body")
    f = HttpConn(hp, 30)
    f.send(head("f", MIB, expect=True), "PUT /o/f announcing 1 MiB")
    eq(f.read_response().status, 100, "F (the whole budget) after E went away")
    f.send(body_a[:MIB // 2], "half of F's body")
    f.sock.shutdown(socket.SHUT_WR)  # an orderly close mid-body
    check(f.closed_by_peer(10), "connection not closed after a half-sent body")
    f.close()
    wait_metric(hp, "bale_http_body_bytes", 0, "after a client closed mid-body")
    eq(get_body(hp, "e")[0], 404, "GET of the upload cut off by a reset")
    eq(get_body(hp, "f")[0], 404, "GET of the upload cut off by a close")

    # A chunked body that passes --http-max-body: 413, and the share it grew is freed.
    with HttpConn(hp, 30) as g:
        chunk = b"%x\r\n" % (256 << 10) + b"g" * (256 << 10) + b"\r\n"
        g.send(head("g", 0, chunked=True) + chunk * 3, "chunked PUT of 768 KiB so far")
        wait_metric(hp, "bale_http_body_bytes", lambda v: v >= 768 << 10,
                    "a chunked body of 768 KiB so far holds as much budget")
        writer_error = []

        def rest():
            try:
                g.sock.sendall(chunk * 6)
            except OSError as err:
                writer_error.append(err)
        w = threading.Thread(target=rest, daemon=True)
        w.start()
        eq(g.read_response().status, 413, "chunked body over --http-max-body 2m")
        w.join(30)
    eq(metric(hp, "bale_http_body_bytes"), 0, "bale_http_body_bytes after the 413")
    eq(http_request(hp, "PUT", "/o/h", body_a).status, 200, "the whole budget after all that")
    eq(srv.stop(), 0, "exit code")
    step("shares given back: reset, close mid-body, 413")

    # A body that does not arrive within --http-timeout: 408, and its share is freed.
    srv = Server(bale, os.path.join(tmp, "data-408"), "--http-body-budget", "1m",
                 "--http-timeout", "1")
    hp = srv.http_port
    with HttpConn(hp, 30) as s:
        s.send(head("slow", MIB, expect=True), "PUT /o/slow announcing 1 MiB")
        eq(s.read_response().status, 100, "slow upload admitted")
        s.send(b"only this", "a few bytes of the body, then nothing")
        eq(s.read_response().status, 408, "a body not sent within --http-timeout 1")
    eq(metric(hp, "bale_http_body_bytes"), 0, "bale_http_body_bytes after the 408")
    eq(http_request(hp, "PUT", "/o/quick", b"q").status, 200, "a PUT after the 408")
    eq(srv.stop(), 0, "exit code")
    step("408 gives the share back")


# --- many -----------------------------------------------------------------------------

def key_block(i):
    return "up-%02d" % i, random.Random(9000 + i).randbytes(BLOCK)


def put_once(port, key, block, reps, expect):
    """One upload attempt of block * reps under /o/key on a fresh connection. Watches for
    an early reply between 1 MiB pieces (a refusal), as curl does. Returns the response;
    raises OSError/ConnectionError when the connection is lost without one."""
    c = HttpConn(port, 120)
    try:
        c.send(head(key, len(block) * reps, expect=expect), "PUT /o/" + key)
        if expect:
            r = c.read_response()
            if r.status != 100:
                return r
        per_piece = MIB // len(block)
        piece = block * per_piece
        sent = 0
        try:
            while sent < reps:
                if select.select([c.sock], [], [], 0)[0]:
                    break  # the server answered before the end of the body
                n = min(per_piece, reps - sent)
                c.sock.sendall(piece if n == per_piece else block * n)
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reply, if any, is read below
        return c.read_response()
    finally:
        c.close()


def many(bale, tmp):
    srv = Server(bale, os.path.join(tmp, "data-many"))
    hp = srv.http_port
    reps = UPLOAD_BYTES // BLOCK
    deadline = time.monotonic() + UPLOAD_DEADLINE_S
    lock = threading.Lock()
    acked, refused, lost, slow, errors = {}, [0], [0], [0], []

    def uploader(i):
        key, block = key_block(i)
        expect = i % 2 == 0  # half wait for 100 Continue, half send the body at once
        try:
            while time.monotonic() < deadline:
                try:
                    r = put_once(hp, key, block, reps, expect)
                except (OSError, ConnectionError):
                    with lock:
                        lost[0] += 1
                    time.sleep(1)
                    continue
                if r.status == 503:
                    wait = check_refusal(r, "PUT /o/%s" % key)
                    with lock:
                        refused[0] += 1
                    time.sleep(wait + random.uniform(0, 0.5))
                    continue
                if r.status == 408:  # this client was starved of CPU past --http-timeout
                    with lock:
                        slow[0] += 1
                    continue
                check(r.status == 200, "PUT /o/%s: %r" % (key, r))
                eq(r.json().get("size"), UPLOAD_BYTES, "PUT /o/%s: JSON size" % key)
                with lock:
                    acked[key] = block
                return
        except Exception as e:  # reported by the main thread
            with lock:
                errors.append("%s: %s" % (key, e))

    t = time.monotonic()
    threads = [threading.Thread(target=uploader, args=(i,), daemon=True)
               for i in range(UPLOADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(1.0, deadline - time.monotonic() + 60))
    check(not errors, "uploads failed: %s" % "; ".join(errors[:5]))
    check(not any(th.is_alive() for th in threads), "uploads still running after %d s"
          % (UPLOAD_DEADLINE_S + 60))
    t_up = time.monotonic() - t
    # Peak RSS of the upload phase. Read before the read-back: reads verify checksums in
    # the segments' mappings, whose page-cache pages count in RSS too.
    hwm = vm_kib(srv.pid, "VmHWM")
    log("http_body_budget: %d uploads of %d MiB acknowledged in %.1f s; %d refusals (503), "
        "%d timeouts (408), %d connections lost; server VmHWM %.0f MiB"
        % (len(acked), UPLOAD_BYTES >> 20, t_up, refused[0], slow[0], lost[0], hwm / 1024.0))
    eq(len(acked), UPLOADS, "uploads acknowledged within %d s" % UPLOAD_DEADLINE_S)
    check(hwm < RSS_LIMIT_KIB, "server peak RSS (VmHWM) %.0f MiB during %d concurrent %d MiB "
          "uploads with default flags, want under %d MiB"
          % (hwm / 1024.0, UPLOADS, UPLOAD_BYTES >> 20, RSS_LIMIT_KIB >> 10))
    eq(metric(hp, "bale_http_body_bytes"), 0, "bale_http_body_bytes after the uploads")
    counted = metric(hp, "bale_http_body_budget_refusals_total")
    check(refused[0] <= counted <= refused[0] + lost[0],
          "bale_http_body_budget_refusals_total %d, but clients saw %d 503s (and lost %d "
          "connections)" % (counted, refused[0], lost[0]))

    t = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", hp, timeout=60)
    for key, block in sorted(acked.items()):
        want = hashlib.sha256()
        piece = block * 16
        for _ in range(UPLOAD_BYTES // len(piece)):
            want.update(piece)
        c.request("GET", "/o/" + key)
        r = c.getresponse()
        check(r.status == 200, "GET /o/%s: status %d" % (key, r.status))
        got, n = hashlib.sha256(), 0
        while True:
            b = r.read(MIB)
            if not b:
                break
            got.update(b)
            n += len(b)
        eq(n, UPLOAD_BYTES, "GET /o/%s: bytes" % key)
        eq(got.hexdigest(), want.hexdigest(), "GET /o/%s: sha256" % key)
    c.close()
    log("http_body_budget: read back %d objects in %.1f s (server VmRSS now %.0f MiB)"
        % (len(acked), time.monotonic() - t, vm_kib(srv.pid, "VmRSS") / 1024.0))
    eq(srv.stop(), 0, "exit code")
    step("%d x %d MiB: all read back, peak RSS %.0f MiB"
         % (UPLOADS, UPLOAD_BYTES >> 20, hwm / 1024.0))


PARTS = {"flags": flags, "refusals": refusals, "many": many}


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or list(PARTS)
    for name in names:
        PARTS[name](bale, tmp)
    log("http_body_budget: all checks passed in %.1f s" % (time.monotonic() - T0))


if __name__ == "__main__":
    main()
