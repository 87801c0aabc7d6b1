#!/usr/bin/env bash
# On a real full disk (a small tmpfs), flush_all and POST /batch are all or nothing,
# before and after a restart; the server starts, serves reads and stops cleanly on a
# full disk, and its reserve lets deletes and compaction bring it back
# (full_disk_test.py). Mounting needs root (CI runs as root); elsewhere the suite
# reports a skip, which CI refuses unless tests/allowed_skips.txt lists it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
disk="$BALE_TMP/disk"
mkdir -p "$disk"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=16m,mode=0700 bale-full-disk "$disk" 2> /dev/null; then
  bale_skip tmpfs "cannot mount a tmpfs here (needs root)"
  exit 0
fi
# Runs before BALE_TMP is removed; the servers are already dead by then.
BALE_EXTRA_CLEANUP="umount '$disk'"
timeout 240 "$py" "$here/full_disk_test.py" "$BALE" "$disk"
