#!/usr/bin/env bash
# Compares bale's engine with the one-file-per-object baseline on the same disk.
#
# Usage: bench/run_engine.sh [--objects N] [--value-size S] [--rounds R] [--durability MODE]
#                            [--dir DIR] [--baseline-objects M]
#
# Each round runs `bale bench engine` (N objects) then `bale bench files` (M objects), and
# the end prints a markdown table for bench/RESULTS.md: every figure per round and its
# median, and the engine/files ratios of the medians of put_per_s and get_per_s. The table
# goes to stdout; progress, `df` and errors go to stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
objects=10000000
value_size=100
rounds=3
durability=interval
dir="$root/build/bench-data"
baseline_objects=""
invocation="bench/run_engine.sh${*:+ $*}"

usage() {
  sed -n '4,5p' "$0" | sed 's/^# //' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --objects) objects=$2 ;;
    --value-size) value_size=$2 ;;
    --rounds) rounds=$2 ;;
    --durability) durability=$2 ;;
    --dir) dir=$2 ;;
    --baseline-objects) baseline_objects=$2 ;;
    *) usage ;;
  esac
  shift 2
done
baseline_objects=${baseline_objects:-$objects}

for v in "$objects" "$value_size" "$rounds" "$baseline_objects"; do
  [[ "$v" =~ ^[1-9][0-9]{0,11}$ ]] || { echo "run_engine: not a positive count: $v" >&2; exit 2; }
done
case "$durability" in sync | interval | none) ;; *) usage ;; esac
command -v python3 >/dev/null || { echo "run_engine: python3 is required" >&2; exit 1; }

dir=$(realpath -m "$dir")
cd "$root"
if [ ! -x build/bale ]; then
  echo "run_engine: build/bale missing, building it" >&2
  if [ -f Makefile ]; then
    make build >&2
  else
    cmake -S . -B build -G Ninja >&2 && ninja -C build bale >&2
  fi
fi

# Space: each baseline file takes a 4 KiB block plus its inode and directory entry; the
# engine needs the needles (value + ~80 bytes of header, key and footer) twice over for
# slack. Leftovers of an earlier run are removed first so they do not count against us.
mkdir -p "$dir"
for side in engine files; do
  if [ -e "$dir/$side" ]; then
    echo "run_engine: removing leftover $dir/$side" >&2
    rm -rf "${dir:?}/$side"
  fi
done
df -h "$dir" >&2
need=$((baseline_objects * 4200 + objects * (value_size + 80) * 2))
avail=$(df -B1 --output=avail "$dir" | tail -n 1 | tr -d ' ')
if [ "$avail" -lt "$need" ]; then
  echo "run_engine: $dir has $avail bytes free, the run needs about $need; aborting" >&2
  exit 1
fi
# The baseline also needs an inode per object and per directory (256 x 256 + 256); file
# systems that report no inode count (0 or "-") are not checked.
need_inodes=$((baseline_objects + 65792 + 1000))
free_inodes=$(df --output=iavail "$dir" | tail -n 1 | tr -d ' ')
if [[ "$free_inodes" =~ ^[1-9][0-9]*$ ]] && [ "$free_inodes" -lt "$need_inodes" ]; then
  echo "run_engine: $dir has $free_inodes free inodes, the baseline needs $need_inodes" >&2
  exit 1
fi

engine_cmd=(build/bale bench engine --objects "$objects" --value-size "$value_size"
  --dir "$dir/engine" --durability "$durability")
files_cmd=(build/bale bench files --objects "$baseline_objects" --value-size "$value_size"
  --dir "$dir/files" --durability "$durability")
# quote CMD...: the command as one shell-quoted line.
quote() {
  local q
  printf -v q '%q ' "$@"
  echo "${q% }"
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# run_one SIDE ROUND CMD...: runs CMD, keeping its name=value lines in $out/SIDE.ROUND.
run_one() {
  local side=$1 round=$2 start=$SECONDS
  shift 2
  echo "run_engine: round $round/$rounds: $(quote "$@")" >&2
  if ! "$@" >"$out/$side.$round"; then
    echo "run_engine: $side failed in round $round" >&2
    exit 1
  fi
  echo "run_engine: round $round/$rounds: $side done in $((SECONDS - start)) s" >&2
}

for ((r = 1; r <= rounds; r++)); do
  run_one engine "$r" "${engine_cmd[@]}"
  run_one files "$r" "${files_cmd[@]}"
done

python3 - "$out" "$rounds" "$invocation" "$(quote "${engine_cmd[@]}")" \
  "$(quote "${files_cmd[@]}")" <<'EOF'
import datetime, os, platform, statistics, sys

out, rounds = sys.argv[1], int(sys.argv[2])
invocation, engine_cmd, files_cmd = sys.argv[3:6]

def load(side):
    """Returns {figure: [value per round]}, figures in the order the bench printed them."""
    figures = {}
    for r in range(1, rounds + 1):
        with open(os.path.join(out, f"{side}.{r}")) as f:
            for line in f:
                name, sep, value = line.strip().partition("=")
                if sep:
                    figures.setdefault(name, []).append(float(value))
    return figures

def fmt(v):
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"

sides = {"engine": load("engine"), "files": load("files")}
print(f"### Engine vs one file per object ({datetime.date.today()}, "
      f"{os.cpu_count()} cores, Linux {platform.release()})")
print()
print(f"`{invocation}` ran {rounds} rounds of, in this order:")
print()
print(f"    {engine_cmd}")
print(f"    {files_cmd}")
print()
heads = " | ".join(f"round {r}" for r in range(1, rounds + 1))
print(f"| bench | figure | {heads} | median |")
print("|---|---|" + "---:|" * (rounds + 1))
for side, figures in sides.items():
    for name, values in figures.items():
        cells = " | ".join(fmt(v) for v in values)
        print(f"| {side} | {name} | {cells} | {fmt(statistics.median(values))} |")
print()
print("| ratio engine/files (ratio of the medians) | value |")
print("|---|---:|")
for name in ("put_per_s", "get_per_s"):
    e, f = sides["engine"].get(name), sides["files"].get(name)
    ratio = f"{statistics.median(e) / statistics.median(f):.2f}x" if e and f else "n/a"
    print(f"| {name} | {ratio} |")
EOF
