#!/usr/bin/env bash
# Measures `omnisage extract` against `cp` of the same bytes on the same disk, and its peak memory.
#
#   bench/extract_throughput.sh [WORKDIR]     (default WORKDIR: /tmp/omnisage-bench)
#
# Generates the `small` preset (7.2 GiB) once, then for each of cp and extract: drops the page
# cache when allowed (root), runs the copy, and syncs, timing copy + sync; three runs each,
# interleaved. Peak resident memory comes from GNU time. Prints a table and one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/omnisage-bench}
runs=${RUNS:-3}
omnisage=build/tools/omnisage/omnisage
[ -x "$omnisage" ] || scripts/build.sh >/dev/null
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
mkdir -p "$work"
model="$work/small"
if [ ! -f "$model/model.safetensors.index.json" ]; then
  "$omnisage" synth --preset small --out "$model"
fi
bytes=$(du -cb "$model"/*.safetensors | tail -1 | cut -f1)

cache=warm
[ -w /proc/sys/vm/drop_caches ] && cache=cold
drop_caches() {
  sync
  if [ "$cache" = cold ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

# run LABEL COMMAND... -> prints "seconds peak_kib"
run() {
  local label=$1; shift
  rm -rf "$work/out"
  mkdir -p "$work/out"
  drop_caches
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/time.txt" "$@" >/dev/null
  sync
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc -l) $(cat "$work/time.txt")"
}

cp_times=(); ex_times=(); ex_peak=0; cp_peak=0
for i in $(seq "$runs"); do
  read -r t m < <(run cp cp "$model"/*.safetensors "$work/out/")
  cp_times+=("$t"); [ "$m" -gt "$cp_peak" ] && cp_peak=$m
  read -r t m < <(run extract "$omnisage" extract "$model" --out "$work/out/store" --json)
  ex_times+=("$t"); [ "$m" -gt "$ex_peak" ] && ex_peak=$m
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cp_t=$(median "${cp_times[@]}"); ex_t=$(median "${ex_times[@]}")
cp_rate=$(echo "$bytes / $cp_t / 1048576" | bc -l); ex_rate=$(echo "$bytes / $ex_t / 1048576" | bc -l)
ratio=$(echo "$cp_t / $ex_t" | bc -l)
printf '%-8s %10s %12s %14s\n' tool "median s" "MiB/s" "peak RSS MiB"
printf '%-8s %10.2f %12.0f %14.1f\n' cp "$cp_t" "$cp_rate" "$(echo "$cp_peak/1024" | bc -l)"
printf '%-8s %10.2f %12.0f %14.1f\n' extract "$ex_t" "$ex_rate" "$(echo "$ex_peak/1024" | bc -l)"
printf 'extract throughput = %.0f%% of cp (%s page cache, %d runs each, %s bytes)\n' "$(echo "$ratio*100" | bc -l)" "$cache" "$runs" "$bytes"
printf '{"bytes": %s, "cache": "%s", "runs": %s, "cp_seconds": %s, "extract_seconds": %s, "extract_vs_cp": %.3f, "extract_peak_rss_bytes": %s, "cp_peak_rss_bytes": %s}\n' \
  "$bytes" "$cache" "$runs" "$cp_t" "$ex_t" "$ratio" "$((ex_peak*1024))" "$((cp_peak*1024))"
rm -rf "$work/out"
