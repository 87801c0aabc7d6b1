#!/usr/bin/env python3
"""`bale router` against twemproxy (Debian's nutcracker), each in front of its backend.

Starts every setup once, then drives them in turn with the same client command, round
after round, the order reversed every other round (ABBA), so that the machine's drift
falls on all of them. Setups:

  twemproxy  nutcracker in front of one memcached (-t THREADS)
  router1    bale router (--threads THREADS) in front of one bale store (etcd, a directory)
  router3    the same in front of three bale stores
  memcached  memcached alone, for scale
  serve      bale serve alone, for scale

Every bale node runs --durability DURABILITY (default interval). Clients, each round:
memcaslap -T 2 -c 64 -X 100 and `bale bench load` flat out (64 connections, 2 threads,
100-byte values, 90% get / 10% set over 10,000 prefilled keys, every value verified).
After the rounds, each setup is driven open loop by `bale bench load --rate` at half its
median flat-out rate, for its latency percentiles at that load (latency counted from
each request's scheduled send). Prints markdown tables for bench/RESULTS.md: each
round's requests per second, the medians, router1/twemproxy per round with its median,
and the half-rate percentiles.

  bench/run_router.py [--rounds 3] [--time 10s] [--threads 2] [--store-threads 2]
                      [--setups twemproxy,router1,router3,memcached,serve]
                      [--clients memcaslap,load] [--half-rate-time 10s]
                      [--durability interval] [--bale PATH] [--load-tool PATH]
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def memcaslap(port, args):
    cmd = ["memcaslap", "-s", f"127.0.0.1:{port}", "-T", "2", "-c", "64", "-X", "100",
           "-t", args.time, "-S", args.time]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"TPS: (\d+)", out)
    if m is None:
        raise RuntimeError("memcaslap printed no TPS:\n" + out[-2000:])
    total = out[out.rfind("Total Statistics"):]
    lat = re.search(r"Avg:\s+(\d+)", total)
    return int(m.group(1)), int(lat.group(1)) if lat else None


def load(port, args, rate=0.0, time_arg=None):
    """`bale bench load` against the port: its JSON report (throughput, latency_us)."""
    cmd = [args.load_tool, "bench", "load", "--servers", f"127.0.0.1:{port}",
           "--connections", "64", "--threads", "2", "--value-size", "100",
           "--mix", "get:90,set:10", "--keys", "10000", "--prefill",
           "--duration", time_arg or args.time, "--rate", str(rate), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    report = json.loads(out.stdout)
    if report["errors"]["total"] != 0:
        raise RuntimeError(f"bale bench load saw errors: {report['errors']}")
    return report


class Setups:
    """The servers of every setup asked for, started once; stop() ends them all."""

    def __init__(self, args):
        self.args, self.procs, self.clusters, self.port = args, [], [], {}
        self.tmp = tempfile.mkdtemp(prefix="bale-bench-router-", dir=os.path.join(ROOT, "build"))

    def memcached(self, threads):
        port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        p = subprocess.Popen(["memcached", *user, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                              "-t", str(threads), "-m", "4096"])
        self.procs.append(p)
        wait_port(port, p)
        return port

    def twemproxy(self):
        backend = self.memcached(self.args.store_threads)
        port, stats = free_port(), free_port()
        conf = os.path.join(self.tmp, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write("bench:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n  distribution: ketama\n"
                    "  timeout: 1000\n  servers:\n   - 127.0.0.1:%d:1\n" % (port, backend))
        p = subprocess.Popen(["nutcracker", "-c", conf, "-s", str(stats), "-a", "127.0.0.1",
                              "-o", os.path.join(self.tmp, "nutcracker.log")])
        self.procs.append(p)
        wait_port(port, p)
        return port

    def router(self, stores):
        import clusterlib
        tmp = os.path.join(self.tmp, "cluster%d" % stores)
        os.makedirs(tmp)
        c = clusterlib.Cluster(self.args.bale, tmp, partitions=256, initial_nodes=stores,
                               store_args=["--durability", self.args.durability,
                                           "--threads", str(self.args.store_threads)])
        self.clusters.append(c)
        c.start_directory()
        for i in range(stores):
            c.start_store("abc"[i])
        c.wait_placed(stores=stores)
        r = c.start_router(["--threads", str(self.args.threads)])
        if not clusterlib.wait_answers(r.port, timeout=30):
            raise RuntimeError(f"the router on port {r.port} does not answer")
        return r.port

    def serve(self):
        port = free_port()
        data = os.path.join(self.tmp, "serve")
        p = subprocess.Popen([self.args.bale, "serve", "--data", data, "--port", str(port),
                              "--http-port", "0", "--threads", str(self.args.threads),
                              "--durability", self.args.durability], stdout=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(port, p)
        return port

    def start(self, name):
        start = {"twemproxy": self.twemproxy, "router1": lambda: self.router(1),
                 "router3": lambda: self.router(3),
                 "memcached": lambda: self.memcached(self.args.threads), "serve": self.serve}
        self.port[name] = start[name]()

    def stop(self):
        for p in self.procs:
            terminate(p)
        for c in self.clusters:
            c.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--time", default="10s")
    p.add_argument("--threads", type=int, default=2,
                   help="the router's, bale serve's and memcached's (alone) loop threads")
    p.add_argument("--store-threads", type=int, default=2,
                   help="each bale store's threads, and the memcached behind twemproxy's")
    p.add_argument("--setups", default="twemproxy,router1,router3,memcached,serve")
    p.add_argument("--durability", default="interval", choices=["sync", "interval", "none"])
    p.add_argument("--bale", default=os.path.join(ROOT, "build", "bale"))
    p.add_argument("--clients", default="memcaslap,load")
    p.add_argument("--half-rate-time", default="10s",
                   help="how long each setup runs at half its flat-out rate (0: skip)")
    p.add_argument("--load-tool", help="the bale whose `bench load` drives (default: --bale)")
    args = p.parse_args()
    args.bale = os.path.abspath(args.bale)
    args.load_tool = os.path.abspath(args.load_tool or args.bale)
    names, clients = args.setups.split(","), args.clients.split(",")
    run = {"memcaslap": lambda port: memcaslap(port, args)[0],
           "load": lambda port: load(port, args)["throughput"]}
    setups = Setups(args)
    rows = {(c, n): [] for c in clients for n in names}
    half = {}
    try:
        for n in names:
            setups.start(n)
        for r in range(args.rounds):
            for c in clients:
                for n in (names if r % 2 == 0 else list(reversed(names))):
                    rows[(c, n)].append(run[c](setups.port[n]))
                print(f"round {r + 1}, {c}: " +
                      ", ".join(f"{n} {rows[(c, n)][-1]:.0f}" for n in names), file=sys.stderr)
        if "load" in clients and args.half_rate_time not in ("0", "0s"):
            for n in names:
                rate = statistics.median(rows[("load", n)]) / 2
                half[n] = (rate, load(setups.port[n], args, rate, args.half_rate_time))
                print(f"half rate, {n}: {rate:.0f}/s, p99 "
                      f"{half[n][1]['latency_us']['all']['p99']:.0f} µs", file=sys.stderr)
    finally:
        setups.stop()
    print_tables(args, names, clients, rows, half)


def print_rounds(client, names, rows, rounds):
    """Client's markdown table: requests/s of each setup by round, and the medians."""
    print(f"{client}, requests/s:\n")
    print("| round | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for i in range(rounds):
        print(f"| {i + 1} | " + " | ".join(f"{rows[(client, n)][i]:.0f}" for n in names) + " |")
    print("| median | " + " | ".join(f"{statistics.median(rows[(client, n)]):.0f}"
                                     for n in names) + " |\n")


def print_tables(args, names, clients, rows, half):
    print(f"### Proxies: bale router against twemproxy, 100-byte values, 90% get / 10% set, "
          f"bale --durability {args.durability}\n")
    print(f"`{sys.argv[0]} {' '.join(sys.argv[1:])}` on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; router --threads {args.threads}, stores and the "
          f"memcached behind twemproxy {args.store_threads} threads, 256 partitions. "
          f"Clients: `memcaslap -T 2 -c 64 -X 100 -t {args.time}`; `bale bench load "
          f"--connections 64 --threads 2 --value-size 100 --keys 10000 --prefill "
          f"--duration {args.time}` (flat out).\n")
    for c in clients:
        print_rounds(c, names, rows, args.rounds)
        if "router1" in names and "twemproxy" in names:
            ratios = [b / a for a, b in zip(rows[(c, "twemproxy")], rows[(c, "router1")])]
            print(f"{c}: router1 / twemproxy by round " + ", ".join(f"{x:.2f}" for x in ratios) +
                  f"; median **{statistics.median(ratios):.2f}**\n")
    if half:
        print(f"Open loop at half the median flat-out rate (`bale bench load --rate R "
              f"--duration {args.half_rate_time}`, same flags), latency in µs from each "
              f"request's scheduled send:\n")
        print("| setup | rate/s | achieved/s | p50 | p90 | p99 | p99.9 | max |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for n, (rate, rep) in half.items():
            l = rep["latency_us"]["all"]
            print(f"| {n} | {rate:.0f} | {rep['throughput']:.0f} | {l['p50']:.0f} | "
                  f"{l['p90']:.0f} | {l['p99']:.0f} | {l['p999']:.0f} | {l['max']:.0f} |")
        print()


if __name__ == "__main__":
    main()
