#!/usr/bin/env bash
# Runs one omnisage command inside a fresh memory cgroup whose hard limit is LIMIT bytes, so the
# kernel holds the whole process to it: anonymous memory, and page cache the process brings in.
# Give the command the same --memory (docs/memory.md): the engine plans everything inside it.
#
#   bench/memory_cgroup.sh LIMIT_BYTES -- run --model DIR --memory LIMIT_BYTES ...
#   bench/memory_cgroup.sh LIMIT_BYTES -- profile --out prof -- run ... --memory LIMIT_BYTES
#
# Prints, on stderr, the limit, the cgroup's peak (memory.peak / memory.max_usage_in_bytes: page
# cache included), how often the cgroup reached its limit (v1: memory.failcnt) and the command's
# status. Exits with the command's status (137: killed by the OOM killer); 2 when no memory
# cgroup can be made here (not root, or no memory controller). Swap is off inside the cgroup.
# The program run is $OMNISAGE (default build/tools/omnisage/omnisage); any other program runs
# the same way with OMNISAGE set to it (bench/quant/speed.sh runs llama.cpp's bench.py so).
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${1:?limit in bytes}
shift
[[ "${1:-}" == "--" ]] && shift
[[ $# -gt 0 ]] || { echo "usage: $0 LIMIT_BYTES -- COMMAND ARGS..." >&2; exit 1; }
[[ "$LIMIT" =~ ^[0-9]+$ ]] || { echo "$0: LIMIT must be a number of bytes (got '$LIMIT')" >&2; exit 1; }
BIN=${OMNISAGE:-build/tools/omnisage/omnisage}

CG=""
if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  CG=/sys/fs/cgroup/omnisage-memory-$$
  if mkdir "$CG" 2>/dev/null; then
    echo "$LIMIT" >"$CG/memory.max"
    echo 0 >"$CG/memory.swap.max" 2>/dev/null || true
  else
    CG=""
  fi
  PEAK_FILE=memory.peak
  FAIL_FILE=memory.events
elif [[ -d /sys/fs/cgroup/memory ]]; then
  CG=/sys/fs/cgroup/memory/omnisage-memory-$$
  if mkdir "$CG" 2>/dev/null; then
    echo "$LIMIT" >"$CG/memory.limit_in_bytes"
    echo "$LIMIT" >"$CG/memory.memsw.limit_in_bytes" 2>/dev/null || true
  else
    CG=""
  fi
  PEAK_FILE=memory.max_usage_in_bytes
  FAIL_FILE=memory.failcnt
fi
if [[ -z "$CG" || ! -d "$CG" ]]; then
  echo "$0: no memory cgroup can be created here; skipped" >&2
  exit 2
fi
trap 'rmdir "$CG" 2>/dev/null || true' EXIT

set +e
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$BIN" "$@"
RC=$?
set -e
PEAK=$(cat "$CG/$PEAK_FILE" 2>/dev/null || echo 0)
FAILS=$(tr '\n' ' ' <"$CG/$FAIL_FILE" 2>/dev/null || echo "?")
echo "cgroup: limit $LIMIT bytes ($(awk "BEGIN{printf \"%.2f\", $LIMIT/1073741824}") GiB)," \
  "peak $PEAK bytes ($(awk "BEGIN{printf \"%.2f\", $PEAK/1073741824}") GiB, page cache included)," \
  "limit reached: $FAILS, exit $RC" >&2
exit "$RC"
