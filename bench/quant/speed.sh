#!/usr/bin/env bash
# Speed of quantized experts, OmniSage beside llama.cpp, on one checkpoint: prefill and decode
# tok/s of bf16 / int8 / int4 expert stores with every expert resident and under expert budgets
# (bytes read per decoded token too), and llama.cpp's quantized GGUFs of the same weights, in
# one run, each configuration alone, one after another, with the same thread count.
#
#   bench/quant/speed.sh MODEL TEXT WORK
#
# WORK is bench/quant/accuracy.sh's work directory (its stores and GGUFs are reused; a missing
# store or GGUF is made the same way). Decoding is teacher-forced from TEXT: `omnisage bench
# --text` feeds its first PROMPT tokens as the prompt and the next GEN as decode steps, and
# bench/llamacpp/bench.py is given the same ids (--prompt-ids, --forced-ids; GEN generated
# tokens are 1 from the prefill and GEN - 1 decode steps in both). OmniSage reads
# experts with its default --io direct (from the disk, not the page cache); llama.cpp maps its
# GGUF, resident after the warm-up. Each run's load average before and after goes to
# WORK/speed/NAME.load.
#   -> WORK/speed/omnisage-STORE-BUDGET.json, WORK/speed/llamacpp-TYPE.json
# With LIMITS (shares of the bf16 checkpoint's bytes, e.g. "25%"), every store and GGUF also runs
# inside a fresh memory cgroup of that one limit (bench/memory_cgroup.sh: page cache counted,
# dropped first when root): OmniSage with --memory LIMIT --embeddings disk --io direct, llama.cpp
# mapping its GGUF (keeping every repetition: --max-other 1), each killed after TIMEOUT seconds.
#   -> WORK/speed/limitP-omnisage-STORE.{json,err}, WORK/speed/limitP-llamacpp-TYPE.{json,err}
#   report: python3 bench/quant/report.py speed WORK
# Environment: OMNISAGE, LLAMA_VENV [/opt/llama-venv], THREADS [2], PROMPT [128], GEN [32],
# REPEAT [2], STORES ["bf16 int8 int4-g128"; int8-dense8 and int4-gG-dense8 add --quant-dense],
# BUDGETS ["unlimited 25% 10%"], LIMITS [""], TIMEOUT [900],
# LLAMA_TYPES ["BF16 Q8_0 Q4_K_M"].
set -euo pipefail
model=${1:?usage: speed.sh MODEL TEXT WORK}
text=${2:?text file}
work=${3:?work directory}
root="$(cd "$(dirname "$0")/../.." && pwd)"
omnisage=${OMNISAGE:-$root/build/tools/omnisage/omnisage}
py=${LLAMA_VENV:-/opt/llama-venv}/bin/python
threads=${THREADS:-2}
prompt=${PROMPT:-128}
gen=${GEN:-32}
repeat=${REPEAT:-2}
stores=${STORES:-bf16 int8 int4-g128}
budgets=${BUDGETS:-unlimited 25% 10%}
llama_types=${LLAMA_TYPES:-BF16 Q8_0 Q4_K_M}
limits=${LIMITS:-}
timeout_s=${TIMEOUT:-900}
say() { echo "[speed $(date +%H:%M:%S)] $*" >&2; }
mkdir -p "$work/speed" "$work/stores" "$work/gguf"

python3 - "$work/speed/run.json" "$model" "$text" "$threads" "$prompt" "$gen" "$repeat" "$*" <<'PY'
import datetime, json, os, sys
out, model, text, threads, prompt, gen, repeat, args = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({"model": os.path.abspath(model), "text": text, "threads": int(threads),
           "prompt_tokens": int(prompt), "gen_tokens": int(gen), "repeat": int(repeat),
           "cpu_model": cpu, "logical_cpus": os.cpu_count(),
           "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "bench/quant/speed.sh " + args}, open(out, "w"))
PY

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
for s in $stores; do
  dir="$work/stores/$s"
  if [ ! -f "$dir/manifest.json" ]; then
    case $s in
      bf16) flags=(--quant bf16) ;;
      int8) flags=(--quant int8) ;;
      int8-dense8) flags=(--quant int8 --quant-dense) ;;
      int4-g*-dense8) g=${s#int4-g}; flags=(--quant int4 --group "${g%-dense8}" --quant-dense) ;;
      int4-g*) flags=(--quant int4 --group "${s#int4-g}") ;;
      *) echo "unknown store $s" >&2; exit 2 ;;
    esac
    say "extract $s"
    "$omnisage" extract "$model" --out "$dir" "${flags[@]}" --json >"$dir.extract.json"
  fi
  for b in $budgets; do
    name="omnisage-$s-${b%\%}"
    [ -f "$work/speed/$name.json" ] && continue
    say "omnisage bench $s, budget $b"
    budget_flag=()
    [ "$b" = unlimited ] || budget_flag=(--budget "$b")
    echo "before $(loadavg)" >"$work/speed/$name.load"
    "$omnisage" bench --model "$dir" --text "$text" --prompt-tokens "$prompt" --gen-tokens "$gen" \
      --repeat "$repeat" --warmup 1 --threads "$threads" --json "${budget_flag[@]}" \
      >"$work/speed/$name.json.tmp"
    echo "after $(loadavg)" >>"$work/speed/$name.load"
    mv "$work/speed/$name.json.tmp" "$work/speed/$name.json"
  done
