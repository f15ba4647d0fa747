#!/usr/bin/env bash
# Builds OmniSage and runs every test: unit and integration tests, the clang-format check, and the
# safetensors header fuzzer for a bounded time (FUZZ_SECONDS, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/run-fuzz.sh "${FUZZ_SECONDS:-60}"
cd build
ctest --output-on-failure -j "$(nproc)"
