#!/usr/bin/env python3
"""A check of `bale bench load` itself (issue #15), against memcached 1.6.

1. Rate: open loop at rates well under memcached's limit, its achieved throughput (the
   answered requests over the time from the window's start to its last answer) must
   equal the asked rate within 1%.
2. Latency against memcaslap, same server, same connections, same threads (one), 16-byte
   keys, 100-byte values, 90% get / 10% set: memcaslap -c C against `bale bench load
   --rate 0 --pipeline 1 --connections C` for C = 1 and --connections, both with C
   requests in flight; mean latencies within 20%. Not at a fixed rate: memcaslap's --tps
   does not hold one (its ms_need_yield divides operations by microseconds in integers,
   0 below a million a second per connection, so it never yields); each round runs it
   once with --tps to show that, and that figure is only reported.

Rounds alternate the tools' order; the figures are medians over rounds. Prints a
markdown section for bench/RESULTS.md and exits 1 when a check fails.

  bench/load_check.py [--rounds 5] [--time 5] [--rates 5000,20000] [--connections 4]
                      [--bale PATH]
"""
import argparse, json, os, re, shlex, statistics, subprocess, sys, tempfile, time

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# memcaslap's workload: 16-byte keys, 100-byte values, 10% set (cmd 0), 90% get (cmd 1).
MEMCASLAP_CFG = "key\n16 16 1\nvalue\n100 100 1\ncmd\n0 0.1\n1 0.9\n"
KEY_PREFIX = "load-check:"  # with up to 5 digits: 12-16-byte keys
KEYS = 50000


def memcaslap(port, conns, seconds, cfg, tps=None):
    cmd = ["memcaslap", "-s", f"127.0.0.1:{port}", "-T", "1", "-c", str(conns),
           "-t", f"{seconds}s", "-S", f"{seconds}s", "-F", cfg]
    if tps:
        cmd += ["-P", f"{tps / 1000:g}k"]  # it refuses a rate without its k suffix
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout
    tps_got = int(re.search(r"TPS: (\d+)", out).group(1))
    total = out[out.rfind("Total Statistics"):]
    avg = int(re.search(r"Avg:\s+(\d+)", total).group(1))
    return {"tps": tps_got, "mean_us": float(avg)}, cmd


def load(bale, port, seconds, conns, rate, prefill=False):
    cmd = [bale, "bench", "load", "--servers", f"127.0.0.1:{port}", "--protocol", "text",
           "--threads", "1", "--connections", str(conns), "--rate", str(rate),
           "--duration", f"{seconds}s", "--keys", str(KEYS), "--key-prefix", KEY_PREFIX,
           "--value-size", "100", "--mix", "get:90,set:10", "--json"]
    if prefill:
        cmd.append("--prefill")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {p.returncode}: {p.stderr[-2000:]}")
    j = json.loads(p.stdout)
    if j["errors"]["total"] or j["misses"]:
        raise RuntimeError(f"{shlex.join(cmd)}: errors or misses: {p.stdout}")
    lat, client = j["latency_us"]["all"], j["client"]
    return {"tps": j["throughput"], "mean_us": lat["mean"], "p50_us": lat["p50"],
            "p99_us": lat["p99"], "late": client["late_sends"],
            "lag_p50_us": client["lag_us"]["p50"], "lag_p99_us": client["lag_us"]["p99"]}, cmd


