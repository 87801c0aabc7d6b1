#!/usr/bin/env bash
# On a real full disk (a small tmpfs), flush_all and POST /batch are all or nothing,
# before and after a restart (full_disk_test.py). Mounting needs root (CI runs as
# root); elsewhere the suite says so and passes without running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
disk="$BALE_TMP/disk"
mkdir -p "$disk"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=16m,mode=0700 bale-full-disk "$disk" 2> /dev/null; then
  echo "SKIP full_disk_test: cannot mount a tmpfs here (needs root)"
  exit 0
fi
# Runs before BALE_TMP is removed; the servers are already dead by then.
BALE_EXTRA_CLEANUP="umount '$disk'"
timeout 240 "$py" "$here/full_disk_test.py" "$BALE" "$disk"
