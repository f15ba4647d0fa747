#!/usr/bin/env bash
# Makes sure VENV (default $VENV or /opt/llama-venv) can import llama_cpp, gguf and numpy; when it
# cannot, creates it and installs them (llama-cpp-python is compiled from source for this CPU:
# 10-25 minutes on 2 cores). Used by bench/llamacpp/run.sh and bench/compare/run.sh.
#
#   bench/llamacpp/ensure_venv.sh [VENV]
set -euo pipefail
venv=${1:-${VENV:-/opt/llama-venv}}
if "$venv/bin/python" -c 'import llama_cpp, gguf, numpy' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --upgrade pip
"$venv/bin/pip" install gguf numpy
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
  "$venv/bin/pip" install --no-cache-dir llama-cpp-python
"$venv/bin/python" -c 'import llama_cpp, gguf, numpy'
