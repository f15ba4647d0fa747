#!/bin/bash
# Real-time factor and time to first audio of speech output: OmniSage (one window of 300 frames
# as transformers decodes, and 25-frame streaming windows) against transformers on the CPU, for
# the same answer on the same generated checkpoint, with the same number of threads.
#
# Usage: bench/speech/speech_rtf.sh MODEL_DIR FRAMES [THREADS] [EXTRA_OMNISAGE_FLAGS...]
#   MODEL_DIR  e.g. `omnisage synth --preset small --sparse --out DIR` (zeros: the talker never
#              says codec_eos, so every run makes exactly FRAMES frames)
#   SKIP_TRANSFORMERS=1 skips the reference (the full preset needs more memory than this host).
# Prints one JSON line per system; the numbers are docs/speech.md's.
set -euo pipefail
model=$1
frames=$2
threads=${3:-2}
shift $(($# < 3 ? $# : 3))
here=$(cd "$(dirname "$0")" && pwd)
omnisage=${OMNISAGE:-$here/../../build/tools/omnisage/omnisage}
python=${PYTHON:-/opt/ref-venv/bin/python}
prompt="Hello, who are you?"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for chunk in 300 25; do
  "$omnisage" run --model "$model" --prompt "$prompt" --max-tokens 16 --threads "$threads" \
    --speak "$out/speech.wav" --speak-max-frames "$frames" --speak-chunk "$chunk" --json "$@" \
    2>/dev/null >"$out/run.json"
  python3 - "$out/run.json" "$chunk" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["speech"]
print(json.dumps({"system": f"omnisage chunk {sys.argv[2]}", "frames": s["frames"],
                  "audio_seconds": round(s["audio_seconds"], 3),
                  "talker_s": round(s["talker_seconds"], 3),
                  "code_predictor_s": round(s["code_predictor_seconds"], 3),
                  "code2wav_s": round(s["code2wav_seconds"], 3),
                  "real_time_factor": round(s["real_time_factor"], 3),
                  "first_audio_s": round(s["first_audio_seconds"], 3),
                  "peak_rss_bytes": j["peak_rss_bytes"]}))
PY
done
if [[ -z "${SKIP_TRANSFORMERS:-}" ]]; then
  # The same prompt and answer the engine spoke (its greedy ids).
  input=$("$omnisage" tokenize --model "$model" --text "<|im_start|>user
$prompt<|im_end|>
<|im_start|>assistant
" | tr -d '[] ')
  answer=$(python3 -c "import json; print(','.join(map(str, json.load(open('$out/run.json'))['token_ids'])))")
  "$python" "$here/transformers_speech.py" --model "$model" --input-ids "$input" \
    --answer-ids "$answer" --frames "$frames" --threads "$threads" 2>/dev/null
fi
