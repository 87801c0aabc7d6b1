#!/usr/bin/env bash
# libmemcached's command-line tools against a real `bale serve`: memccp files in,
# memccat them back byte-for-byte, memcrm, memcstat, memcflush.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"

bale_start "$BALE_TMP/data" --durability sync --threads 2
servers="--servers=127.0.0.1:$BALE_PORT"
src=$BALE_TMP/src
out=$BALE_TMP/out
mkdir -p "$src" "$out"

printf 'hello from libmemcached\n' > "$src/hello.txt"
printf 'line one\r\nline two\r\nEND\r\n\r\n' > "$src/crlf.txt"
head -c 102400 /dev/urandom > "$src/random-100k.bin"
head -c 4096 /dev/zero > "$src/zeros.bin"
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "%d,", i }' > "$src/numbers.csv"
files=(hello.txt crlf.txt random-100k.bin zeros.bin numbers.csv)

(cd "$src" && timeout 30 memccp "$servers" "${files[@]}") || fail "memccp exited $?"

for f in "${files[@]}"; do
  rm -f "$out/$f"
  timeout 30 memccat "$servers" --file="$out/$f" "$f" || fail "memccat $f exited $?"
  cmp "$src/$f" "$out/$f" || fail "memccat $f: bytes differ"
done

timeout 30 memcstat "$servers" > "$BALE_TMP/stat.out" || fail "memcstat exited $?"
grep -q 'curr_items: 5$' "$BALE_TMP/stat.out" || { cat "$BALE_TMP/stat.out"; fail "want curr_items: 5"; }
grep -q "pid: $BALE_PID\$" "$BALE_TMP/stat.out" || { cat "$BALE_TMP/stat.out"; fail "want pid: $BALE_PID"; }

# memcrm one; memccat then fails for it and still works for the others.
timeout 30 memcrm "$servers" crlf.txt || fail "memcrm exited $?"
if timeout 30 memccat "$servers" --file="$out/gone" crlf.txt > /dev/null 2>&1; then
  fail "memccat of a removed key succeeded"
fi
timeout 30 memccat "$servers" --file="$out/hello.again" hello.txt
cmp "$src/hello.txt" "$out/hello.again"
timeout 30 memcstat "$servers" | grep -q 'curr_items: 4$' || fail "want curr_items: 4 after memcrm"

# Overwrite one with different contents (memccp's default is set).
head -c 50000 /dev/urandom > "$src/random-100k.bin"
(cd "$src" && timeout 30 memccp "$servers" random-100k.bin)
timeout 30 memccat "$servers" --file="$out/random.again" random-100k.bin
cmp "$src/random-100k.bin" "$out/random.again" || fail "overwritten value differs"

# memcflush: everything is gone.
timeout 30 memcflush "$servers" || fail "memcflush exited $?"
for f in "${files[@]}"; do
  if timeout 30 memccat "$servers" --file="$out/after-flush" "$f" > /dev/null 2>&1; then
    fail "memccat $f succeeded after memcflush"
  fi
done

# Still serving after the flush; and it stops cleanly.
(cd "$src" && timeout 30 memccp "$servers" hello.txt)
timeout 30 memccat "$servers" --file="$out/hello.final" hello.txt
cmp "$src/hello.txt" "$out/hello.final"
rc=0
bale_stop "$BALE_PID" || rc=$?
[ "$rc" -eq 0 ] || { cat "$BALE_OUT"; fail "bale serve exited $rc after SIGTERM"; }
