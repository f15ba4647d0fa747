#!/usr/bin/env bash
# Routing, cache and SAGE measurements on a model over real text (docs/reference-moe.md):
#   1. a routing trace of the text teacher-forced with every expert resident (exact routing does
#      not depend on the budget), replayed by `omnisage simulate` at 5/10/25/50% (LRU, LFU,
#      trust, Belady) with its routing locality;
#   2. live runs of the same text at those budgets with each policy: hit rate, next-layer
#      prediction accuracy, bytes read per token;
#   3. bench/sage_vs_exact on the text: KL and top-1 agreement of SAGE against exact.
# Usage: bench/reference_moe.sh MODEL TEXT OUT_DIR [PROMPT_TOKENS] [GEN_TOKENS]
# Writes OUT_DIR/*.json and OUT_DIR/sage.md; bench/reference_moe_report.py turns them into tables.
set -euo pipefail
model=${1:?usage: reference_moe.sh MODEL TEXT OUT_DIR [PROMPT_TOKENS] [GEN_TOKENS]}
text=${2:?text file}
out=${3:?output directory}
prompt=${4:-64}
gen=${5:-448}
root="$(cd "$(dirname "$0")/.." && pwd)"
omnisage="$root/build/tools/omnisage/omnisage"
mkdir -p "$out"
common=(--model "$model" --text "$text" --prompt-tokens "$prompt" --gen-tokens "$gen" --repeat 1
        --warmup 0 --threads 1 --json)

echo "reference_moe: trace of $text ($prompt + $gen tokens) on $model" >&2
"$omnisage" bench "${common[@]}" --trace "$out/trace.jsonl" > "$out/unlimited.json.part"
mv "$out/unlimited.json.part" "$out/unlimited.json"
for b in 5 10 25 50; do
  "$omnisage" simulate --trace "$out/trace.jsonl" --budget "$b%" --json > "$out/sim-$b.json.part"
  mv "$out/sim-$b.json.part" "$out/sim-$b.json"
  for p in lru lfu cycle trust; do
    echo "reference_moe: live run, budget $b%, policy $p" >&2
    rm -f "$out/trust-$b.json"  # the trust policy starts without records and keeps its own
    "$omnisage" bench "${common[@]}" --budget "$b%" --policy "$p" --trust-file "$out/trust-$b.json" \
      > "$out/live-$p-$b.json.part"
    mv "$out/live-$p-$b.json.part" "$out/live-$p-$b.json"
  done
done
echo "reference_moe: SAGE against exact" >&2
"$root/build/bench/sage_vs_exact" --model "$model" --text-file "$text" --tokens 128 \
  --budget "" --budget 25% > "$out/sage.md.part"
mv "$out/sage.md.part" "$out/sage.md"
echo "reference_moe: done; tables: python3 bench/reference_moe_report.py trained=$out" >&2
