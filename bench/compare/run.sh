#!/usr/bin/env bash
# OmniSage against HF transformers and llama.cpp on one checkpoint, then docs/benchmarks.md and
# docs/benchmarks.svg. Run it on a quiet machine: every system runs alone, one after another.
#
#   bench/compare/run.sh
#
# Environment (defaults in brackets):
#   MODEL     checkpoint directory, or a synth preset name (tiny, small) [small]: a preset is
#             generated with `omnisage synth --preset P --arch qwen3_moe` into WORK once
#   WORK      work directory: checkpoint, GGUF, prompt ids, results.json [/tmp/omnisage-compare]
#   BUDGETS   OmniSage budgets of the page-cache regime (no limit) ["unlimited 50% 25% 10%"]
#   LIMITS    memory limits of the disk-bound regime (every system in a memory cgroup), as shares
#             of the checkpoint's bytes ["50% 25% 10%"]
#   TEXT      the text every system is teacher-forced on [bench/compare/text.txt]; "" = greedy
#   PROMPT    prompt tokens [128]     GEN  generated tokens [64]     REPEAT  timed repetitions [3]
#   THREADS   compute threads for every system [2]
#   SYSTEMS   steps to run ["dd,omnisage,hf,llamacpp,cgroup"]
#   REF_VENV  venv with torch + transformers [/opt/ref-venv]; created from
#             tools/reference/requirements.txt when it cannot import them (torch from
#             TORCH_INDEX_URL [https://download.pytorch.org/whl/cpu])
#   LLAMA_VENV  venv with llama-cpp-python, gguf, numpy [/opt/llama-venv]; created by
#             bench/llamacpp/ensure_venv.sh when missing (compiles llama.cpp: 10-25 min)
#   DROP_CACHES auto|yes|no: sync + drop the page cache before dd and each system [auto: if root]
#   WAIT_IDLE seconds llama.cpp's bench.py waits for a quiet machine per repetition [0]
#   RESULTS   results JSON [WORK/results.json]     DOC  markdown to write [docs/benchmarks.md]
#   EXTRA     more compare.py flags (compare.py --help)
# Progress goes to stderr and to WORK/compare.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-small}
WORK=${WORK:-/tmp/omnisage-compare}
BUDGETS=${BUDGETS:-unlimited 50% 25% 10%}
PROMPT=${PROMPT:-128}
GEN=${GEN:-64}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-2}
SYSTEMS=${SYSTEMS:-dd,omnisage,hf,llamacpp,cgroup}
LIMITS=${LIMITS:-50% 25% 10%}
TEXT=${TEXT-bench/compare/text.txt}
REF_VENV=${REF_VENV:-/opt/ref-venv}
LLAMA_VENV=${LLAMA_VENV:-/opt/llama-venv}
DROP_CACHES=${DROP_CACHES:-auto}
WAIT_IDLE=${WAIT_IDLE:-0}
RESULTS=${RESULTS:-$WORK/results.json}
DOC=${DOC:-docs/benchmarks.md}
omnisage=build/tools/omnisage/omnisage
mkdir -p "$WORK"
exec 2> >(tee -a "$WORK/compare.log" >&2)
say() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }

say "building omnisage and bench/io_read (a no-op when up to date)"
[ -f build/build.ninja ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build omnisage io_read >&2

extra=()
if [[ ",$SYSTEMS," == *,hf,* ]] && ! "$REF_VENV/bin/python" -c 'import torch, transformers, safetensors' 2>/dev/null; then
  say "preparing $REF_VENV (torch, transformers) from tools/reference/requirements.txt"
  if ! { python3 -m venv "$REF_VENV" &&
         "$REF_VENV/bin/pip" install --upgrade pip &&
         "$REF_VENV/bin/pip" install --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" torch &&
         "$REF_VENV/bin/pip" install -r tools/reference/requirements.txt; } >&2; then
    extra+=(--skip-hf "could not prepare $REF_VENV (pip install -r tools/reference/requirements.txt failed)")
  fi
fi
if [[ ",$SYSTEMS," == *,llamacpp* ]]; then
  if ! bench/llamacpp/ensure_venv.sh "$LLAMA_VENV" >&2; then
    extra+=(--skip-llamacpp "could not prepare $LLAMA_VENV (bench/llamacpp/ensure_venv.sh failed)")
  fi
fi

model_args=()
case "$MODEL" in
  */*|.*) model_args=(--model "$MODEL") ;;
  *) model_args=(--preset "$MODEL") ;;
esac

say "comparing; results in $RESULTS"
python3 bench/compare/compare.py --work "$WORK" "${model_args[@]}" --out "$RESULTS" \
  --omnisage "$omnisage" --budgets "$(echo "$BUDGETS" | tr ' ' ',' | tr -s ',')" \
  --prompt-tokens "$PROMPT" --gen-tokens "$GEN" --repeat "$REPEAT" --threads "$THREADS" \
  --systems "$SYSTEMS" --limits "$(echo "$LIMITS" | tr ' ' ',' | tr -s ',')" \
  --text "${TEXT:+$PWD/$TEXT}" --ref-python "$REF_VENV/bin/python" --llama-python "$LLAMA_VENV/bin/python" \
  --drop-caches "$DROP_CACHES" --wait-idle "$WAIT_IDLE" "${extra[@]}" ${EXTRA:-}
python3 bench/compare/report.py "$RESULTS" --doc "$DOC"
say "done: $DOC and $(dirname "$DOC")/benchmarks.svg"
