#!/usr/bin/env python3
"""CPU per request of two memcached-protocol servers, loaded at the same time.

On a shared machine a server's throughput drifts by 20% from one 10-second run to the
next, which hides any change of a few percent. Here both servers run at once, each
driven by its own memcaslap (same flags as bench/run_memcached.py), so a slow moment of
the machine falls on both. For each round it reports each server's TPS, the CPU its
process used per request (user + system, from /proc/PID/stat) and the CPU its client
used per request. CPU per request is the figure to compare: the two servers compete for
the same cores, so their TPS also depends on how the scheduler shares them out.

  bench/cpu_per_op.py [--rounds 5] [--time 5s] [--value-size 100]
                      [--a memcached | --a "bale --io-uring off" ...] [--b bale]

A server is `memcached` (memcached -t 2) or `bale [serve options]` (build/bale serve
--threads 2 --durability interval, a fresh data directory, then the options given); a
path to another bale binary in place of `bale` compares two builds.
"""
import argparse, os, re, shlex, shutil, statistics, subprocess, sys, tempfile

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def start(spec):
    """Starts the server `spec` names; returns (process, port, data dir or None)."""
    words = shlex.split(spec)
    port = free_port()
    if words[0] == "memcached":
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        cmd = ["memcached", *user, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", "2",
               "-m", "4096"]
        data = None
    elif words[0] == "bale" or os.path.basename(words[0]).startswith("bale"):
        binary = os.path.join(ROOT, "build", "bale") if words[0] == "bale" else words[0]
        data = tempfile.mkdtemp(prefix="bale-bench-", dir=os.path.join(ROOT, "build"))
        cmd = [binary, "serve", "--data", data, "--port",
               str(port), "--http-port", "0", "--threads", "2", "--durability", "interval",
               *words[1:]]
    else:
        sys.exit(f"unknown server {spec!r}: memcached or bale [options]")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port, data


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def one_round(args):
    servers = [start(args.a), start(args.b)]
    try:
        before = [cpu_seconds(p.pid) for p, _, _ in servers]
        clients = [subprocess.Popen(
            ["memcaslap", "-s", f"127.0.0.1:{port}", "-T", "2", "-c", "64", "-t", args.time,
             "-X", str(args.value_size)], stdout=subprocess.PIPE, text=True)
            for _, port, _ in servers]
        outs = [c.stdout.read() for c in clients]
        usage = [os.wait4(c.pid, 0)[2] for c in clients]
        after = [cpu_seconds(p.pid) for p, _, _ in servers]
    finally:
        for p, _, data in servers:
            terminate(p)
            if data:
                shutil.rmtree(data, ignore_errors=True)
    seconds = float(args.time.rstrip("s"))
    rows = []
    for out, u, b, a in zip(outs, usage, before, after):
        tps = int(re.search(r"TPS: (\d+)", out).group(1))
        ops = tps * seconds
        rows.append((tps, 1e6 * (a - b) / ops, 1e6 * (u.ru_utime + u.ru_stime) / ops))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--time", default="5s")
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--a", default="memcached")
    p.add_argument("--b", default="bale")
    args = p.parse_args()
    if not os.path.exists(os.path.join(ROOT, "build", "bale")):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    print(f"`{sys.argv[0]} {shlex.join(sys.argv[1:])}`; A = `{args.a}`, B = `{args.b}`\n")
    print("| round | A TPS | B TPS | A server µs/req | B server µs/req | B/A server CPU "
          "| A client µs/req | B client µs/req |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for r in range(args.rounds):
        (at, acpu, acl), (bt, bcpu, bcl) = one_round(args)
        ratios.append(bcpu / acpu)
        print(f"| {r + 1} | {at} | {bt} | {acpu:.2f} | {bcpu:.2f} | {ratios[-1]:.3f} | "
              f"{acl:.2f} | {bcl:.2f} |", flush=True)
    print(f"| median | | | | | **{statistics.median(ratios):.3f}** | | |")


if __name__ == "__main__":
    main()
