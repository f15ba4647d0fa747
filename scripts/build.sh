#!/usr/bin/env bash
# Configures and builds OmniSage in Release into build/ (pass extra CMake flags as arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C build
