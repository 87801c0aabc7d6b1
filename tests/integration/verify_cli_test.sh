#!/usr/bin/env bash
# `bale verify` on a volume written by the real executable: clean data exits 0; a
# flipped byte is reported with its segment and offset and exits 1.
set -euo pipefail
bale=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$bale" bench engine --objects 20000 --value-size 100 --dir "$dir/vol" --durability none --keep \
  > "$dir/bench.out"
grep -q '^put_per_s=' "$dir/bench.out"
grep -q '^rss_bytes_per_object=' "$dir/bench.out"

"$bale" verify --data "$dir" > "$dir/ok.out"
grep -q 'needles=20000 .*problems=0' "$dir/ok.out"

seg=$(ls "$dir"/vol/seg-*.dat | head -n 1)
# Flip one byte inside the 100th record's value (records are 160 bytes after a
# 64-byte superblock).
offset=$((64 + 99 * 160 + 100))
printf '\xff' | dd of="$seg" bs=1 seek="$offset" conv=notrunc status=none
set +e
"$bale" verify --data "$dir" > "$dir/bad.out"
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "verify exited $rc, want 1"; cat "$dir/bad.out"; exit 1; }
grep -q "$(basename "$seg"): offset $((64 + 99 * 160)): Corruption" "$dir/bad.out" \
  || { cat "$dir/bad.out"; exit 1; }
grep -q 'problems=1' "$dir/bad.out"

# A missing directory is an error, not a clean bill of health.
set +e
"$bale" verify --data "$dir/nope" > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ]
