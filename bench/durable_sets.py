#!/usr/bin/env python3
"""Durable sets: `bale serve --durability sync` against Redis `--appendfsync always` (#16).

Set-only load, 100-byte values, 64 connections on loopback. Every run has a fresh server
on a free port. Two phases:

1. Ceilings. Each round runs four servers:

  bale sync      bale serve --durability sync,   driven by memcaslap (-T 2 -c 64 -X 100)
  bale none      bale serve --durability none,   same client: memcaslap's ceiling here
  redis always   redis-server --appendonly yes --appendfsync always,
                 driven by redis-benchmark -t set -c 64 -d 100 -r 1000000 -n N
  redis no       redis-server --appendonly no,   same client: redis-benchmark's ceiling

   Prints a markdown table per round and the medians: bale sync / redis always (the goal
   of #16 is >= 1.0), and each durable server against the non-durable one driven by the
   same client, so the clients' own costs are visible. redis-benchmark has no duration
   option: the first round asks each Redis for --redis-requests sets, later rounds for as
   many as the previous round did in --time.

2. Latency at half of Redis's rate (unless --half-rate-time 0). R is the median of
   `redis always` above. Each round runs `bale bench load` (one client for both:
   --connections 64 --threads 2 --mix set:1 --value-size 100 --keys 1000000, 1 s of
   warmup, --json) open loop at R/2 against a fresh bale sync (memcached text protocol)
   and a fresh Redis always (--protocol redis), then, unless --no-load-ceiling, flat out
   (--rate 0) against each, the same client's ceiling. Prints each run's achieved rate,
   p50, p99, p999 (µs, counted from each request's scheduled send in open loop) and
   errors, the p99 ratio bale sync / redis always, and redis-benchmark's own p99 from
   phase 1 beside `bale bench load`'s at the ceiling. Errors, a failed exit, over 1% of
   sends late (the client lagging) and an achieved rate under 95% of the asked one are
   listed below the tables, never dropped.

The order of the runs is reversed every other round (ABBA) in both phases, so a drift of
the machine's speed does not favour whichever server goes later. The exact commands run
go to stderr as they start; stdout has the markdown.

  bench/durable_sets.py [--rounds 3] [--time 10s] [--half-rate-time 10s]
                        [--no-load-ceiling] [--bale PATH] [--threads 2]
                        [--bale-args "..."] [--redis-requests 500000] [--redis-threads 1]

Exits non-zero if a server fails to start or exits, or a client's output cannot be read.
"""
import argparse, contextlib, csv, io, json, os, re, shlex, shutil, statistics, subprocess
import sys, tempfile, time

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUE = 100
KEYS = 1000000  # redis-benchmark -r 1000000: bale bench load's key space for both servers


def seconds(spec, flag="--time"):
    m = re.fullmatch(r"(\d+)([smh]?)", spec)
    if not m:
        raise SystemExit(f"{flag}: {spec!r} is not N, Ns, Nm or Nh")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def scratch_dir(prefix):
    base = os.path.join(ROOT, "build")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def log(line):
    print(line, file=sys.stderr, flush=True)


def memcaslap(port, args, cfg):
    cmd = ["memcaslap", "-s", f"127.0.0.1:{port}", "-T", "2", "-c", "64", "-t", args.time,
           "-X", str(VALUE), "-S", args.time, "-F", cfg]
    log(f"  $ {shlex.join(cmd)}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"TPS: (\d+)", out)
    if not m:
        raise RuntimeError(f"memcaslap printed no TPS:\n{out}")
    total = out[out.rfind("Total Statistics"):]
    avg = re.search(r"Avg:\s+(\d+)", total)
    return {"tps": int(m.group(1)), "avg_us": int(avg.group(1)) if avg else None,
            "p99_us": None, "client": cmd}


@contextlib.contextmanager
def serving(cmd, port, name, data):
    """Runs the server `cmd` until the block ends; raises if it exits meanwhile."""
    log(f"  $ {shlex.join(cmd)}")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        yield
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}")
    finally:
        terminate(proc)
        shutil.rmtree(data, ignore_errors=True)


