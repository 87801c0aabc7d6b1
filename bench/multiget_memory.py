#!/usr/bin/env python3
"""Peak RSS of one multi-get naming a large object many times: bale serve against
memcached, which sends references to items rather than copies (issue #9).

Each server gets `set a 0 0 SIZE`, one warm `get a`, then one `get a a a ...` naming `a`
TIMES times, read to the end by a client that checks every value; the figure is the
growth of the server's VmHWM (peak RSS) across that request, and how long the reply took.

    bench/multiget_memory.py [--bale build/bale] [--times 3000] [--size 1048000] [--rounds 3]
                             [--servers bale,memcached]
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, wait_port, terminate  # noqa: E402


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def read_reply(sock, value, times):
    """Reads `times` VALUE blocks and END; checks each value. Returns bytes read."""
    buf = bytearray()
    want_head = b"VALUE a 0 %d\r\n" % len(value)
    block = want_head + value + b"\r\n"
    total = 0
    for i in range(times):
        while len(buf) < len(block):
            chunk = sock.recv(4 << 20)
            if not chunk:
                raise RuntimeError(f"closed after {i} values")
            buf += chunk
        if buf[:len(block)] != block:
            raise RuntimeError(f"value {i} differs")
        del buf[:len(block)]
        total += len(block)
    while len(buf) < 5:
        buf += sock.recv(1 << 16)
    if bytes(buf[:5]) != b"END\r\n":
        raise RuntimeError("no END")
    return total + 5


def measure(pid, port, size, times):
    value = os.urandom(size)
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(b"set a 0 0 %d\r\n%s\r\n" % (size, value))
        if s.recv(100) != b"STORED\r\n":
            raise RuntimeError("set failed")
        s.sendall(b"get a\r\n")
        read_reply(s, value, 1)
        before = vm_hwm_kb(pid)
        start = time.monotonic()
        s.sendall(b"get" + b" a" * times + b"\r\n")
        n = read_reply(s, value, times)
        seconds = time.monotonic() - start
    return (vm_hwm_kb(pid) - before) / 1024.0, n / seconds / (1 << 30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bale", default="build/bale")
    ap.add_argument("--times", type=int, default=3000)
    ap.add_argument("--size", type=int, default=1048000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default="bale,memcached")
    a = ap.parse_args()
    servers = a.servers.split(",")
    rows = {name: [] for name in servers}
    for r in range(a.rounds):
        for name in (servers if r % 2 == 0 else servers[::-1]):
            port = free_port()
            tmp = tempfile.mkdtemp(prefix="bale-mgmem-")
            if name == "bale":
                cmd = [a.bale, "serve", "--data", tmp + "/data", "--port", str(port),
                       "--http-port", "0", "--threads", "1"]
            else:
                user = ["-u", "nobody"] if os.geteuid() == 0 else []  # memcached refuses root
                cmd = ["memcached", *user, "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-t", "1",
                       "-m", "64", "-I", "2m"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(port, proc)
                grew, gibps = measure(proc.pid, port, a.size, a.times)
            finally:
                terminate(proc)
                shutil.rmtree(tmp, ignore_errors=True)
            rows[name].append((grew, gibps))
            print(f"round {r + 1} {name}: VmHWM +{grew:.1f} MiB, reply at {gibps:.2f} GiB/s",
                  flush=True)
    for name, v in rows.items():
        print(f"{name}: median VmHWM growth {statistics.median(x[0] for x in v):.1f} MiB, "
              f"median reply rate {statistics.median(x[1] for x in v):.2f} GiB/s")


if __name__ == "__main__":
    main()
