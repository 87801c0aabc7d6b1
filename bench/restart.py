#!/usr/bin/env python3
"""Restart time after kill -9 (issue #10): `bale serve` with default flags (but ports)
takes --objects objects of 100 bytes from --writers processes pipelining sets; then, in
each of --rounds rounds, writers keep overwriting random keys while the server is killed
with SIGKILL at a random moment, and the restart is timed from exec to its port line.
Reported per round: the restart time and what recovery scanned (stats
bale_recovery_scanned_bytes), and every sampled key reads back.

    bench/restart.py [--bale build/bale] [--objects 10000000] [--rounds 3]
"""
import argparse, multiprocessing, os, random, re, shutil, signal, socket, subprocess, sys
import tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port  # noqa: E402

VALUE = b"v" * 100


def key(i):
    return b"obj:%012d" % i


def load(port, start, end, batch=200):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    want = b"STORED\r\n" * batch
    for lo in range(start, end, batch):
        hi = min(end, lo + batch)
        s.sendall(b"".join(b"set %s 0 0 100\r\n%s\r\n" % (key(i), VALUE) for i in range(lo, hi)))
        need = len(b"STORED\r\n") * (hi - lo)
        got = b""
        while len(got) < need:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("server closed")
            got += chunk
        if got != want[:need]:
            raise RuntimeError("unexpected %r" % got[:80])
    s.close()


def churn(port, objects, seed):
    rng = random.Random(seed)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        while True:
            s.sendall(b"".join(b"set %s 0 0 100 noreply\r\n%s\r\n" % (key(rng.randrange(objects)), VALUE)
                               for _ in range(200)))
    except OSError:
        pass  # the server was killed


def start(bale, data, port):
    t = time.monotonic()
    proc = subprocess.Popen([bale, "serve", "--data", data, "--port", str(port), "--http-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = proc.stdout.readline().decode()
    if "memcached protocol on" not in line:
        raise RuntimeError("start: %r" % line)
    return proc, time.monotonic() - t, line


def stat(port, name):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += s.recv(65536)
    m = re.search(rb"STAT %s (\d+)" % name.encode(), buf)
    return int(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bale", default="build/bale")
    ap.add_argument("--objects", type=int, default=10_000_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bale-restart-")
    data = tmp + "/data"
    port = free_port()
    proc, _, _ = start(a.bale, data, port)
    try:
        t = time.monotonic()
        step = (a.objects + a.writers - 1) // a.writers
        ws = [multiprocessing.Process(target=load, args=(port, i * step, min(a.objects, (i + 1) * step)))
              for i in range(a.writers)]
        for w in ws:
            w.start()
        for w in ws:
            w.join()
        print(f"loaded {a.objects:,} objects in {time.monotonic() - t:.0f} s", flush=True)
        rng = random.Random(7)
        for r in range(a.rounds):
            ws = [multiprocessing.Process(target=churn, args=(port, a.objects, r * 10 + i))
                  for i in range(2)]
            for w in ws:
                w.start()
            time.sleep(rng.uniform(2, 20))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            for w in ws:
                w.join()
            proc, secs, line = start(a.bale, data, port)
            scanned = stat(port, "bale_recovery_scanned_bytes")
            objects = int(re.search(r"(\d+) objects", line).group(1))
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                for i in rng.sample(range(a.objects), 1000):
                    s.sendall(b"get %s\r\n" % key(i))
                    buf = b""
                    while not buf.endswith(b"END\r\n"):
                        buf += s.recv(4096)
                    if VALUE not in buf:
                        raise RuntimeError("lost %r" % key(i))
            print(f"round {r + 1}: restart after kill -9 in {secs:.2f} s, {objects:,} objects, "
                  f"recovery scanned {scanned / 1e6 if scanned else 0:.0f} MB; 1,000 sampled keys read back",
                  flush=True)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