def bale_server(args, durability):
    """(port, command, context manager) of a fresh `bale serve --durability DURABILITY`."""
    port = free_port()
    data = scratch_dir("bale-durable-")
    cmd = [args.bale, "serve", "--data", data, "--port", str(port), "--http-port", "0",
           "--threads", str(args.threads), "--durability", durability,
           *shlex.split(args.bale_args)]
    return port, cmd, serving(cmd, port, f"bale ({durability})", data)


def redis_server(appendfsync):
    """(port, command, context manager) of a fresh redis-server; appendfsync None: no AOF."""
    port = free_port()
    data = scratch_dir("redis-durable-")
    aof = ["--appendonly", "yes", "--appendfsync", appendfsync] if appendfsync else \
          ["--appendonly", "no"]
    cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", data,
           "--save", "", "--daemonize", "no", "--protected-mode", "no", *aof]
    return port, cmd, serving(cmd, port, f"redis-server ({appendfsync})", data)


def run_bale(args, cfg, durability):
    port, cmd, server = bale_server(args, durability)
    with server:
        r = memcaslap(port, args, cfg)
    r["server"] = cmd
    return r


def redis_benchmark(port, n, threads):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set", "-c", "64",
           "-d", str(VALUE), "-r", "1000000", "-n", str(n), "--csv"]
    if threads > 1:
        cmd += ["--threads", str(threads)]
    log(f"  $ {shlex.join(cmd)}")
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
    port, cmd, server = redis_server(appendfsync)
    with server:
        r = redis_benchmark(port, n, args.redis_threads)
    r["server"] = cmd
    return r


def bench_load(args, port, protocol, rate):
    """`bale bench load`, set-only, at `rate` (0: flat out): its figures from --json."""
    cmd = [args.bale, "bench", "load", "--servers", f"127.0.0.1:{port}", "--protocol",
           protocol, "--connections", "64", "--threads", "2", "--mix", "set:1",
           "--value-size", str(VALUE), "--keys", str(KEYS), "--rate", f"{rate:.0f}",
           "--duration", args.half_rate_time, "--warmup", "1s", "--json"]
    log(f"  $ {shlex.join(cmd)}")
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=seconds(args.half_rate_time) + 300)
    if p.returncode not in (0, 1):  # 1: verify or protocol errors, shown with the figures
        raise RuntimeError(f"bale bench load exited {p.returncode}:\n{p.stderr[-2000:]}")
    j = json.loads(p.stdout)
    lat = j["latency_us"]["set"]
    return {"rate": rate, "tps": j["throughput"], "p50_us": lat["p50"], "p99_us": lat["p99"],
            "p999_us": lat["p999"], "errors": j["errors"], "exit": p.returncode,
            "late_sends": j["client"]["late_sends"], "lag_p99_us": j["client"]["lag_us"]["p99"],
            "requests": j["requests"],
            "client": cmd}


def run_load(args, name, rate):
    """`bale bench load` against a fresh `bale sync` or `redis always`."""
    if name == "bale sync":
        port, cmd, server = bale_server(args, "sync")
        protocol = "text"
    else:
        port, cmd, server = redis_server("always")
        protocol = "redis"
    with server:
        r = bench_load(args, port, protocol, rate)
    r["server"] = cmd
    return r


def ceiling_rounds(args, cfg, secs):
    n = {"always": args.redis_requests, None: args.redis_requests}
    runs = {
        "bale sync": lambda: run_bale(args, cfg, "sync"),
        "bale none": lambda: run_bale(args, cfg, "none"),
        "redis always": lambda: run_redis(args, "always", n["always"]),
        "redis no": lambda: run_redis(args, None, n[None]),
    }
    order = ["bale sync", "redis always", "bale none", "redis no"]
    rows = []
    for r in range(args.rounds):
        res = {}
        for name in (order if r % 2 == 0 else order[::-1]):
            log(f"round {r + 1}: {name}")
            res[name] = runs[name]()
            log(f"round {r + 1}: {name} {res[name]['tps']} sets/s")
        n["always"] = max(10000, res["redis always"]["tps"] * secs)
        n[None] = max(10000, res["redis no"]["tps"] * secs)
        rows.append(res)
    return rows


