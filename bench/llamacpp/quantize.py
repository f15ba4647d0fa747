#!/usr/bin/env python3
"""Quantize a GGUF with llama.cpp's own quantizer (llama_model_quantize, through llama-cpp-python).

    python3 bench/llamacpp/quantize.py IN.gguf OUT.gguf TYPE [--threads 2]

TYPE is a llama.cpp file type without its prefix: Q8_0, Q4_K_M, Q4_0, ... (LLAMA_FTYPE_MOSTLY_*).
llama.cpp's defaults otherwise, as `llama-quantize IN OUT TYPE` uses them: no importance matrix,
the output (lm_head) quantized by the type's own rule, 1-D tensors (norms) and the router F32.
The file is written to OUT.tmp and renamed when complete. Prints one JSON object: the type, the
seconds taken, and the output's tensor types (bench/llamacpp/gguf_summary.py).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_summary import summarize  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="input GGUF (BF16, from to_gguf.py)")
    ap.add_argument("out", help="output GGUF")
    ap.add_argument("type", help="llama.cpp file type: Q8_0, Q4_K_M, ...")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{args.type.upper()}", None)
    if ftype is None:
        raise SystemExit(f"{args.type}: not a llama.cpp file type (LLAMA_FTYPE_MOSTLY_{args.type.upper()} "
                         "does not exist in llama_cpp)")
    if not os.path.isfile(args.src):
        raise SystemExit(f"{args.src}: no such file")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = args.threads
    tmp = args.out + ".tmp"
    t0 = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(args.src.encode(), tmp.encode(), ctypes.byref(params))
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"llama_model_quantize({args.src} -> {args.type}) returned {rc}")
    os.replace(tmp, args.out)
    out = {"type": args.type.upper(), "source": args.src, "file": args.out, "seconds": seconds}
    out.update(summarize(args.out))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
