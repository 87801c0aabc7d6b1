# shellcheck shell=bash
# Shared helpers for the integration tests (sourced, not run: no *_test.sh suffix).
#
#   source "$(dirname "$0")/lib.sh"
#   bale_init "$1"              # sets BALE and BALE_TMP, installs the cleanup trap
#   bale_start "$BALE_TMP/data" --durability sync ...   # sets BALE_PID, BALE_PORT,
#                                                       # BALE_HTTP_PORT, BALE_OUT
#   bale_stop "$BALE_PID"       # SIGTERM, bounded wait; returns the exit code
#
# Servers listen on 127.0.0.1 with an ephemeral port, for HTTP too (`--http-port any`,
# never the default 8080) unless the options name their own --http-port. Every server
# started here is SIGKILLed by the EXIT trap if still running, and BALE_TMP is removed.

BALE_PIDS=()
BALE_TMP=

bale_cleanup() {
  local pid
  for pid in "${BALE_PIDS[@]}"; do
    if kill -0 "$pid" 2> /dev/null; then
      kill -KILL "$pid" 2> /dev/null || true
      wait "$pid" 2> /dev/null || true
    fi
  done
  if [ -n "${BALE_EXTRA_CLEANUP:-}" ]; then eval "$BALE_EXTRA_CLEANUP" || true; fi
  [ -n "$BALE_TMP" ] && rm -rf "$BALE_TMP"
}

bale_init() {
  BALE=$(realpath "$1")
  BALE_TMP=$(mktemp -d)
  trap bale_cleanup EXIT
  export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
  trap 'exit 143' TERM
  trap 'exit 130' INT
}

# bale_start DATA_DIR [serve options...]: starts `bale serve` in the background and waits
# (at most BALE_START_TIMEOUT seconds, default 60: a loaded machine may be slow, a healthy
# one takes a fraction of a second) for its first line to name the port and, unless HTTP
# is off (`--http-port 0`), for the HTTP line (`bale serve: HTTP on 127.0.0.1:PORT`).
# Fails with the server's output if it exits first or the deadline passes.
# Sets BALE_PID, BALE_PORT, BALE_HTTP_PORT (empty when HTTP is off) and BALE_OUT
# ($DATA_DIR.out.N, the server's output).
bale_start() {
  local data=$1
  shift
  local args=("$@") http_arg='' i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      --http-port) http_arg=${args[i + 1]:-} ;;
      --http-port=*) http_arg=${args[i]#--http-port=} ;;
    esac
  done
  if [ -z "$http_arg" ]; then
    args+=(--http-port any)
    http_arg=any
  fi
  # run.sh sets BALE_SERVE_ARGS to run suites again with other options (--io-uring off).
  # shellcheck disable=SC2206  # split on purpose: a list of options
  args+=(${BALE_SERVE_ARGS:-})
  BALE_OUT="$data.out.${#BALE_PIDS[@]}"
  # Created here, before the server starts: the background child opens it only when it
  # gets to run, and reading it before then would fail ("sed: can't read").
  : > "$BALE_OUT"
  "$BALE" serve --data "$data" --listen 127.0.0.1 --port 0 "${args[@]}" > "$BALE_OUT" 2>&1 &
  BALE_PID=$!
  BALE_PIDS+=("$BALE_PID")
  BALE_PORT=
  # shellcheck disable=SC2034  # read by the tests
  BALE_HTTP_PORT=
  local line http_seen='' limit=${BALE_START_TIMEOUT:-60} rc
  local deadline=$((SECONDS + limit))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -z "$BALE_PORT" ]; then
      # The comma after the port: a half-written line never yields part of a port.
      BALE_PORT=$(sed -n '/^bale serve: memcached protocol on 127\.0\.0\.1:\([0-9][0-9]*\),.*/{s//\1/;p;q}' \
        "$BALE_OUT")
    fi
    if [ -n "$BALE_PORT" ]; then
      # `read` skips a last line without its newline, so a half-written line never counts.
      while IFS= read -r line; do
        case $line in
          "bale serve: HTTP off")
            http_seen=1
            ;;
          "bale serve: HTTP on "*:*)
            line=${line##*:}
            line=${line%$'\r'}
            case $line in
              '' | *[!0-9]*) ;;
              *)
                # shellcheck disable=SC2034  # read by the tests
                BALE_HTTP_PORT=$line
                http_seen=1
                ;;
            esac
            ;;
        esac
        if [ -n "$http_seen" ]; then break; fi
      done < "$BALE_OUT"
      if [ -n "$http_seen" ] || [ "$http_arg" = 0 ]; then
        return 0
      fi
    fi
    if ! kill -0 "$BALE_PID" 2> /dev/null || bale_is_zombie "$BALE_PID"; then
      rc=0
      wait "$BALE_PID" 2> /dev/null || rc=$?
      echo "bale serve exited (status $rc) before reporting its port; its output:" >&2
      cat "$BALE_OUT" >&2
      return 1
    fi
    sleep 0.05
  done
  if [ -n "$BALE_PORT" ]; then
    echo "bale serve did not report its HTTP port ('bale serve: HTTP on 127.0.0.1:PORT')" \
      "within $limit s (BALE_START_TIMEOUT); its output:" >&2
  else
    echo "bale serve did not report its port within $limit s (BALE_START_TIMEOUT);" \
      "its output:" >&2
  fi
  kill -KILL "$BALE_PID" 2> /dev/null || true
  cat "$BALE_OUT" >&2
  return 1
}

