#!/usr/bin/env bash
# Runs one prompt under a kernel memory limit of budget + dense + KV cache + activations +
# overhead, to show the expert budget is a hard limit on the whole process.
#
#   bench/budget_cgroup.sh MODEL BUDGET [OVERHEAD_MIB] [MAX_TOKENS]
#   EXTRA_ARGS="--speak out.wav ..." adds flags to both runs (a spoken answer).
#
# A first run without a limit reads the ledger (dense, KV cache, activations) from run --json; the
# second runs inside a fresh memory cgroup (v2 or v1; root needed) with memory.max /
# memory.limit_in_bytes set to that sum. Page cache counts against a cgroup too, but the kernel
# reclaims it at the limit; only anonymous memory above the limit ends the run (OOM kill). Exits
# 0 when the limited run finishes and its answer equals the unlimited one; 2 when the machine
# does not allow a memory cgroup.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model}
BUDGET=${2:?budget}
OVERHEAD_MIB=${3:-64}
MAX_TOKENS=${4:-16}
BIN=${OMNISAGE:-build/tools/omnisage/omnisage}
ARGS=(run --model "$MODEL" --budget "$BUDGET" --prompt "What does a memory budget mean?"
      --max-tokens "$MAX_TOKENS" --ignore-stop --threads 2 --context 512 --json)
read -r -a EXTRA <<<"${EXTRA_ARGS:-}"
ARGS+=("${EXTRA[@]}")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$BIN" "${ARGS[@]}" >"$OUT/free.json"
read -r BUDGET_B DENSE KV ACT RSS < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
print(m["expert_budget_bytes"], m["dense_bytes"], m["kv_cache_bytes"],
      m["activations_peak_bytes"], m["peak_rss_bytes"])' "$OUT/free.json")
LIMIT=$((BUDGET_B + DENSE + KV + ACT + OVERHEAD_MIB * 1024 * 1024))

CG=""
if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  CG=/sys/fs/cgroup/omnisage-budget-$$
  mkdir "$CG" && echo "$LIMIT" >"$CG/memory.max" && echo 0 >"$CG/memory.swap.max" 2>/dev/null || true
  PEAK_FILE="$CG/memory.peak"
elif [[ -d /sys/fs/cgroup/memory ]]; then
  CG=/sys/fs/cgroup/memory/omnisage-budget-$$
  mkdir "$CG" && echo "$LIMIT" >"$CG/memory.limit_in_bytes"
  echo "$LIMIT" >"$CG/memory.memsw.limit_in_bytes" 2>/dev/null || true
  PEAK_FILE="$CG/memory.max_usage_in_bytes"
fi
if [[ -z "$CG" || ! -d "$CG" ]]; then
  echo "no memory cgroup can be created here; skipped" >&2
  exit 2
fi
cleanup() { rmdir "$CG" 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

set +e
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$BIN" "${ARGS[@]}" \
  >"$OUT/limited.json" 2>"$OUT/limited.err"
RC=$?
set -e
PEAK_CG=$(cat "$PEAK_FILE" 2>/dev/null || echo 0)
python3 - "$OUT/free.json" "$OUT/limited.json" "$RC" "$LIMIT" "$PEAK_CG" "$OVERHEAD_MIB" <<'PY'
import json, sys
free_path, limited_path, rc, limit, peak_cg, overhead = sys.argv[1:]
rc, limit, peak_cg = int(rc), int(limit), int(peak_cg)
free = json.load(open(free_path))
gib = lambda b: f"{b / 2**30:.2f} GiB"
m = free["memory"]
print(f"budget {gib(m['expert_budget_bytes'])} ({m['expert_budget_bytes'] / m['total_expert_bytes']:.0%} "
      f"of {gib(m['total_expert_bytes'])} experts) + dense {gib(m['dense_bytes'])} + KV cache "
      f"{gib(m['kv_cache_bytes'])} + activations {m['activations_peak_bytes'] / 2**20:.1f} MiB "
      f"+ overhead {overhead} MiB = limit {gib(limit)}")
print(f"unlimited run: peak RSS {gib(m['peak_rss_bytes'])}")
if rc != 0:
    print(f"limited run FAILED with exit code {rc} (137 = killed by the OOM killer)")
    sys.exit(1)
lim = json.load(open(limited_path))
same = lim["token_ids"] == free["token_ids"]
print(f"limited run: peak RSS {gib(lim['memory']['peak_rss_bytes'])}, cgroup peak (with page cache) "
      f"{gib(peak_cg)}, decode {lim['decode_tok_s']:.2f} tok/s, same tokens as unlimited: {same}")
sys.exit(0 if same else 1)
PY
