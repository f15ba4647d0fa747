#!/usr/bin/env bash
# The --memory limit under the kernel's: the tiny preset answers a prompt with audio and an image,
# spoken, inside a memory cgroup of exactly the run's smallest --memory (the limit the planner
# names when refusing a smaller one), page cache included; the answer and the waveform are those
# of the run without a limit. Exit 0: passed; 2: skipped (no memory cgroup here); else failed.
#
#   tests/integration/memory_cgroup_test.sh OMNISAGE_BINARY
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN=${1:?omnisage binary}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$BIN" synth --preset tiny --out "$WORK/tiny" >/dev/null
python3 - "$WORK/tone.wav" <<'PY'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16000)))
                           for i in range(11200)))
PY
ASK=(run --model "$WORK/tiny" --prompt "What do you hear and see?" --audio "$WORK/tone.wav"
     --image "$ROOT/tests/golden/vision/exact.png" --max-tokens 6 --threads 2 --context 256
     --speak-max-frames 12 --speak-chunk 4 --json)

"$BIN" "${ASK[@]}" --speak "$WORK/free.wav" >"$WORK/free.json" 2>/dev/null
# The run's own minimum, from the planner's refusal of 1 KiB.
set +e
ERR=$("$BIN" "${ASK[@]}" --speak "$WORK/refused.wav" --memory 1KiB 2>&1 >/dev/null)
set -e
MIN=$(sed -n 's/.*is below the minimum of [^(]*(\([0-9]*\) bytes).*/\1/p' <<<"$ERR")
[[ -n "$MIN" ]] || { echo "no minimum in: $ERR" >&2; exit 1; }

set +e
OMNISAGE="$BIN" "$ROOT/bench/memory_cgroup.sh" "$MIN" -- "${ASK[@]}" --speak "$WORK/limited.wav" \
  --memory "$MIN" >"$WORK/limited.json" 2>"$WORK/limited.err"
RC=$?
set -e
cat "$WORK/limited.err" >&2
[[ $RC -eq 2 ]] && exit 2
[[ $RC -eq 0 ]] || { echo "FAILED: exit $RC under a cgroup of $MIN bytes" >&2; exit 1; }
python3 - "$WORK/free.json" "$WORK/limited.json" "$MIN" <<'PY'
import json, sys
free, limited, limit = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
assert limited["token_ids"] == free["token_ids"], "tokens differ under the limit"
m = limited["memory"]
assert m["memory_plan"]["limit_bytes"] == limit
assert m["ledger_peak_bytes"] <= m["memory_plan"]["ledger_limit_bytes"], m
assert m["peak_rss_bytes"] <= limit, m
print(f"tiny, audio + image + speech: limit {limit} bytes, peak RSS {m['peak_rss_bytes']}, "
      f"ledger peak {m['ledger_peak_bytes']}")
PY
cmp "$WORK/free.wav" "$WORK/limited.wav" || { echo "FAILED: the waveform differs" >&2; exit 1; }
echo "passed"
