#!/usr/bin/env bash
# llama.cpp baseline on a generated Qwen3-MoE checkpoint: synth -> GGUF (BF16) -> bench.
#
#   bench/llamacpp/run.sh [PRESET] [WORKDIR] [-- BENCH_ARGS...]   (defaults: small, /tmp/omnisage-llamacpp)
#
# Environment: VENV (default /opt/llama-venv) is created with llama-cpp-python (compiled from
# source for this CPU: 10-25 minutes on 2 cores), gguf and numpy when it lacks them.
# Prints bench.py's JSON on stdout and keeps it in WORKDIR/PRESET-bench.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=${1:-small}
work=${2:-/tmp/omnisage-llamacpp}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
venv=${VENV:-/opt/llama-venv}
omnisage=build/tools/omnisage/omnisage

bench/llamacpp/ensure_venv.sh "$venv"
if [ ! -x "$omnisage" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  ninja -C build omnisage
fi

mkdir -p "$work"
model="$work/$preset"
gguf_file="$work/$preset-bf16.gguf"
if [ ! -f "$model/config.json" ]; then
  "$omnisage" synth --preset "$preset" --arch qwen3_moe --out "$model"
fi
if [ ! -f "$gguf_file" ]; then
  "$venv/bin/python" bench/llamacpp/to_gguf.py "$model" "$gguf_file.tmp"
  mv "$gguf_file.tmp" "$gguf_file"
fi
"$venv/bin/python" bench/llamacpp/bench.py "$gguf_file" "$@" | tee "$work/$preset-bench.json"