def half_rate_rounds(args, rate):
    """Per round: {(server, asked rate): bench_load figures}, ABBA over the runs."""
    order = [("bale sync", rate), ("redis always", rate)]
    if not args.no_load_ceiling:
        order += [("bale sync", 0), ("redis always", 0)]
    rows = []
    for r in range(args.rounds):
        res = {}
        for name, at in (order if r % 2 == 0 else order[::-1]):
            what = f"{at:.0f}/s" if at else "flat out"
            log(f"half-rate round {r + 1}: {name} at {what}")
            res[(name, at)] = run_load(args, name, at)
            x = res[(name, at)]
            log(f"half-rate round {r + 1}: {name} at {what}: {x['tps']:.0f} sets/s, p99 "
                f"{x['p99_us']:.0f} µs, errors {x['errors']['total']}")
        rows.append(res)
    return rows


def print_ceilings(args, rows, load_before):
    def med(name, key="tps"):
        v = [r[name][key] for r in rows if r[name][key] is not None]
        return statistics.median(v) if v else None

    first = rows[0]
    print(f"### Durable sets: bale sync against Redis appendfsync always, "
          f"{VALUE}-byte values, 64 connections\n")
    print(f"`{sys.argv[0]} {shlex.join(sys.argv[1:])}` on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}, {time.strftime('%H:%M')}; 1-minute load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after the ceilings (fdatasync's "
          "cost, and so both durable figures, move with what else uses the disk)\n")
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
          "memcaslap reports no percentiles, so p99 is Redis's only (redis-benchmark's, at "
          "its ceiling).\n", flush=True)


def errors_text(e):
    kinds = [f"{k} {v}" for k, v in e.items() if k != "total" and v]
    return f"{e['total']}" + (f" ({', '.join(kinds)})" if kinds else "")


def problems(name, x):
    """What is wrong with one `bale bench load` run, as text (empty: nothing)."""
    out = []
    if x["exit"]:
        out.append(f"exit status {x['exit']}")
    if x["errors"]["total"]:
        out.append(f"errors {errors_text(x['errors'])}")
    if x["rate"] and x["late_sends"] > 0.01 * max(1, x["requests"]):
        out.append(f"{x['late_sends']} late sends of {x['requests']} (the client itself lagged, "
                   f"send lag p99 {x['lag_p99_us']:.0f} µs, which is in its latencies)")
    if x["rate"] and x["tps"] < 0.95 * x["rate"]:
        out.append(f"achieved {x['tps']:.0f} sets/s of the {x['rate']:.0f} asked "
                   f"({100 * x['tps'] / x['rate']:.0f}%)")
    what = f"at {x['rate']:.0f}/s" if x["rate"] else "flat out"
    return f"{name} {what}: " + "; ".join(out) if out else ""