def one_round(args, port, cfg, order):
    """One round: every measurement once, the two tools in `order`."""
    r = {}
    for rate in args.rates:
        r[f"rate {rate}"] = load(args.bale, port, args.time, args.connections, rate)[0]
    for conns in (1, args.connections):
        for tool in order:
            if tool == "memcaslap":
                r[f"memcaslap c{conns}"] = memcaslap(port, conns, args.time, cfg)[0]
            else:
                r[f"bale c{conns}"] = load(args.bale, port, args.time, conns, 0)[0]
    r["memcaslap tps"] = memcaslap(port, args.connections, 3, cfg, tps=args.rates[0])[0]
    return r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--time", type=int, default=5, help="seconds per measurement")
    p.add_argument("--rates", default="5000,20000")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--bale", default=os.path.join(ROOT, "build", "bale"))
    args = p.parse_args()
    args.rates = [int(x) for x in args.rates.split(",")]
    args.bale = os.path.abspath(args.bale)
    fd, cfg = tempfile.mkstemp(suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(MEMCASLAP_CFG)
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    mc = subprocess.Popen(["memcached", *user, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                           "-t", "1", "-m", "1024"])
    rounds = []
    load_before = os.getloadavg()[0]
    try:
        wait_port(port, mc)
        load(args.bale, port, 1, args.connections, 0, prefill=True)  # every key once
        for i in range(args.rounds):
            order = ["memcaslap", "bale"] if i % 2 == 0 else ["bale", "memcaslap"]
            rounds.append(one_round(args, port, cfg, order))
            print(f"round {i + 1}: " + json.dumps(rounds[-1]), file=sys.stderr)
    finally:
        terminate(mc)
        os.unlink(cfg)
    report(args, rounds, (load_before, os.getloadavg()[0]))


def median(rounds, key, field):
    return statistics.median(r[key][field] for r in rounds)


def report(args, rounds, loadavg):
    ok = True
    n = len(rounds)
    print("## bale bench load (issue #15)\n")
    print(f"`bench/{os.path.basename(sys.argv[0])} {' '.join(sys.argv[1:])}` on "
          f"{os.cpu_count()} cores (load average {loadavg[0]:.1f} before, {loadavg[1]:.1f} "
          f"after), {time.strftime('%Y-%m-%d')}: memcached "
          f"`-t 1 -m 1024 -U 0`, one client thread, {args.time} s a measurement, 16-byte "
          f"keys, 100-byte values, 90% get / 10% set, medians of {n} rounds (the tools' "
          "order alternating).\n")
    print("### Open loop: achieved throughput against the asked rate (goal: within 1%)\n")
    print(f"    build/bale bench load --servers 127.0.0.1:PORT --threads 1 --connections "
          f"{args.connections} --rate R --duration {args.time}s --keys {KEYS} "
          f"--key-prefix {KEY_PREFIX} --value-size 100 --mix get:90,set:10 --json\n")
    print("| rate asked | achieved (median) | rounds | off by | mean µs | p50 µs | p99 µs "
          "| client lag p50 / p99 µs | late sends |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for rate in args.rates:
        key = f"rate {rate}"
        got = median(rounds, key, "tps")
        off = abs(got - rate) / rate
        ok = ok and off <= 0.01
        each = ", ".join(f"{r[key]['tps']:.0f}" for r in rounds)
        med = {f: median(rounds, key, f) for f in rounds[0][key]}
        print(f"| {rate} | {got:.1f} | {each} | {off * 100:.2f}% | {med['mean_us']:.1f} | "
              f"{med['p50_us']:.1f} | {med['p99_us']:.1f} | {med['lag_p50_us']:.1f} / "
              f"{med['lag_p99_us']:.1f} | {med['late']:.0f} |")
    print("\n### Mean latency against memcaslap (goal: within 20%)\n")
    print(f"    memcaslap -s 127.0.0.1:PORT -T 1 -c C -t {args.time}s -S {args.time}s -F CFG")
    print("    # CFG: key 16 16 1 / value 100 100 1 / cmd 0 0.1, 1 0.9")
    print(f"    build/bale bench load ... --threads 1 --connections C --rate 0 --pipeline 1\n")
    print("| connections, both flat out | memcaslap mean µs (TPS) | bale bench load mean µs "
          "(TPS) | bale load / memcaslap |")
    print("|---|---:|---:|---:|")
    for name, what in (("c1", "1"), (f"c{args.connections}", str(args.connections))):
        m = median(rounds, f"memcaslap {name}", "mean_us")
        b = median(rounds, f"bale {name}", "mean_us")
        ratio = b / m
        ok = ok and abs(ratio - 1) <= 0.2
        print(f"| {what} | {m:.1f} ({median(rounds, f'memcaslap {name}', 'tps'):.0f}) | "
              f"{b:.1f} ({median(rounds, f'bale {name}', 'tps'):.0f}) | **{ratio:.2f}** |")
    print(f"\nmemcaslap `-c {args.connections} -P {args.rates[0] / 1000:g}k` (its --tps) ran at "
          f"{median(rounds, 'memcaslap tps', 'tps'):.0f} TPS (median): it does not hold a "
          "rate, so a fixed-rate comparison with it is not possible.\n")
    print(f"check: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
