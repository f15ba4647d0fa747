#!/usr/bin/env bash
# Exact mode at several budgets: the logits of every position of a prompt (eval) and a greedy
# continuation (run) must be bit-identical to the run with every expert resident.
#
#   bench/exactness.sh MODEL [BUDGET...]      (default budgets: 5% 25% 100%)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?model}
shift
BUDGETS=("$@")
[[ ${#BUDGETS[@]} -gt 0 ]] || BUDGETS=(5% 25% 100%)
BIN=${OMNISAGE:-build/tools/omnisage/omnisage}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
IDS=$(python3 -c 'print(",".join(str((i * 7919 + 11) % 3000 + 100) for i in range(48)))')
run() {  # name, extra flags...
  local name=$1
  shift
  "$BIN" eval --model "$MODEL" --token-ids "$IDS" --logits-out "$OUT/$name.f32" --threads 2 "$@" \
    >/dev/null
  "$BIN" run --model "$MODEL" --prompt "Exactness is the default." --max-tokens 32 \
    --ignore-stop --threads 2 --context 256 --json "$@" >"$OUT/$name.json"
}
run free
FAIL=0
for b in "${BUDGETS[@]}"; do
  for policy in lru lfu cycle trust; do
    name="b${b%\%}-$policy"
    run "$name" --budget "$b" --policy "$policy"
    if cmp -s "$OUT/free.f32" "$OUT/$name.f32" &&
      python3 -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); sys.exit(a["token_ids"]!=b["token_ids"])' \
        "$OUT/free.json" "$OUT/$name.json"; then
      verdict=identical
    else
      verdict=DIFFERENT
      FAIL=1
    fi
    python3 - "$OUT/$name.json" "$b" "$policy" "$verdict" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); t = j["expert_cache"]["total"]; m = j["memory"]
print(f"budget {sys.argv[2]:>5} ({m['expert_budget_bytes'] / 2**20:8.1f} MiB) {sys.argv[3]:<5} "
      f"logits + 32 tokens {sys.argv[4]} | hit rate {t['hit_rate']:.3f} | "
      f"read {t['bytes_read'] / 2**20:.0f} MiB | peak RSS {m['peak_rss_bytes'] / 2**20:.0f} MiB")
PY
  done
done
exit $FAIL