def print_half_rate(args, rate, rows, ceilings):
    def med(name, at, key):
        return statistics.median(r[(name, at)][key] for r in rows)

    names = ["bale sync", "redis always"]
    c = rows[0][("redis always", rate)]["client"]
    template = shlex.join(["bale", *c[1:4], "127.0.0.1:PORT", c[5], "P", *c[7:]])
    print(f"### p99 at half of Redis always's rate: {rate:.0f} sets/s (R/2, R the median "
          f"above)\n")
    print(f"One client for both, `{template}`, against a fresh `bale serve --durability sync` "
          "(P: text) and a fresh `redis-server --appendonly yes --appendfsync always` (P: redis), "
          "each as above, in ABBA order. Open loop: latencies in µs count from each request's "
          "scheduled send; the 1 s warmup is not counted.\n")
    print("| round | server | asked sets/s | achieved sets/s | p50 µs | p99 µs | p999 µs "
          "| errors | late sends |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows):
        for n in names:
            x = r[(n, rate)]
            print(f"| {i + 1} | {n} | {rate:.0f} | {x['tps']:.0f} | {x['p50_us']:.0f} | "
                  f"{x['p99_us']:.0f} | {x['p999_us']:.0f} | {errors_text(x['errors'])} | "
                  f"{x['late_sends']} |")
    for n in names:
        print(f"| median | {n} | {rate:.0f} | {med(n, rate, 'tps'):.0f} | "
              f"{med(n, rate, 'p50_us'):.0f} | {med(n, rate, 'p99_us'):.0f} | "
              f"{med(n, rate, 'p999_us'):.0f} | | |")
    ratios = [r[("bale sync", rate)]["p99_us"] / r[("redis always", rate)]["p99_us"]
              for r in rows]
    print(f"\np99 bale sync / redis always at {rate:.0f} sets/s, per round: "
          f"{', '.join(f'{x:.2f}' for x in ratios)}; **median {statistics.median(ratios):.2f}** "
          "(under 1: bale's p99 is lower)\n")
    print("p99 at the ceiling, µs: redis-benchmark's own (its --csv p99_latency_ms, the runs "
          "of the first table)" + ("" if args.no_load_ceiling else
                                   " and the same `bale bench load` flat out (`--rate 0`)") +
          ":\n")
    head = "| round | redis-benchmark: redis always sets/s | p99 | redis no p99 |"
    if not args.no_load_ceiling:
        head += (" bale bench load: bale sync sets/s | p99 | redis always sets/s | p99 "
                 "| bale sync / redis always sets/s |")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for i, (r, cr) in enumerate(zip(rows, ceilings)):
        line = (f"| {i + 1} | {cr['redis always']['tps']} | {cr['redis always']['p99_us']} | "
                f"{cr['redis no']['p99_us']} |")
        if not args.no_load_ceiling:
            b, a = r[("bale sync", 0)], r[("redis always", 0)]
            line += (f" {b['tps']:.0f} | {b['p99_us']:.0f} | {a['tps']:.0f} | "
                     f"{a['p99_us']:.0f} | {b['tps'] / a['tps']:.2f} |")
        print(line)
    print()
    found = [f"- round {i + 1}: {t}" for i, r in enumerate(rows) for (n, _), x in r.items()
             if (t := problems(n, x))]
    if found:
        print("**Runs to read with care** (errors, a failed exit, over 1% of sends late, or "
              "under 95% of the asked rate):\n")
        print("\n".join(found) + "\n")
    else:
        print("Every `bale bench load` run: no errors, exit 0, and open loop within 5% of the "
              "asked rate with at most 1% of sends late.\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--time", default="10s", help="length of each run (memcaslap's -t)")
    p.add_argument("--half-rate-time", default="10s",
                   help="length of each `bale bench load` run after the ceilings (0: none)")
    p.add_argument("--no-load-ceiling", action="store_true",
                   help="no `bale bench load` flat-out runs after the half-rate ones")
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
    half_secs = seconds(args.half_rate_time, "--half-rate-time")
    fd, cfg = tempfile.mkstemp(suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(f"key\n16 16 1\nvalue\n{VALUE} {VALUE} 1\ncmd\n0 1.0\n1 0.0\n")
    load_before = os.getloadavg()[0]
    try:
        rows = ceiling_rounds(args, cfg, secs)
    except Exception as e:  # a server or client failed: say which, exit non-zero
        print(f"durable_sets: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        os.unlink(cfg)
    print_ceilings(args, rows, load_before)
    if half_secs == 0:
        return
    rate = statistics.median(r["redis always"]["tps"] for r in rows) / 2
    if rate < 1:
        raise SystemExit(f"durable_sets: half of Redis always's rate is {rate}: nothing to run")
    try:
        half = half_rate_rounds(args, rate)
    except Exception as e:
        print(f"durable_sets: half-rate phase: {e}", file=sys.stderr)
        sys.exit(1)
    print_half_rate(args, rate, half, rows)
    print(f"1-minute load average {os.getloadavg()[0]:.1f} at the end.")


if __name__ == "__main__":
    main()