done

# the ids OmniSage fed, for llama.cpp
first=$(ls "$work"/speed/omnisage-*.json | head -1)
python3 - "$first" "$work/speed/prompt_ids.txt" "$work/speed/forced_ids.txt" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(",".join(map(str, j["prompt_ids"])))
open(sys.argv[3], "w").write(",".join(map(str, j["forced_ids"])))
PY

if [ ! -f "$work/gguf/BF16.gguf" ]; then
  say "to_gguf"
  "$py" "$root/bench/llamacpp/to_gguf.py" "$model" "$work/gguf/BF16.gguf.tmp" >&2
  mv "$work/gguf/BF16.gguf.tmp" "$work/gguf/BF16.gguf"
fi
for t in $llama_types; do
  if [ ! -f "$work/gguf/$t.gguf" ]; then
    say "llama.cpp quantize $t"
    "$py" "$root/bench/llamacpp/quantize.py" "$work/gguf/BF16.gguf" "$work/gguf/$t.gguf" "$t" \
      --threads "$threads" >"$work/gguf/$t.json"
  fi
  name="llamacpp-$t"
  [ -f "$work/speed/$name.json" ] && continue
  say "llama.cpp bench $t"
  echo "before $(loadavg)" >"$work/speed/$name.load"
  "$py" "$root/bench/llamacpp/bench.py" "$work/gguf/$t.gguf" -n "$prompt" -m "$((gen - 1))" -r "$repeat" \
    -t "$threads" --no-bandwidth --max-attempts "$repeat" \
    --prompt-ids "@$work/speed/prompt_ids.txt" --forced-ids "@$work/speed/forced_ids.txt" \
    >"$work/speed/$name.json.tmp"
  echo "after $(loadavg)" >>"$work/speed/$name.load"
  mv "$work/speed/$name.json.tmp" "$work/speed/$name.json"
done
# The memory-limit regime: one limit for every engine and format.
drop_caches() { sync; [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches || true; }
# in_limit NAME BYTES PROGRAM ARGS...: PROGRAM (memory_cgroup.sh's $OMNISAGE) inside the limit,
# page cache dropped first -> WORK/speed/NAME.json when it succeeds, NAME.err (its stderr, with
# the cgroup's peak) always; skipped when either exists.
in_limit() {
  local name=$1 bytes=$2 program=$3
  shift 3
  [ -f "$work/speed/$name.json" ] || [ -f "$work/speed/$name.err" ] && return 0
  say "$name ($bytes bytes)"
  drop_caches
  echo "before $(loadavg)" >"$work/speed/$name.load"
  if OMNISAGE="$program" timeout "$timeout_s" "$root/bench/memory_cgroup.sh" "$bytes" -- "$@" \
      >"$work/speed/$name.json.tmp" 2>"$work/speed/$name.err.tmp"; then
    mv "$work/speed/$name.json.tmp" "$work/speed/$name.json"
  else
    rm -f "$work/speed/$name.json.tmp"
  fi
  mv "$work/speed/$name.err.tmp" "$work/speed/$name.err"
  echo "after $(loadavg)" >>"$work/speed/$name.load"
}
ckpt_bytes=$(stat -c %s "$model"/*.safetensors | awk '{s += $1} END {printf "%.0f\n", s}')
for l in $limits; do
  bytes=$(python3 -c "import sys; print(int(int(sys.argv[1]) * float(sys.argv[2]) / 100))" "$ckpt_bytes" "${l%\%}")
  for s in $stores; do
    in_limit "limit${l%\%}-omnisage-$s" "$bytes" "$omnisage" bench --model "$work/stores/$s" \
      --memory "${bytes}B" --embeddings disk --io direct --text "$text" --prompt-tokens "$prompt" \
      --gen-tokens "$gen" --repeat "$repeat" --warmup 1 --threads "$threads" --json
  done
  for t in $llama_types; do
    in_limit "limit${l%\%}-llamacpp-$t" "$bytes" "$py" "$root/bench/llamacpp/bench.py" \
      "$work/gguf/$t.gguf" -n "$prompt" -m "$((gen - 1))" -r "$repeat" -t "$threads" --no-bandwidth \
      --max-other 1 --max-attempts "$repeat" --prompt-ids "@$work/speed/prompt_ids.txt" \
      --forced-ids "@$work/speed/forced_ids.txt"
  done
done
python3 "$root/bench/quant/report.py" speed "$work"
