#!/usr/bin/env bash
# Accuracy of quantized experts on real text, OmniSage beside llama.cpp, on one checkpoint:
# teacher-forced over TEXT's first TOKENS tokens, the next-token distribution of every position
# from each quantized model against the bf16 model of the same engine (mean KL, top-1 agreement,
# next-token NLL), and llama.cpp's bf16 against OmniSage's bf16 (how far the engines differ
# before quantization).
#
#   bench/quant/accuracy.sh MODEL TEXT WORK [TOKENS]        (TOKENS: 512; fewer if TEXT is short)
#
# MODEL is a Qwen3-MoE checkpoint (bf16 safetensors, tokenizer.json). Steps, each skipped when
# its output exists (delete WORK to start over):
#   ids      `omnisage tokenize` of TEXT, the first TOKENS ids          -> WORK/ids.json
#   stores   `omnisage extract --quant int8`, `--quant int4 --group G --int4-rounding R` for each
#            G in INT4_GROUPS and R in INT4_ROUNDINGS (int4-gG for search, int4-gG-R for another
#            rounding), `--quant int8 --quant-dense` (int8-dense8)
#            -> WORK/stores/NAME (a group that does not divide a row is recorded as
#            WORK/stores/NAME.error and the report says why)
#   omnisage `omnisage eval` of the ids on MODEL (bf16) and on each store -> WORK/logits/*.f32
#   gguf     bench/llamacpp/to_gguf.py (BF16), then bench/llamacpp/quantize.py for each type in
#            LLAMA_TYPES (llama.cpp's llama_model_quantize) -> WORK/gguf/TYPE.gguf, TYPE.json;
#            and bench/llamacpp/mix.py: TYPE's expert tensors with BF16's other tensors (only
#            the experts quantized, as OmniSage does)      -> WORK/gguf/TYPE-experts.gguf, .json
#   llamacpp bench/llamacpp/logits.py (logits_all) on each GGUF         -> WORK/logits/*.f32
#   kl       bench/quant/kl.py for each pair                             -> WORK/kl/*.json
#   report   python3 bench/quant/report.py accuracy WORK                 (markdown on stdout)
# Environment: OMNISAGE [build/tools/omnisage/omnisage], LLAMA_VENV [/opt/llama-venv],
# THREADS [2], INT4_GROUPS ["128 32"], INT4_ROUNDINGS ["search"], LLAMA_TYPES ["Q8_0 Q4_K_M"],
# LLAMACPP [1] (0: skip the gguf and llamacpp steps and their KL; llama.cpp's KL files already in
# WORK/kl, with their WORK/gguf/*.json, are reported as they are).
set -euo pipefail
model=${1:?usage: accuracy.sh MODEL TEXT WORK [TOKENS]}
text=${2:?text file}
work=${3:?work directory}
tokens=${4:-512}
root="$(cd "$(dirname "$0")/../.." && pwd)"
omnisage=${OMNISAGE:-$root/build/tools/omnisage/omnisage}
py=${LLAMA_VENV:-/opt/llama-venv}/bin/python
threads=${THREADS:-2}
groups=${INT4_GROUPS:-128 32}
roundings=${INT4_ROUNDINGS:-search}
llama_types=${LLAMA_TYPES:-Q8_0 Q4_K_M}
llamacpp=${LLAMACPP:-1}
say() { echo "[accuracy $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$work/stores" "$work/logits" "$work/gguf" "$work/kl"

python3 - "$work/run.json" "$model" "$text" "$tokens" "$threads" "$*" <<'PY'
import datetime, json, os, sys
out, model, text, tokens, threads, args = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
run = {"model": os.path.abspath(model), "text": text, "tokens_wanted": int(tokens),
       "threads": int(threads), "cpu_model": cpu, "logical_cpus": os.cpu_count(),
       "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "load_start": os.getloadavg(), "command": "bench/quant/accuracy.sh " + args}
json.dump(run, open(out, "w"))
PY

if [ ! -f "$work/ids.json" ]; then
  say "tokenizing $text"
  "$omnisage" tokenize --model "$model" --text "$(cat "$text")" |
    python3 -c 'import json,sys; ids=json.load(sys.stdin)[:int(sys.argv[1])]; json.dump(ids, open(sys.argv[2], "w"))' \
      "$tokens" "$work/ids.json"
fi
ids=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1])))))' "$work/ids.json")
vocab=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$model/config.json")
say "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/ids.json") ids, vocabulary $vocab"

