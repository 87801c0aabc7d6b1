"""SIGKILL `bale serve --durability sync` under concurrent writers, restart, and check
that nothing acknowledged was lost and nothing is torn or mixed.

Each round: 4 writer threads, each owning its own keys (so the order of one key's writes
is the order they were sent), send pipelined batches of `set`s whose values describe
themselves (key, generation, padding of varying length derived from both; see
expected_value). A set counts as acknowledged only when its full "STORED\\r\\n" arrived.
After a random number of acknowledgements the server is SIGKILLed, restarted on the same
data directory, and every key ever written is read back: a value present must be exactly
expected_value(key, gen) for some gen that was sent, with flags to match; a key with an
acknowledged set must be present with gen >= its last acknowledged generation. The
restart's reported object count must equal the number of keys present.

Usage: crash_test.py BALE TMPDIR [ROUNDS]   (CRASH_SEED=N to replay a run)
"""

import hashlib
import os
import random
import socket
import sys
import threading
import time
import zlib

import balelib
from balelib import Server, check, log

WRITERS = 4
KEYS_PER_WRITER = 40
ROUND_TIMEOUT_S = 60.0  # to reach a round's target of acks: ends when it is reached


def key_name(w, i):
    return b"crash-w%d-k%03d" % (w, i)


def pad_len(key, gen):
    h = zlib.crc32(b"%s/%d" % (key, gen))
    if h % 16 == 0:
        return 60000 + h % 140000  # now and then a large value (tears are likelier)
    return h % 3000


