#!/usr/bin/env python3
"""What one durable round costs on this disk: fdatasync of 1 file against N files (#16).

A "round" appends RECORDS 100-byte records (as one event-loop round of bale appends the
sets it read) and then makes them durable. Layouts:

  1 file              all records to one file, one fdatasync      (a per-node journal; Redis's AOF)
  N files parallel    records spread over N files, N fdatasyncs at once from a pool of
                      --pool threads                                (bale's SyncPool today)
  N files serial      the same N fdatasyncs one after another
  N files, 1 journal  N files written without sync + 1 journal file fdatasync'ed
                      (a journal flushed per round, segments written lazily)

Files are appended to (they grow, as bale's head segments do: no preallocation) or, with
--prealloc, overwritten inside preallocated space (fdatasync then has no size to commit).
Prints median and p99 round time and rounds/s per layout, as markdown.

  bench/fsync_probe.py [--rounds 300] [--records 64] [--files 1,8,64] [--pool 16]
                       [--dir build] [--prealloc]
"""
import argparse, os, shutil, statistics, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REC = b"x" * 99 + b"\n"


def open_files(d, n, prealloc, size):
    fds = []
    for i in range(n):
        fd = os.open(os.path.join(d, f"f{i:05d}"), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        if prealloc:
            os.posix_fallocate(fd, 0, size)
            os.fsync(fd)
        fds.append(fd)
    return fds


def measure(name, fds, records, rounds, pool, mode, journal=None):
    """mode: 'parallel', 'serial' (sync every data file) or 'journal' (sync journal only)."""
    offs = [0] * len(fds)
    joff = 0
    times = []
    for r in range(rounds):
        t0 = time.perf_counter()
        written = set()
        for k in range(records):
            i = (r * records + k) % len(fds)
            os.pwrite(fds[i], REC, offs[i])
            offs[i] += len(REC)
            written.add(i)
        if mode == "journal":
            os.pwrite(journal, REC * records, joff)
            joff += len(REC) * records
            os.fdatasync(journal)
        elif mode == "serial" or len(written) == 1:
            for i in written:
                os.fdatasync(fds[i])
        else:
            list(pool.map(os.fdatasync, [fds[i] for i in written]))
        times.append(time.perf_counter() - t0)
    times.sort()
    med = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    files = min(records, len(fds))
    return (name, files, med * 1e3, p99 * 1e3, 1 / med, records / med)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--records", type=int, default=64, help="100-byte records per round")
    p.add_argument("--files", default="1,8,64")
    p.add_argument("--pool", type=int, default=16, help="threads syncing in parallel "
                   "(bale's Store::kSyncThreads is 16)")
    p.add_argument("--dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--prealloc", action="store_true")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="fsync-probe-", dir=args.dir)
    size = args.rounds * args.records * len(REC) + 4096
    rows = []
    try:
        with ThreadPoolExecutor(args.pool) as pool:
            for n in (int(x) for x in args.files.split(",")):
                fds = open_files(d, n, args.prealloc, size)
                rows.append(measure(f"{n} file(s), parallel", fds, args.records, args.rounds,
                                    pool, "parallel"))
                if n > 1:
                    for fd in fds:
                        os.close(fd)
                    fds = open_files(d, n, args.prealloc, size)
                    rows.append(measure(f"{n} files, serial", fds, args.records, args.rounds,
                                        pool, "serial"))
                    for fd in fds:
                        os.close(fd)
                    fds = open_files(d, n, args.prealloc, size)
                    jfd = os.open(os.path.join(d, "journal"), os.O_CREAT | os.O_WRONLY | os.O_TRUNC,
                                  0o644)
                    if args.prealloc:
                        os.posix_fallocate(jfd, 0, size)
                        os.fsync(jfd)
                    rows.append(measure(f"{n} files unsynced + 1 journal", fds, args.records,
                                        args.rounds, pool, "journal", jfd))
                    os.close(jfd)
                for fd in fds:
                    os.close(fd)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"`{sys.argv[0]} {' '.join(sys.argv[1:])}`: {args.records} x 100-byte records per "
          f"round, {args.rounds} rounds, files {'preallocated' if args.prealloc else 'appended (growing)'}\n")
    print("| layout | files synced per round | median ms/round | p99 ms/round | rounds/s "
          "| records/s |")
    print("|---|---|---|---|---|---|")
    for name, files, med, p99, rps, recs in rows:
        synced = 1 if "journal" in name else files
        print(f"| {name} | {synced} | {med:.2f} | {p99:.2f} | {rps:.0f} | {recs:.0f} |")
    print()


if __name__ == "__main__":
    main()
