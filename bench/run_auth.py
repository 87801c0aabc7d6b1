#!/usr/bin/env python3
"""What the cluster's security costs (issue #14): `bale router` in front of three `bale
store` nodes, three ways, driven alternately in one run.

  none       no cluster secret, plain TCP between the router and the stores
  handshake  a cluster secret: the HMAC handshake once per router-store connection
  tls        a secret and TLS (client certificates of a local CA, scripts/make_certs):
             every frame between the router and the stores encrypted

Each setup is its own cluster (etcd, a directory, three stores at --durability DURABILITY
with --store-threads threads, a router with --threads), all started once. Every round
drives each setup in turn with the same client, the order reversed every other round
(ABBA), so that the machine's drift falls on all of them. Clients: memcaslap -T 2 -c 64
-X 100 and `bale bench load` flat out (64 connections, 2 threads, 100-byte values, 90%
get / 10% set over 10,000 prefilled keys, every value verified), the same as
bench/run_router.py. Prints markdown for bench/RESULTS.md: each round's requests per
second, the medians, and handshake/none and tls/none per round with their medians.

  bench/run_auth.py [--rounds 5] [--time 10s] [--threads 2] [--store-threads 2]
                    [--clients memcaslap,load] [--durability interval] [--bale PATH]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from run_router import ROOT, load, memcaslap, print_rounds  # and tests/integration on the path

import clusterlib  # noqa: E402 -- after run_router set the path

SETUPS = {"none": {}, "handshake": {"secret": True}, "tls": {"secret": True, "tls": True}}


def start(name, args, tmp):
    """Setup `name`'s cluster; the router's memcached port."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    c = clusterlib.Cluster(args.bale, d, partitions=256, initial_nodes=3,
                           store_args=["--durability", args.durability,
                                       "--threads", str(args.store_threads)], **SETUPS[name])
    args.clusters.append(c)
    c.start_directory()
    for i in range(3):
        c.start_store("abc"[i])
    c.wait_placed(stores=3)
    r = c.start_router(["--threads", str(args.threads)])
    if not clusterlib.wait_answers(r.port, timeout=30):
        raise RuntimeError(f"{name}: the router on port {r.port} does not answer")
    return r.port


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--time", default="10s")
    p.add_argument("--threads", type=int, default=2, help="the router's loop threads")
    p.add_argument("--store-threads", type=int, default=2, help="each store's loop threads")
    p.add_argument("--clients", default="memcaslap,load")
    p.add_argument("--durability", default="interval", choices=["sync", "interval", "none"])
    p.add_argument("--bale", default=os.path.join(ROOT, "build", "bale"))
    args = p.parse_args()
    args.bale = os.path.abspath(args.bale)
    args.load_tool = args.bale
    args.clusters = []
    names, clients = list(SETUPS), args.clients.split(",")
    run = {"memcaslap": lambda port: memcaslap(port, args)[0],
           "load": lambda port: load(port, args)["throughput"]}
    tmp = tempfile.mkdtemp(prefix="bale-bench-auth-", dir=os.path.join(ROOT, "build"))
    rows = {(c, n): [] for c in clients for n in names}
    try:
        ports = {n: start(n, args, tmp) for n in names}
        for r in range(args.rounds):
            for c in clients:
                for n in (names if r % 2 == 0 else list(reversed(names))):
                    rows[(c, n)].append(run[c](ports[n]))
                print(f"round {r + 1}, {c}: " +
                      ", ".join(f"{n} {rows[(c, n)][-1]:.0f}" for n in names), file=sys.stderr)
    finally:
        for c in args.clusters:
            c.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print_tables(args, names, clients, rows)


def print_tables(args, names, clients, rows):
    print(f"`{sys.argv[0]} {' '.join(sys.argv[1:])}` on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; a router (--threads {args.threads}) in front of three "
          f"stores (--threads {args.store_threads}, --durability {args.durability}), 256 "
          f"partitions, every process on this machine. Clients: `memcaslap -T 2 -c 64 -X 100 "
          f"-t {args.time}`; `bale bench load --connections 64 --threads 2 --value-size 100 "
          f"--keys 10000 --prefill --duration {args.time}` (flat out, 90% get / 10% set).\n")
    for c in clients:
        print_rounds(c, names, rows, args.rounds)
        for n in names[1:]:
            ratios = [b / a for a, b in zip(rows[(c, "none")], rows[(c, n)])]
            print(f"{c}: {n} / none by round " + ", ".join(f"{x:.3f}" for x in ratios) +
                  f"; median **{statistics.median(ratios):.3f}**\n")


if __name__ == "__main__":
    main()
