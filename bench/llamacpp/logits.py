#!/usr/bin/env python3
"""Teacher-forced logits of every position from llama.cpp (llama-cpp-python), as `omnisage eval`
writes them: float32 little-endian [n_tokens, n_vocab], row t the logits after ids[0..t].

    python3 bench/llamacpp/logits.py MODEL.gguf --ids IDS.json --out LOGITS.f32 [--threads 2]

IDS.json is a JSON array of token ids (as `omnisage tokenize` prints it). The ids are fed as they
are (no BOS is added, no tokenizer runs), in batches of --batch positions, with `logits_all` so
that llama.cpp keeps the logits of every position. CPU only, llama.cpp's defaults otherwise (f16
KV cache). Prints one JSON object: the model, tokens, vocabulary, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="GGUF file")
    ap.add_argument("--ids", required=True, help="JSON array of token ids")
    ap.add_argument("--out", required=True, help="float32 logits file to write")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512, help="positions per llama_decode call (512)")
    args = ap.parse_args()

    from llama_cpp import Llama

    with open(args.ids) as f:
        ids = json.load(f)
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise SystemExit(f"{args.ids}: expected a non-empty JSON array of token ids")
    n = len(ids)
    llm = Llama(model_path=args.model, n_gpu_layers=0, n_ctx=n, n_batch=min(n, args.batch),
                n_ubatch=min(n, args.batch), n_threads=args.threads, n_threads_batch=args.threads,
                logits_all=True, verbose=False)
    vocab = llm.n_vocab()
    if max(ids) >= vocab or min(ids) < 0:
        raise SystemExit(f"{args.ids}: id {max(ids)} is outside the model's vocabulary of {vocab}")
    t0 = time.perf_counter()
    llm.eval(ids)
    seconds = time.perf_counter() - t0
    scores = np.asarray(llm.scores[:n], dtype=np.float32)
    if scores.shape != (n, vocab) or not np.isfinite(scores).all():
        raise SystemExit(f"{args.model}: llama.cpp gave logits of shape {scores.shape} "
                         f"(expected {(n, vocab)}) or non-finite values")
    tmp = args.out + ".tmp"
    scores.astype("<f4").tofile(tmp)
    os.replace(tmp, args.out)
    print(json.dumps({"model": args.model, "tokens": n, "vocab": vocab, "seconds": seconds,
                      "threads": args.threads, "out": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