def expected_value(key, gen):
    n = pad_len(key, gen)
    seed = hashlib.sha256(b"%s|%d" % (key, gen)).digest()
    pad = (seed * (n // len(seed) + 1))[:n]
    body = b"%s|%d|%d|%s" % (key, gen, n, pad)
    return body + b"|%08x" % zlib.crc32(body)


def expected_flags(key, gen):
    return zlib.crc32(b"flags:%s:%d" % (key, gen))


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.acked = {}     # key -> highest acknowledged generation (all rounds)
        self.sent_max = {}  # key -> highest generation ever sent
        self.next_gen = {}  # key -> next generation to send
        self.acks_this_round = 0
        self.total_acks = 0
        self.killed = False
        self.errors = []


def writer(state, w, port, rng_seed):
    rng = random.Random(rng_seed)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=balelib.WAIT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as e:
        with state.lock:
            if not state.killed:
                state.errors.append("writer %d: connect: %r" % (w, e))
        return
    buf = b""
    try:
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while time.monotonic() < deadline:
            batch = []
            with state.lock:
                if state.killed:
                    return
                for _ in range(rng.randint(1, 8)):
                    key = key_name(w, rng.randrange(KEYS_PER_WRITER))
                    gen = state.next_gen.get(key, 1)
                    state.next_gen[key] = gen + 1
                    state.sent_max[key] = gen
                    batch.append((key, gen))
            out = b"".join(
                b"set %s %d 0 %d\r\n%s\r\n" % (k, expected_flags(k, g), len(v), v)
                for k, g, v in ((k, g, expected_value(k, g)) for k, g in batch))
            sock.sendall(out)
            for key, gen in batch:
                while b"\r\n" not in buf:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buf += chunk
                line, buf = buf.split(b"\r\n", 1)
                if line != b"STORED":
                    raise AssertionError("set %r gen %d: %r" % (key, gen, line))
                with state.cond:
                    if state.acked.get(key, 0) < gen:
                        state.acked[key] = gen
                    state.acks_this_round += 1
                    state.total_acks += 1
                    state.cond.notify_all()
    except (OSError, ConnectionError) as e:
        with state.lock:
            if not state.killed:
                state.errors.append("writer %d: %r before the kill" % (w, e))
    except Exception as e:  # noqa: BLE001 - reported as a test failure
        with state.lock:
            state.errors.append("writer %d: %r" % (w, e))
    finally:
        sock.close()


def read_all(port, keys):
    """Multi-gets every key; returns {key: (flags, value)} for those present."""
    found = {}
    sock = balelib.connect(port)
    try:
        for i in range(0, len(keys), 50):
            chunk = keys[i:i + 50]
            sock.sendall(b"get " + b" ".join(chunk) + b"\r\n")
            buf = balelib.recv_until(sock, b"END\r\n")
            pos = 0
            while True:
                nl = buf.index(b"\r\n", pos)
                line = buf[pos:nl]
                if line == b"END":
                    check(nl + 2 == len(buf), "trailing bytes after END")
                    break
                parts = line.split(b" ")
                check(len(parts) == 4 and parts[0] == b"VALUE", "bad reply line %r" % line)
                n = int(parts[3])
                val = buf[nl + 2:nl + 2 + n]
                check(buf[nl + 2 + n:nl + 4 + n] == b"\r\n", "bad data terminator")
                check(parts[1] not in found, "key %r returned twice" % parts[1])
                found[parts[1]] = (int(parts[2]), val)
                pos = nl + 4 + n
    finally:
        sock.close()
    return found


def verify(state, srv, round_no):
    all_keys = sorted(state.sent_max)
    found = read_all(srv.port, all_keys)
    for key in all_keys:
        acked = state.acked.get(key, 0)
        if key not in found:
            check(acked == 0, "round %d: %r missing, but generation %d was acknowledged"
                  % (round_no, key, acked))
            continue
        flags, val = found[key]
        parts = val.split(b"|", 2)
        check(len(parts) == 3 and parts[0] == key and parts[1].isdigit(),
              "round %d: %r has an unparsable value (%d bytes): %r"
              % (round_no, key, len(val), val[:80]))
        gen = int(parts[1])
        check(val == expected_value(key, gen),
              "round %d: %r gen %d torn or mixed (%d bytes, want %d)"
              % (round_no, key, gen, len(val), len(expected_value(key, gen))))
        check(flags == expected_flags(key, gen),
              "round %d: %r gen %d has flags %d, want %d"
              % (round_no, key, gen, flags, expected_flags(key, gen)))
        check(gen >= acked, "round %d: %r has generation %d, but %d was acknowledged (lost)"
              % (round_no, key, gen, acked))
        check(gen <= state.sent_max[key], "round %d: %r has generation %d, never sent"
              % (round_no, key, gen))
    for key in found:
        check(key in state.sent_max, "round %d: unexpected key %r" % (round_no, key))
    check(srv.objects_at_start == len(found),
          "round %d: restart reported %d objects, %d keys are readable"
          % (round_no, srv.objects_at_start, len(found)))
    return len(found)


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    seed = int(os.environ.get("CRASH_SEED", str(time.time_ns() % 1000000007)))
    log("crash: seed %d (CRASH_SEED=%d to replay), %d rounds" % (seed, seed, rounds))
    rng = random.Random(seed)
    data = os.path.join(tmp, "data")
    args = ("--durability", "sync", "--threads", "2")
    state = State()
    t0 = time.monotonic()
    for round_no in range(1, rounds + 1):
        srv = Server(bale, data, *args)
        if round_no > 1:
            present = verify(state, srv, round_no - 1)
        else:
            present = 0
        target = rng.randint(50, 400)
        state.acks_this_round = 0
        state.killed = False
        threads = [threading.Thread(target=writer, args=(state, w, srv.port, rng.random()),
                                    daemon=True) for w in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        with state.cond:
            while state.acks_this_round < target and not state.errors:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                state.cond.wait(min(left, 0.5))
            # Kill while holding the lock: no ack can be recorded between the decision and
            # the kill, but writers that already hold replies in flight keep going.
            state.killed = True
            acks = state.acks_this_round
            srv.kill()
        for t in threads:
            t.join(balelib.WAIT_S)
            check(not t.is_alive(), "a writer did not stop within %.0f s of the kill"
                  % balelib.WAIT_S)
        check(not state.errors, "round %d: %s" % (round_no, state.errors))
        check(acks >= target, "round %d: only %d of %d acks within %.0f s"
              % (round_no, acks, target, ROUND_TIMEOUT_S))
        log("crash: round %d: %d keys present at start, SIGKILL after %d acks (target %d)"
            % (round_no, present, acks, target))
    srv = Server(bale, data, *args)
    present = verify(state, srv, rounds)
    rc = srv.stop()
    check(rc == 0, "bale serve exited %d after SIGTERM: %s" % (rc, srv.output()))
    log("crash: %d SIGKILLs, %d acknowledged sets, %d keys verified, %.1f s"
        % (rounds, state.total_acks, present, time.monotonic() - t0))


if __name__ == "__main__":
    main()
