#!/usr/bin/env bash
# extract -> verify -> repack on a generated preset, then compares the repacked checkpoint with
# the source byte for byte (every shard, the index, config and tokenizer files).
#
#   bench/store_roundtrip.sh [PRESET] [WORKDIR]     (defaults: small, /tmp/omnisage-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-small}
work=${2:-/tmp/omnisage-bench}
omnisage=build/tools/omnisage/omnisage
[ -x "$omnisage" ] || scripts/build.sh >/dev/null
model="$work/$preset"
mkdir -p "$work"
if [ ! -f "$model/model.safetensors.index.json" ]; then
  "$omnisage" synth --preset "$preset" --out "$model"
fi
rm -rf "$work/$preset-store" "$work/$preset-repacked"
"$omnisage" extract "$model" --out "$work/$preset-store"
"$omnisage" verify "$work/$preset-store"
"$omnisage" repack "$work/$preset-store" --out "$work/$preset-repacked"
status=0
for f in "$model"/*; do
  name=$(basename "$f")
  if cmp -s "$f" "$work/$preset-repacked/$name"; then
    echo "identical: $name"
  else
    echo "DIFFERENT: $name"; status=1
  fi
done
[ "$status" -eq 0 ] && echo "round trip of $preset: byte-identical"
rm -rf "$work/$preset-store" "$work/$preset-repacked"
exit $status
