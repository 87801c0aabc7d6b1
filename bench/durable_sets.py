#!/usr/bin/env python3
"""Durable sets: `bale serve --durability sync` against Redis `--appendfsync always` (#16).

Set-only load, 100-byte values, 64 connections on loopback. Each round runs four servers,
each fresh, on a free port:

  bale sync      bale serve --durability sync,   driven by memcaslap (-T 2 -c 64 -X 100)
  bale none      bale serve --durability none,   same client: memcaslap's ceiling here
  redis always   redis-server --appendonly yes --appendfsync always,
                 driven by redis-benchmark -t set -c 64 -d 100 -r 1000000 -n N
  redis no       redis-server --appendonly no,   same client: redis-benchmark's ceiling

The order is reversed every other round (ABBA), so a drift of the machine's speed does not
favour whichever server goes later. Prints a markdown table per round and the medians:
bale sync / redis always (the goal of #16 is >= 1.0), and each durable server against
the non-durable one driven by the same client, so the clients' own costs are visible.

redis-benchmark has no duration option: the first round asks each Redis for
--redis-requests sets, later rounds for as many as the previous round did in --time.

  bench/durable_sets.py [--rounds 3] [--time 10s] [--bale PATH] [--threads 2]
                        [--bale-args "..."] [--redis-requests 500000] [--redis-threads 1]

Exits non-zero if a server fails to start or a client's output cannot be read.
"""
import argparse, csv, io, os, re, shlex, shutil, statistics, subprocess, sys, tempfile
import time

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUE = 100


def seconds(spec):
    m = re.fullmatch(r"(\d+)([smh]?)", spec)
    if not m:
        raise SystemExit(f"--time: {spec!r} is not N, Ns, Nm or Nh")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def scratch_dir(prefix):
    base = os.path.join(ROOT, "build")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def memcaslap(port, args, cfg):
    cmd = ["memcaslap", "-s", f"127.0.0.1:{port}", "-T", "2", "-c", "64", "-t", args.time,
           "-X", str(VALUE), "-S", args.time, "-F", cfg]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"TPS: (\d+)", out)
    if not m:
        raise RuntimeError(f"memcaslap printed no TPS:\n{out}")
    total = out[out.rfind("Total Statistics"):]
    avg = re.search(r"Avg:\s+(\d+)", total)
    return {"tps": int(m.group(1)), "avg_us": int(avg.group(1)) if avg else None,
            "p99_us": None, "client": cmd}


def run_bale(args, cfg, durability):
    port = free_port()
    data = scratch_dir("bale-durable-")
    cmd = [args.bale, "serve", "--data", data, "--port", str(port), "--http-port", "0",
           "--threads", str(args.threads), "--durability", durability,
           *shlex.split(args.bale_args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        r = memcaslap(port, args, cfg)
        if proc.poll() is not None:
            raise RuntimeError(f"bale ({durability}) exited with status {proc.returncode}")
        r["server"] = cmd
        return r
    finally:
        terminate(proc)
        shutil.rmtree(data, ignore_errors=True)


def redis_benchmark(port, n, threads):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set", "-c", "64",
           "-d", str(VALUE), "-r", "1000000", "-n", str(n), "--csv"]
    if threads > 1:
        cmd += ["--threads", str(threads)]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
    elapsed = time.time() - t0
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] == "SET"]
    if not rows:
        raise RuntimeError(f"redis-benchmark printed no SET row:\n{out}")
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
    # "p99_latency_ms","max_latency_ms"
    r = rows[-1]
    return {"tps": int(float(r[1])), "avg_us": int(float(r[2]) * 1000),
            "p99_us": int(float(r[6]) * 1000), "client": cmd, "elapsed": elapsed}


