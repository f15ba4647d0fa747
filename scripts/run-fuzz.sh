#!/usr/bin/env bash
# Builds the fuzzers with clang 14 (libFuzzer + ASan + UBSan) in build-fuzz/ and runs each for a
# bounded time over a fresh copy of its seed corpus: the safetensors header reader and the
# quantization_config reader.
#
#   scripts/run-fuzz.sh [SECONDS] [EXTRA LIBFUZZER FLAGS...]     (SECONDS per fuzzer, default 60)
#   FUZZ_TARGETS="quant_config" scripts/run-fuzz.sh 30           (only some of them)
#
# Exits non-zero when a fuzzer finds a crash, leak, timeout or out-of-memory; the input that
# triggered it is left in build-fuzz/fuzz/<target>/artifacts/ and the command that replays it is
# printed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: $0 [SECONDS] [LIBFUZZER FLAGS...]  (SECONDS: a positive integer)" >&2
  exit 2
fi
shift $(($# > 0 ? 1 : 0))

cc=$(command -v clang-14 || command -v clang || true)
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "run-fuzz: clang/clang++ 14 not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

build=build-fuzz
names=(${FUZZ_TARGETS:-safetensors_header quant_config})

# -O1 -g without NDEBUG: assertions stay on and stack traces stay readable.
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DOMNISAGE_BUILD_FUZZ=ON -DOMNISAGE_BUILD_TESTS=OFF >/dev/null
targets=()
for name in "${names[@]}"; do targets+=("${name}_fuzz"); done
ninja -C "$build" "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

for name in "${names[@]}"; do
  target="${name}_fuzz"
  seeds="tests/fuzz/corpus/$name"
  dict="tests/fuzz/$name.dict"
  work="$build/fuzz/$target"
  corpus="$work/corpus"
  artifacts="$work/artifacts/"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp "$seeds"/* "$corpus"/

  echo "run-fuzz: $target for ${seconds}s over $(ls "$corpus" | wc -l) seeds"
  set +e
  "$build/tests/fuzz/$target" "$corpus" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -dict="$dict" -artifact_prefix="$artifacts" -print_final_stats=1 "$@"
  rc=$?
  set -e

  if [ "$rc" -ne 0 ]; then
    echo "run-fuzz: $target FAILED (exit $rc); reproducers:" >&2
    ls -l "$artifacts" >&2 || true
    for f in "$artifacts"*; do
      [ -f "$f" ] && echo "  replay: $build/tests/fuzz/$target $f" >&2
    done
    exit "$rc"
  fi
  echo "run-fuzz: $target ran ${seconds}s without findings"
done
