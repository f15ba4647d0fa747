#!/usr/bin/env bash
# Text inference speed: OmniSage against llama.cpp on the same generated Qwen3-MoE weights (bf16)
# on this machine. Prompt of N token ids (one batched prefill), M greedy tokens, R repetitions.
#
#   bench/text_speed.sh [PRESET] [WORKDIR]     (defaults: small, /tmp/omnisage-llamacpp)
#   N=128 M=64 R=3 THREADS=2
#
# llama.cpp runs through llama-cpp-python (bench/llamacpp/run.sh builds the venv and the GGUF).
# Prints both JSON results and a table with the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-small}
work=${2:-/tmp/omnisage-llamacpp}
n=${N:-128}; m=${M:-64}; reps=${R:-3}; threads=${THREADS:-2}
omnisage=build/tools/omnisage/omnisage
[ -x "$omnisage" ] || scripts/build.sh >/dev/null
model="$work/$preset"
[ -f "$model/config.json" ] || { mkdir -p "$work"; "$omnisage" synth --preset "$preset" --arch qwen3_moe --out "$model"; }

ids=$(python3 -c "import random; r=random.Random(0); print(','.join(str(r.randrange(0, 150000)) for _ in range($n)))")
ours=()
for i in $(seq "$reps"); do
  ours+=("$("$omnisage" run --model "$model" --prompt-ids "$ids" --max-tokens "$m" --ignore-stop \
      --threads "$threads" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["prefill_tok_s"], j["decode_tok_s"], j["ttft_s"], j["peak_rss_bytes"])')")
done
read -r o_pre o_dec o_ttft o_rss < <(printf '%s\n' "${ours[@]}" | sort -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')

llama_json=$(bench/llamacpp/run.sh "$preset" "$work" -- -n "$n" -m "$m" -r "$reps" -t "$threads" | tail -1)
echo "llama.cpp: $llama_json"
python3 - "$o_pre" "$o_dec" "$o_ttft" "$o_rss" "$llama_json" <<'PY'
import json, sys
o_pre, o_dec, o_ttft, o_rss = map(float, sys.argv[1:5])
l = json.loads(sys.argv[5])
print(f"{'':10} {'prefill tok/s':>14} {'decode tok/s':>13} {'TTFT s':>8} {'peak RSS GiB':>13}")
print(f"{'omnisage':10} {o_pre:14.1f} {o_dec:13.2f} {o_ttft:8.3f} {o_rss/2**30:13.2f}")
print(f"{'llama.cpp':10} {l['prefill_tok_s']:14.1f} {l['decode_tok_s']:13.2f} {l['ttft_s']:8.3f} {l['peak_rss_bytes']/2**30:13.2f}")
print(f"omnisage / llama.cpp: prefill {o_pre/l['prefill_tok_s']:.2f}x, decode {o_dec/l['decode_tok_s']:.2f}x")
print(json.dumps({"omnisage": {"prefill_tok_s": o_pre, "decode_tok_s": o_dec, "ttft_s": o_ttft,
                               "peak_rss_bytes": int(o_rss)}, "llama_cpp": l}))
PY
