"""SIGKILL `bale serve --durability sync` while HTTP clients upload, restart, and check
that every acknowledged upload reads back: bytes, Content-Type and public URL.

Each round: 3 threads PUT objects (each its own keys, new bytes every write) over
keep-alive connections and one thread POSTs /batch of 8 parts; a write counts as
acknowledged when its whole 2xx response arrived. After a random number of acknowledged
objects (not a delay: a slow, busy machine must not make a round that tests nothing) the
server is SIGKILLed and restarted on the same data directory. Every acknowledged object must be
there with the last acknowledged bytes of its key (or bytes of a later write that was
sent, not yet acknowledged), its Content-Type, and be served at its public URL.

Usage: http_crash_test.py BALE TMPDIR [ROUNDS]
"""

import hashlib
import os
import random
import sys
import threading
import time

from balelib import WAIT_S, HttpConn, Server, check, http_request, log

PUTTERS = 3
KEYS_PER_PUTTER = 30
# Each round kills the server after this many acknowledged objects (drawn at random).
MIN_ACKS, MAX_ACKS = 100, 3000
ROUND_TIMEOUT_S = 60.0


def body_of(key, gen):
    seed = hashlib.sha256(b"%s/%d" % (key.encode(), gen)).digest()
    return seed * (1 + gen % 40)  # 32..1280 bytes, different per write


def run_round(bale, data, rnd, rng, acked, sent):
    server = Server(bale, data, "--durability", "sync")
    stop = threading.Event()
    lock = threading.Condition()
    errors = []
    round_acks = [0]  # objects acknowledged in this round

    def putter(w):
        try:
            with HttpConn(server.http_port) as c:
                gen = rnd * 100000
                while not stop.is_set():
                    gen += 1
                    key = "r-w%d-k%02d" % (w, gen % KEYS_PER_PUTTER)
                    body = body_of(key, gen)
                    with lock:
                        sent.setdefault(key, {})[body] = "image/w%d" % w
                    r = c.request("PUT", "/o/" + key, body, {"Content-Type": "image/w%d" % w})
                    if r.status != 200:
                        raise AssertionError("PUT %s: %r" % (key, r))
                    with lock:
                        acked[key] = (body, "image/w%d" % w, r.json()["url"])
                        round_acks[0] += 1
                        lock.notify_all()
        except (ConnectionError, OSError):
            pass  # the server was killed
        except AssertionError as e:
            errors.append(e)

    def batcher():
        try:
            with HttpConn(server.http_port) as c:
                n = 0
                while not stop.is_set():
                    n += 1
                    parts, bodies = [], []
                    for i in range(8):
                        key = "r%d-b%d-%d" % (rnd, n, i)
                        body = body_of(key, n)
                        bodies.append((key, body))
                        parts.append(b"--XB\r\nContent-Disposition: form-data; name=\"%s\"\r\n"
                                     b"Content-Type: text/b\r\n\r\n%s\r\n" % (key.encode(), body))
                    payload = b"".join(parts) + b"--XB--\r\n"
                    r = c.request("POST", "/batch?keys=names", payload,
                                  {"Content-Type": "multipart/form-data; boundary=XB"})
                    if r.status != 201:
                        raise AssertionError("batch: %r" % r)
                    objects = r.json()["objects"]
                    with lock:
                        for (key, body), o in zip(bodies, objects):
                            sent.setdefault(key, {})[body] = "text/b"
                            acked[key] = (body, "text/b", o["url"])
                        round_acks[0] += len(bodies)
                        lock.notify_all()
        except (ConnectionError, OSError):
            pass
        except AssertionError as e:
            errors.append(e)
        finally:
            with lock:
                lock.notify_all()  # the main thread stops waiting once all have ended

    threads = [threading.Thread(target=putter, args=(w,)) for w in range(PUTTERS)]
    threads.append(threading.Thread(target=batcher))
    for t in threads:
        t.start()
    target = rng.randint(MIN_ACKS, MAX_ACKS)
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    with lock:
        while (round_acks[0] < target and time.monotonic() < deadline
               and any(t.is_alive() for t in threads)):
            lock.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        got = round_acks[0]
    server.kill()  # what was acknowledged before this is durable; later acks are too
    stop.set()
    for t in threads:
        t.join(WAIT_S)
        check(not t.is_alive(), "round %d: a client did not stop within %.0f s of the kill"
              % (rnd, WAIT_S))
    check(not errors, "round %d: %s" % (rnd, errors[:1]))
    check(got >= target, "round %d: %d of %d objects acknowledged within %.0f s"
          % (rnd, got, target, ROUND_TIMEOUT_S))

    server = Server(bale, data, "--durability", "sync")
    try:
        for key, (body, ctype, url) in sorted(acked.items()):
            r = http_request(server.http_port, "GET", "/o/" + key)
            check(r.status == 200, "round %d: acknowledged %s lost: %r" % (rnd, key, r))
            check(r.body in sent[key], "round %d: %s holds bytes never sent (%d bytes)"
                  % (rnd, key, len(r.body)))
            check(r.header("content-type") == sent[key][r.body],
                  "round %d: %s Content-Type %r, want %r"
                  % (rnd, key, r.header("content-type"), sent[key][r.body]))
            if r.body == body:  # the last acknowledged write: its public URL still works
                p = http_request(server.http_port, "GET", url)
                check(p.status == 200 and p.body == body,
                      "round %d: public URL %s of %s: %r" % (rnd, url, key, p))
    finally:
        server.stop()
    return target, len(acked)


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1000000))
    log("http crash: seed %d (CRASH_SEED=%d to replay), %d rounds" % (seed, seed, rounds))
    rng = random.Random(seed)
    data = os.path.join(tmp, "data")
    acked, sent = {}, {}
    for rnd in range(rounds):
        target, n = run_round(bale, data, rnd, rng, acked, sent)
        log("http crash: round %d: SIGKILL after %d acknowledged writes, restart, %d "
            "acknowledged keys read back" % (rnd, target, n))
    log("http crash: %d rounds passed" % rounds)


if __name__ == "__main__":
    main()
