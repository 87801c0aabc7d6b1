#!/usr/bin/env python3
"""Two builds of bale measured alternately with the same benchmark: new/old per round.

Runs an existing benchmark script once per build per round, one round at a time
(`--rounds 1` each), old then new in odd rounds and new then old in even ones (ABBA),
so that a drift of the machine's speed favours neither. Each run also measures its peer
(memcached or nginx) right beside bale, which shows how noisy the machine was. Prints a
markdown table for bench/RESULTS.md: per round each build's figure and the peer's, the
ratio new/old, and the median of those ratios.

  bench/compare_builds.py --old OLD_BALE --new NEW_BALE [--rounds 4] memcached [ARGS...]
  bench/compare_builds.py --old OLD_BALE --new NEW_BALE [--rounds 4] http-get [ARGS...]
  bench/compare_builds.py --old OLD_BALE --new NEW_BALE [--rounds 4] http-put [ARGS...]
  bench/compare_builds.py --old OLD_BALE --new NEW_BALE [--rounds 4] http-batch [ARGS...]

memcached:  bench/run_memcached.py ARGS (its median row: memcached TPS, bale TPS).
http-get:   bench/run_http.py --skip upload --no-files ARGS (nginx req/s, bale req/s).
http-put:   bench/run_http.py --skip get --no-files ARGS (nginx PUT/s, bale PUT/s).
http-batch: the same run (nginx PUT/s, bale POST /batch objects/s).
"""
import argparse, os, re, shlex, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
# kind: the script and its arguments, the unit, and the median row's columns (from 0,
# after "median") of the peer's figure and bale's.
SCRIPTS = {
    "memcached": (["run_memcached.py"], "TPS", (0, 1)),
    "http-get": (["run_http.py", "--skip", "upload", "--no-files"], "req/s", (0, 1)),
    "http-put": (["run_http.py", "--skip", "get", "--no-files"], "PUT/s", (0, 1)),
    "http-batch": (["run_http.py", "--skip", "get", "--no-files"], "objects/s", (0, 3)),
}
MEDIAN_ROW = re.compile(r"^\| median \|(.*)\|\s*$", re.M)


def run_once(kind, bale, extra):
    script, _, (peer_col, bale_col) = SCRIPTS[kind]
    cmd = [sys.executable, os.path.join(HERE, script[0]), *script[1:], "--rounds", "1",
           "--bale", bale, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    m = MEDIAN_ROW.search(out.stdout)
    if out.returncode != 0 or not m:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"{shlex.join(cmd)} failed (exit {out.returncode})")
    cells = [c.strip().strip("*") for c in m.group(1).split("|")]
    peer, figure = (float(cells[i].replace(",", "")) for i in (peer_col, bale_col))
    return figure, peer, cmd


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True)
    p.add_argument("--new", required=True)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("kind", choices=sorted(SCRIPTS))
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark script")
    a = p.parse_args()
    builds = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    rows, cmd = [], None
    for r in range(a.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        row = {}
        for name in order:
            row[name] = run_once(a.kind, builds[name], a.args)
            cmd = row[name][2]
            print(f"round {r + 1}: {name} {row[name][0]:,.0f} (peer {row[name][1]:,.0f})",
                  file=sys.stderr, flush=True)
        rows.append(row)
    unit = SCRIPTS[a.kind][1]
    peer = "memcached" if a.kind == "memcached" else "nginx"
    ratios = [row["new"][0] / row["old"][0] for row in rows]
    shown = ["BUILD" if x in builds.values() else x for x in cmd[2:]]
    print(f"### {a.kind}: new build / old build\n")
    print(f"`{os.path.relpath(sys.argv[0])} --old OLD --new NEW --rounds {a.rounds} {a.kind} "
          f"{shlex.join(a.args)}` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"each run is `{shlex.join(['bench/' + os.path.basename(cmd[1]), *shown])}`.\n")
    print(f"| round | order | old {unit} | new {unit} | new/old | {peer} beside old | "
          f"{peer} beside new |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for i, row in enumerate(rows):
        order = "old, new" if i % 2 == 0 else "new, old"
        print(f"| {i + 1} | {order} | {row['old'][0]:,.0f} | {row['new'][0]:,.0f} | "
              f"{ratios[i]:.3f} | {row['old'][1]:,.0f} | {row['new'][1]:,.0f} |")
    med = lambda k, j: statistics.median(row[k][j] for row in rows)
    print(f"| median | | {med('old', 0):,.0f} | {med('new', 0):,.0f} | "
          f"**{statistics.median(ratios):.3f}** | {med('old', 1):,.0f} | {med('new', 1):,.0f} |\n")


if __name__ == "__main__":
    main()
