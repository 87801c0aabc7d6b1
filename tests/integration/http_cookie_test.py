"""Public URLs cannot be guessed: 200 objects stored with POST /o, then 100,000 GETs of
their public URLs /{partition}/{key}/{cookie} with random wrong cookies (keep-alive,
pipelined in batches, several connections) must all be 404 with the body of a missing
object, and the right cookie must still fetch every object.

Usage: http_cookie_test.py BALE TMPDIR
"""

import os
import random
import re
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from balelib import HttpConn, Server, build_request, check, connect, log

OBJECTS = 200
GUESSES = 100_000
CONNECTIONS = 4
BATCH = 250  # requests per pipelined write
_CL_RE = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_CHUNKED_RE = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.I)


def public_segments(url):
    """[partition, key, cookie] of a public URL (absolute, or a path)."""
    segs = urlsplit(url).path.split("/")[1:]
    check(len(segs) == 3 and all(segs), "public URL %r is not /{partition}/{key}/{cookie}" % url)
    return segs


def cookie_maker(cookies):
    """A function returning random cookies written the way the server writes them."""
    if all(re.fullmatch(r"[0-9a-f]{16}", c) for c in cookies):
        return lambda r: "%016x" % r.getrandbits(64)
    if all(re.fullmatch(r"[0-9A-F]{16}", c) for c in cookies):
        return lambda r: "%016X" % r.getrandbits(64)
    if all(c.isdigit() for c in cookies):
        return lambda r: str(r.getrandbits(64))
    alphabet = sorted(set("".join(cookies)))
    n = max(len(c) for c in cookies)
    return lambda r: "".join(r.choice(alphabet) for _ in range(n))


def read_responses(sock, n, buf):
    """Reads n responses to GETs; returns ([(status, body)], leftover bytes)."""
    out = []
    while len(out) < n:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection after %d of %d pipelined "
                                      "answers; have %r" % (len(out), n, buf[:200]))
            buf += chunk
            continue
        head = buf[:end + 2]
        check(head.startswith(b"HTTP/1.") and head[12:13] in (b" ", b"\r"),
              "bad status line in %r" % head[:200])
        status = int(head[9:12])
        check(not _CHUNKED_RE.search(head), "chunked answer to a GET: %r" % head[:300])
        m = _CL_RE.search(head)
        check(m, "answer without Content-Length: %r" % head[:300])
        length = int(m.group(1))
        while len(buf) < end + 4 + length:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection mid-body")
            buf += chunk
        out.append((status, buf[end + 4:end + 4 + length]))
        buf = buf[end + 4 + length:]
    return out, buf


def guesser(port, objs, make_cookie, count, seed, results):
    rnd = random.Random(seed)
    statuses, bodies, sample_200 = Counter(), Counter(), []
    sock = connect(port, timeout=30)
    buf = b""
    done = 0
    try:
        while done < count:
            n = min(BATCH, count - done)
            reqs, targets = [], []
            for _ in range(n):
                p, k, right = objs[rnd.randrange(len(objs))][:3]
                c = make_cookie(rnd)
                while c.lower() == right.lower():
                    c = make_cookie(rnd)
                t = "/%s/%s/%s" % (p, k, c)
                targets.append(t)
                reqs.append(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % t.encode())
            sock.sendall(b"".join(reqs))
            answers, buf = read_responses(sock, n, buf)
            for t, (status, body) in zip(targets, answers):
                statuses[status] += 1
                bodies[body] += 1
                if status == 200 and len(sample_200) < 5:
                    sample_200.append(t)
            done += n
    except Exception as e:  # reported by the main thread
        results.append(("error", "%s after %d guesses" % (e, done)))
    finally:
        sock.close()
    results.append(("ok", statuses, bodies, sample_200, done))


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    srv = Server(bale, os.path.join(tmp, "data"), "--threads", "4")
    hp = srv.http_port
    check(hp, "no HTTP port: %r" % srv.output())

    objs = []  # (partition, key segment, cookie, body)
    with HttpConn(hp) as c:
        for i in range(OBJECTS):
            body = b"object %d " % i + os.urandom(32)
            r = c.request("POST", "/o", body, {"Content-Type": "application/x-cookie-test"})
            check(r.status == 201, "POST /o #%d: status %d, %r" % (i, r.status, r))
            p, k, cookie = public_segments(r.json()["url"])
            objs.append((p, k, cookie, body))
        r = c.request("GET", "/o/no-such-key")
        check(r.status == 404, "GET of a missing key: %r" % r)
        miss_body = r.body
    make_cookie = cookie_maker([o[2] for o in objs])

    t = time.monotonic()
    results = []
    threads = []
    per = GUESSES // CONNECTIONS
    for i in range(CONNECTIONS):
        n = per if i < CONNECTIONS - 1 else GUESSES - per * (CONNECTIONS - 1)
        th = threading.Thread(target=guesser, args=(hp, objs, make_cookie, n, 1000 + i, results),
                              daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join(100)
        check(not th.is_alive(), "a guessing connection did not finish within 100 s")
    took = time.monotonic() - t
    statuses, bodies, sample_200, total = Counter(), Counter(), [], 0
    for res in results:
        check(res[0] == "ok", "guessing connection failed: %s" % (res[1],))
        statuses.update(res[1])
        bodies.update(res[2])
        sample_200 += res[3]
        total += res[4]
    check(total == GUESSES, "made %d guesses, want %d" % (total, GUESSES))
    log("http_cookie: %d wrong-cookie guesses on %d connections in %.1f s (%.0f/s); "
        "answers %s" % (total, CONNECTIONS, took, total / took, dict(statuses)))
    check(statuses[200] == 0, "%d of %d wrong-cookie guesses answered 200, e.g. %r"
          % (statuses[200], total, sample_200))
    check(statuses[404] == total, "wrong-cookie guesses answered %r, want only 404"
          % dict(statuses))
    check(bodies[miss_body] == total,
          "404 bodies differ from a missing key's %r: %r" % (miss_body, bodies.most_common(3)))

    # the right cookie still works for every object (pipelined on one connection)
    with HttpConn(hp) as c:
        c.send(b"".join(build_request("GET", "/%s/%s/%s" % o[:3]) for o in objs),
               "%d GETs with the right cookies" % len(objs))
        for o in objs:
            r = c.read_response()
            check(r.status == 200, "GET /%s/%s/%s with the right cookie: %r" % (o[:3] + (r,)))
            check(r.body == o[3], "GET /%s/%s/%s: body %r, want %r" % (o[:3] + (r.body, o[3])))
    log("http_cookie: the right cookie fetched all %d objects" % len(objs))
    rc = srv.stop()
    check(rc == 0, "bale serve exited %d after SIGTERM: %s" % (rc, srv.output()))


if __name__ == "__main__":
    main()
