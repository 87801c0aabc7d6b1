#!/usr/bin/env python3
"""Overwrite churn: does compaction hold the disk, and what does it cost other requests?
(issue #10)

`bale serve` (default flags but ports) takes 1,000 live keys of 1 KiB overwritten flat out
for --time seconds by --writers processes, each pipelining batches of 64 sets of random
keys on its own connection (memcaslap cannot: its set-only keys are all new ones),
while a probe client on its own connection gets one of 100 other keys every millisecond
and times each reply. Reported: the data directory's size (peak and at the end), the
store's compaction counters, and the probe's p50/p99 latency. Run with compaction on and
off (--compaction off: nothing reclaims) alternately for --rounds rounds.

    bench/churn.py [--bale build/bale] [--time 60] [--rounds 1] [--modes on,off]
"""
import argparse, multiprocessing, os, random, shutil, socket, subprocess, sys, tempfile
import threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, wait_port, terminate  # noqa: E402


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except FileNotFoundError:
                pass
    return total


def stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += s.recv(65536)
    out = {}
    for line in buf.decode().splitlines():
        p = line.split()
        if len(p) == 3 and p[0] == "STAT":
            out[p[1]] = p[2]
    return out


def probe(port, stop, lat):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(100):
        s.sendall(b"set probe%d 0 0 100\r\n%s\r\n" % (i, b"p" * 100))
        assert s.recv(100) == b"STORED\r\n"
    i = 0
    while not stop.is_set():
        t = time.perf_counter()
        s.sendall(b"get probe%d\r\n" % (i % 100))
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += s.recv(4096)
        lat.append(time.perf_counter() - t)
        i += 1
        time.sleep(0.001)
    s.close()


def writer(port, seconds, seed, counter):
    rng = random.Random(seed)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    value = b"v" * 1024
    batches = [b"".join(b"set churn%03d 0 0 1024\r\n%s\r\n" % (rng.randrange(1000), value)
                        for _ in range(64)) for _ in range(50)]
    want = b"STORED\r\n" * 64
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        s.sendall(batches[n % 50])
        got = b""
        while len(got) < len(want):
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("server closed")
            got += chunk
        if got != want:
            raise RuntimeError("unexpected reply %r" % got[:100])
        n += 1
    with counter.get_lock():
        counter.value += n * 64
    s.close()


def run(bale, mode, seconds, writers):
    tmp = tempfile.mkdtemp(prefix="bale-churn-")
    port = free_port()
    proc = subprocess.Popen([bale, "serve", "--data", tmp + "/data", "--port", str(port),
                             "--http-port", "0", "--compaction", mode],
                            stdout=subprocess.DEVNULL, stderr=open(tmp + "/err", "w"))
    try:
        wait_port(port, proc)
        stop = threading.Event()
        lat = []
        pt = threading.Thread(target=probe, args=(port, stop, lat))
        pt.start()
        counter = multiprocessing.Value("q", 0)
        procs = [multiprocessing.Process(target=writer, args=(port, seconds, i, counter))
                 for i in range(writers)]
        start = time.monotonic()
        for p_ in procs:
            p_.start()
        peak = 0
        while any(p_.is_alive() for p_ in procs):
            peak = max(peak, dir_bytes(tmp + "/data"))
            time.sleep(0.5)
        elapsed = time.monotonic() - start
        stop.set()
        pt.join()
        if any(p_.exitcode != 0 for p_ in procs):
            raise RuntimeError("a writer failed")
        end = dir_bytes(tmp + "/data")
        st = stats(port)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
        print(f"compaction {mode}: peak {peak / 1e6:.1f} MB, end {end / 1e6:.1f} MB, "
              f"compactions {st.get('bale_compactions')}, reclaimed "
              f"{int(st.get('bale_compaction_reclaimed_bytes', 0)) / 1e6:.0f} MB, "
              f"probe p50 {p(0.5):.0f} us p99 {p(0.99):.0f} us ({len(lat)} gets); "
              f"{counter.value / elapsed:,.0f} sets/s", flush=True)
        return peak, p(0.99)
    finally:
        terminate(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bale", default="build/bale")
    ap.add_argument("--time", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--modes", default="on,off")
    ap.add_argument("--writers", type=int, default=4)
    a = ap.parse_args()
    for r in range(a.rounds):
        modes = a.modes.split(",")
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            run(a.bale, mode, a.time, a.writers)


if __name__ == "__main__":
    main()