stores=()
extract() {  # name, extract flags...
  local name=$1
  shift
  local dir="$work/stores/$name"
  if [ ! -f "$dir/manifest.json" ] && [ ! -f "$dir.error" ]; then
    say "extract $name"
    if ! "$omnisage" extract "$model" --out "$dir" "$@" --json >"$dir.extract.json" 2>"$dir.log"; then
      tail -1 "$dir.log" >"$dir.error"
      rm -rf "$dir"
      say "extract $name failed: $(cat "$dir.error")"
    fi
  fi
  [ -f "$dir/manifest.json" ] && stores+=("$name")
  return 0
}
extract int8 --quant int8
for g in $groups; do
  for r in $roundings; do
    name="int4-g$g"
    [ "$r" = search ] || name="$name-$r"
    extract "$name" --quant int4 --group "$g" --int4-rounding "$r"
  done
done
# int8 experts with the layers' projections and lm_head int8 too (nearer what Q8_0 quantizes)
extract int8-dense8 --quant int8 --quant-dense

eval_omnisage() {  # name, model dir
  if [ ! -f "$work/logits/omnisage-$1.f32" ]; then
    say "omnisage eval $1"
    "$omnisage" eval --model "$2" --token-ids "$ids" --threads "$threads" \
      --logits-out "$work/logits/omnisage-$1.f32" >&2
  fi
}
eval_omnisage bf16 "$model"
for s in "${stores[@]}"; do eval_omnisage "$s" "$work/stores/$s"; done

mixed=()
if [ "$llamacpp" != 0 ]; then
  if [ ! -f "$work/gguf/BF16.gguf" ]; then
    say "to_gguf"
    "$py" "$root/bench/llamacpp/to_gguf.py" "$model" "$work/gguf/BF16.gguf.tmp" >&2
    mv "$work/gguf/BF16.gguf.tmp" "$work/gguf/BF16.gguf"
  fi
  [ -f "$work/gguf/BF16.json" ] || "$py" "$root/bench/llamacpp/gguf_summary.py" "$work/gguf/BF16.gguf" >"$work/gguf/BF16.json"
  for t in $llama_types; do
    if [ ! -f "$work/gguf/$t.gguf" ]; then
      say "llama.cpp quantize $t"
      "$py" "$root/bench/llamacpp/quantize.py" "$work/gguf/BF16.gguf" "$work/gguf/$t.gguf" "$t" \
        --threads "$threads" >"$work/gguf/$t.json.tmp"
      mv "$work/gguf/$t.json.tmp" "$work/gguf/$t.json"
    fi
  done
  # the same types with only the experts quantized (the rest BF16, as OmniSage's stores keep it)
  for t in $llama_types; do
    if [ ! -f "$work/gguf/$t-experts.gguf" ]; then
      say "llama.cpp $t, experts only"
      "$py" "$root/bench/llamacpp/mix.py" "$work/gguf/BF16.gguf" "$work/gguf/$t.gguf" \
        "$work/gguf/$t-experts.gguf" >"$work/gguf/$t-experts.json.tmp"
      mv "$work/gguf/$t-experts.json.tmp" "$work/gguf/$t-experts.json"
    fi
    mixed+=("$t-experts")
  done
  for t in BF16 $llama_types "${mixed[@]}"; do
    if [ ! -f "$work/logits/llamacpp-$t.f32" ]; then
      say "llama.cpp logits $t"
      "$py" "$root/bench/llamacpp/logits.py" "$work/gguf/$t.gguf" --ids "$work/ids.json" \
        --threads "$threads" --out "$work/logits/llamacpp-$t.f32" >&2
    fi
  done
fi

kl() {  # out name, ref, test
  [ -f "$work/kl/$1.json" ] && return 0
  "$py" "$root/bench/quant/kl.py" "$work/logits/$2.f32" "$work/logits/$3.f32" --vocab "$vocab" \
    --ids "$work/ids.json" >"$work/kl/$1.json.tmp"
  mv "$work/kl/$1.json.tmp" "$work/kl/$1.json"
}
say "KL"
for s in "${stores[@]}"; do kl "omnisage-$s" omnisage-bf16 "omnisage-$s"; done
if [ "$llamacpp" != 0 ]; then
  kl llamacpp-BF16 omnisage-bf16 llamacpp-BF16
  for t in $llama_types "${mixed[@]}"; do kl "llamacpp-$t" llamacpp-BF16 "llamacpp-$t"; done
fi

python3 - "$work/run.json" <<'PY'
import datetime, json, os, sys
run = json.load(open(sys.argv[1]))
run["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
run["load_end"] = os.getloadavg()
json.dump(run, open(sys.argv[1], "w"))
PY
python3 "$root/bench/quant/report.py" accuracy "$work"
