#!/usr/bin/env python3
"""memcached-protocol throughput of `bale serve` against memcached 1.6, same client.

Each round starts memcached (-t THREADS) and then bale serve (--threads THREADS, a fresh
data directory), each on a free loopback port, and drives both with the same memcaslap
command; rounds alternate the two so that machine noise falls on both. Prints a markdown
table (per-round TPS and mean latency, medians, the ratio of medians) for
bench/RESULTS.md.

  bench/run_memcached.py [--rounds 3] [--time 10s] [--value-size 100]
                         [--durability interval] [--set-only] [--threads 2]
                         [--bale-args "--io-uring off"] [--bale PATH] [--binary]
                         [--cluster]

--cluster measures `bale router` in front of three `bale store` nodes (with etcd and a
directory) on this machine instead of `bale serve`.

--binary drives both servers with memcached's binary protocol (memcaslap -B).

Rounds run memcached then bale, and the next round bale then memcached (ABBA), so that
a drift of the machine's speed does not favour whichever server always goes second.
"""
import argparse, os, re, shlex, shutil, signal, statistics, subprocess, sys
import tempfile, time

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stop(proc):
    terminate(proc)


def memcaslap(port, args, cfg):
    cmd = ["memcaslap", "-s", f"127.0.0.1:{port}", "-T", str(args.threads), "-c", "64",
           "-t", args.time, "-X", str(args.value_size), "-S", args.time]
    if cfg:
        cmd += ["-F", cfg]
    if args.binary:
        cmd += ["-B"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    tps = int(re.search(r"TPS: (\d+)", out).group(1))
    total = out[out.rfind("Total Statistics"):]
    m = re.search(r"Avg:\s+(\d+)", total)
    return tps, int(m.group(1)) if m else None, cmd


def run_memcached(args, cfg):
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(["memcached", *user, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                             "-t", str(args.threads), "-m", "4096"])
    try:
        wait_port(port, proc)
        return memcaslap(port, args, cfg)
    finally:
        stop(proc)


def run_bale(args, cfg):
    port = free_port()
    data = tempfile.mkdtemp(prefix="bale-bench-", dir=os.path.join(ROOT, "build"))
    cmd = [args.bale, "serve", "--data", data, "--port", str(port),
           "--http-port", "0", "--threads", str(args.threads), "--durability", args.durability,
           *shlex.split(args.bale_args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        return memcaslap(port, args, cfg) + (cmd,)
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)


def run_cluster(args, cfg):
    """`bale router` in front of three `bale store` nodes (etcd and a directory beside
    them, tests/integration/clusterlib.py), all on this machine's loopback."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import clusterlib
    tmp = tempfile.mkdtemp(prefix="bale-bench-cluster-", dir=os.path.join(ROOT, "build"))
    c = clusterlib.Cluster(args.bale, tmp, partitions=256, initial_nodes=3,
                           store_args=["--durability", args.durability, "--threads", "1"])
    try:
        c.start_directory()
        for name in ("a", "b", "c"):
            c.start_store(name)
        c.wait_placed(stores=3)
        threads = str(args.router_threads or args.threads)
        r = c.start_router(["--threads", threads])
        cmd = [args.bale, "router", "--etcd", "URL", "--cluster", "NAME", "--port", "PORT",
               "--threads", threads]
        clusterlib.wait_answers(r.port, timeout=30)  # the router and stores have the map
        return memcaslap(r.port, args, cfg) + (cmd,)
    finally:
        c.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--time", default="10s")
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--durability", default="interval", choices=["sync", "interval", "none"])
    p.add_argument("--set-only", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bale-args", default="", help="more `bale serve` options")
    p.add_argument("--binary", action="store_true",
                   help="the binary protocol for both servers (memcaslap -B)")
    p.add_argument("--bale", default=os.path.join(ROOT, "build", "bale"),
                   help="the bale executable (default: build/bale, built if missing)")
    p.add_argument("--cluster", action="store_true",
                   help="measure `bale router` in front of three `bale store` nodes instead "
                        "of `bale serve` (etcd and a directory beside them)")
    p.add_argument("--router-threads", type=int, default=0,
                   help="with --cluster: the router's loop threads (default: --threads)")
    args = p.parse_args()
    bale_run = run_cluster if args.cluster else run_bale
    args.bale = os.path.abspath(args.bale)
    if not os.path.exists(args.bale):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    cfg = None
    if args.set_only:
        fd, cfg = tempfile.mkstemp(suffix=".cfg")
        with os.fdopen(fd, "w") as f:
            f.write(f"key\n16 16 1\nvalue\n{args.value_size} {args.value_size} 1\n"
                    "cmd\n0 1.0\n1 0.0\n")
    rows = []
    for r in range(args.rounds):
        if r % 2 == 0:
            m = run_memcached(args, cfg)
            b = bale_run(args, cfg)
        else:
            b = bale_run(args, cfg)
            m = run_memcached(args, cfg)
        rows.append((m, b))
        print(f"round {r + 1}: memcached {m[0]} TPS, bale {b[0]} TPS", file=sys.stderr)
    m_tps = statistics.median(r[0][0] for r in rows)
    b_tps = statistics.median(r[1][0] for r in rows)
    lat = lambda i: [r[i][1] for r in rows if r[i][1] is not None]
    mix = "set only" if args.set_only else "90% get / 10% set"
    protocol = "memcached binary protocol" if args.binary else "memcached protocol"
    what = "bale router in front of 3 stores" if args.cluster else "bale"
    print(f"### {protocol}, {mix}, {args.value_size}-byte values, "
          f"{what} --durability {args.durability}\n")
    print(f"`{sys.argv[0]} {' '.join(sys.argv[1:])}` on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; client for both:\n")
    print(f"    {shlex.join(rows[0][0][2][:1] + ['-s', '127.0.0.1:PORT'] + rows[0][0][2][3:])}\n")
    bale_cmd = shlex.join(rows[0][1][3]) + " (stores: --threads 1, 256 partitions)" \
        if args.cluster else \
        shlex.join(rows[0][1][3][:2] + ['--data', 'DIR', '--port', 'PORT'] + rows[0][1][3][6:])
    print(f"bale: `{bale_cmd}`; "
          f"memcached: `memcached -t {args.threads} -m 4096 -U 0`\n")
    print("| round | memcached TPS | bale TPS | bale/memcached | memcached avg µs | bale avg µs |")
    print("|---|---|---|---|---|---|")
    for i, (m, b) in enumerate(rows):
        print(f"| {i + 1} | {m[0]} | {b[0]} | {b[0] / m[0]:.2f} | {m[1]} | {b[1]} |")
    ml, bl = lat(0), lat(1)
    ratios = [b[0] / m[0] for m, b in rows]
    print(f"| median | {m_tps:.0f} | {b_tps:.0f} | **{statistics.median(ratios):.2f}** | "
          f"{statistics.median(ml) if ml else '-'} | {statistics.median(bl) if bl else '-'} |\n")
    print(f"The bold figure is the median of the per-round ratios (each round runs the two "
          f"servers back to back); the ratio of the median TPS is {b_tps / m_tps:.2f}.\n")
    if cfg:
        os.unlink(cfg)


if __name__ == "__main__":
    main()