bale_is_zombie() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null) || return 1
  [ "$state" = Z ]
}

# bale_wait_exit PID [SECONDS]: waits for a child to exit (bounded); prints nothing,
# returns its exit code, or 124 (after SIGKILLing it) if it outlived the bound.
bale_wait_exit() {
  local pid=$1 limit=${2:-30} _ rc
  for _ in $(seq 1 $((limit * 20))); do
    if ! kill -0 "$pid" 2> /dev/null || bale_is_zombie "$pid"; then
      set +e
      wait "$pid" 2> /dev/null
      rc=$?
      set -e
      return "$rc"
    fi
    sleep 0.05
  done
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  return 124
}

# bale_stop PID [SECONDS]: SIGTERM and a bounded wait; returns the server's exit code.
bale_stop() {
  kill -TERM "$1" 2> /dev/null || true
  bale_wait_exit "$1" "${2:-30}"
}

# bale_kill PID: SIGKILL and reap.
bale_kill() {
  kill -KILL "$1" 2> /dev/null || true
  wait "$1" 2> /dev/null || true
}

# The object count a server reported at startup ("(64 partitions, N objects)").
bale_start_objects() {
  sed -n '/^bale serve: memcached protocol on .*partitions, \([0-9][0-9]*\) objects).*/{s//\1/;p;q}' \
    "${1:-$BALE_OUT}"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# bale_skip WHAT REASON: reports that this suite skipped WHAT (a check it could not make
# here) as `SKIP <suite>/<WHAT>: REASON`, on stdout and in $BALE_SKIP_LOG (set by run.sh).
# run.sh then fails unless tests/allowed_skips.txt lists <suite>/<WHAT>: never skip
# silently (an early `exit 0` passes while testing nothing). WHAT has no spaces.
bale_skip() {
  local line
  line="SKIP $(basename "$0" .sh)/$1: $2"
  echo "$line"
  if [ -n "${BALE_SKIP_LOG:-}" ]; then echo "$line" >> "$BALE_SKIP_LOG"; fi
}

# The python3 that has pymemcache (Debian's python3-pymemcache lives under /usr/bin's
# interpreter; a pyenv python3 earlier on PATH may not see it).
bale_python() {
  local py
  for py in /usr/bin/python3 python3; do
    if "$py" -c 'import pymemcache' > /dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  echo "no python3 with pymemcache (apt-get install python3-pymemcache)" >&2
  return 1
}