def run_redis(args, appendfsync, n):
    port = free_port()
    data = scratch_dir("redis-durable-")
    aof = ["--appendonly", "yes", "--appendfsync", appendfsync] if appendfsync else \
          ["--appendonly", "no"]
    cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", data,
           "--save", "", "--daemonize", "no", "--protected-mode", "no", *aof]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        r = redis_benchmark(port, n, args.redis_threads)
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server ({appendfsync}) exited with status "
                               f"{proc.returncode}")
        r["server"] = cmd
        return r
    finally:
        terminate(proc)
        shutil.rmtree(data, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--time", default="10s", help="length of each run (memcaslap's -t)")
    p.add_argument("--threads", type=int, default=2, help="bale serve --threads")
    p.add_argument("--bale-args", default="", help="more `bale serve` options")
    p.add_argument("--redis-requests", type=int, default=500000,
                   help="redis-benchmark -n in the first round (later: rate x --time)")
    p.add_argument("--redis-threads", type=int, default=1,
                   help="redis-benchmark --threads (default 1, as the issue ran it)")
    p.add_argument("--bale", default=os.path.join(ROOT, "build", "bale"),
                   help="the bale executable (default: build/bale, built if missing)")
    args = p.parse_args()
    args.bale = os.path.abspath(args.bale)
    if not os.path.exists(args.bale):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    for tool in ("memcaslap", "redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: scripts/bootstrap installs it")
    secs = seconds(args.time)
    fd, cfg = tempfile.mkstemp(suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(f"key\n16 16 1\nvalue\n{VALUE} {VALUE} 1\ncmd\n0 1.0\n1 0.0\n")
    n = {"always": args.redis_requests, None: args.redis_requests}
    runs = {
        "bale sync": lambda: run_bale(args, cfg, "sync"),
        "bale none": lambda: run_bale(args, cfg, "none"),
        "redis always": lambda: run_redis(args, "always", n["always"]),
        "redis no": lambda: run_redis(args, None, n[None]),
    }
    order = ["bale sync", "redis always", "bale none", "redis no"]
    rows = []
    load_before = os.getloadavg()[0]
    try:
        for r in range(args.rounds):
            res = {}
            for name in (order if r % 2 == 0 else order[::-1]):
                res[name] = runs[name]()
                print(f"round {r + 1}: {name} {res[name]['tps']} sets/s", file=sys.stderr)
            n["always"] = max(10000, res["redis always"]["tps"] * secs)
            n[None] = max(10000, res["redis no"]["tps"] * secs)
            rows.append(res)
    except Exception as e:  # a server or client failed: say which, exit non-zero
        print(f"durable_sets: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        os.unlink(cfg)

    def med(name, key="tps"):
        v = [r[name][key] for r in rows if r[name][key] is not None]
        return statistics.median(v) if v else None

    first = rows[0]
    print(f"### Durable sets: bale sync against Redis appendfsync always, "
          f"{VALUE}-byte values, 64 connections\n")
    print(f"`{sys.argv[0]} {shlex.join(sys.argv[1:])}` on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}, {time.strftime('%H:%M')}; 1-minute load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (fdatasync's cost, and so "
          "both durable figures, move with what else uses the disk)\n")
    sub = lambda c, k, v: [v if x == k else x for x in c]
    print("bale: `" + shlex.join(sub(sub(first['bale sync']['server'], first['bale sync']['server'][3], 'DIR'),
                                     first['bale sync']['server'][5], 'PORT')[1:]) + "`, client `" +
          shlex.join(sub(first['bale sync']['client'], first['bale sync']['client'][2],
                         '127.0.0.1:PORT')[:-2] + ['-F', 'SET_ONLY.cfg']) + "`\n")
    rs = first["redis always"]["server"]
    print("redis: `" + shlex.join(sub(sub(rs, rs[4], "PORT"), rs[6], "DIR")) + "`, client `" +
          shlex.join(sub(first["redis always"]["client"], first["redis always"]["client"][4],
                         "PORT")) + "` (-n: as many as the previous round did in "
          f"{args.time}); the ceilings run the same with `--durability none` and "
          "`--appendonly no`\n")
    print("| round | bale sync | bale none | sync/none | redis always | redis no | always/no "
          "| **bale sync / redis always** | bale sync avg µs | redis always avg µs "
          "| redis always p99 µs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for i, r in enumerate(rows):
        bs, bn = r["bale sync"], r["bale none"]
        ra, rn = r["redis always"], r["redis no"]
        ratios.append(bs["tps"] / ra["tps"])
        print(f"| {i + 1} | {bs['tps']} | {bn['tps']} | {bs['tps'] / bn['tps']:.2f} | "
              f"{ra['tps']} | {rn['tps']} | {ra['tps'] / rn['tps']:.2f} | "
              f"{ratios[-1]:.2f} | {bs['avg_us']} | {ra['avg_us']} | {ra['p99_us']} |")
    print(f"| median | {med('bale sync'):.0f} | {med('bale none'):.0f} | "
          f"{statistics.median(r['bale sync']['tps'] / r['bale none']['tps'] for r in rows):.2f} | "
          f"{med('redis always'):.0f} | {med('redis no'):.0f} | "
          f"{statistics.median(r['redis always']['tps'] / r['redis no']['tps'] for r in rows):.2f} | "
          f"**{statistics.median(ratios):.2f}** | {med('bale sync', 'avg_us')} | "
          f"{med('redis always', 'avg_us')} | {med('redis always', 'p99_us')} |\n")
    print("Figures are sets per second. The bold figure is the median of the per-round ratios "
          "(goal of #16: >= 1.0); sync/none and always/no show how far each durable server is "
          "from what its own client reaches against the same server without durability. "
          "memcaslap reports no percentiles, so p99 is Redis's only.\n")


if __name__ == "__main__":
    main()
