#!/usr/bin/env python3
"""How far one model's next-token distributions are from another's, position by position.

    python3 bench/quant/kl.py REF.f32 TEST.f32 --vocab V [--ids IDS.json] [--skip N]

REF and TEST are float32 little-endian logits [n_tokens, V] of the same token ids, teacher-forced
(`omnisage eval --logits-out`, bench/llamacpp/logits.py). Per position t: KL(P_ref || P_test) in
nats over the softmax of each row (computed in float64), and whether the argmaxes agree. With
--ids (the ids that were fed), also the negative log-likelihood of the text's next token ids[t+1]
under each model (positions 0 … n−2), from which perplexity. --skip drops the first N positions.
Prints one JSON object: positions, mean / median / p99 / max KL, top-1 agreement, the mean NLL of
each and the share of positions whose ref argmax probability is below 0.5 (how flat REF is).
Needs numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def compare(ref: np.ndarray, test: np.ndarray, ids=None, chunk: int = 64) -> dict:
    """ref, test: [n, V] logits. Returns the statistics described in the module docstring."""
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: {ref.shape} against {test.shape}")
    n = ref.shape[0]
    kls = np.empty(n)
    agree = np.empty(n, dtype=bool)
    ref_top_p = np.empty(n)
    nll_ref, nll_test = [], []
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        lr, lt = log_softmax(ref[a:b]), log_softmax(test[a:b])
        pr = np.exp(lr)
        kls[a:b] = (pr * (lr - lt)).sum(axis=1)
        ar = lr.argmax(axis=1)
        agree[a:b] = ar == lt.argmax(axis=1)
        ref_top_p[a:b] = pr[np.arange(b - a), ar]
        if ids is not None:
            for t in range(a, min(b, n - 1)):
                nll_ref.append(-lr[t - a, ids[t + 1]])
                nll_test.append(-lt[t - a, ids[t + 1]])
    kls = np.maximum(kls, 0.0)  # rounding can leave -1e-17 where the rows are equal
    out = {
        "positions": int(n),
        "mean_kl": float(kls.mean()), "median_kl": float(np.median(kls)),
        "p99_kl": float(np.quantile(kls, 0.99)), "max_kl": float(kls.max()),
        "top1": float(agree.mean()),
        "ref_flat_share": float((ref_top_p < 0.5).mean()),
    }
    if ids is not None and nll_ref:
        out["nll_ref"] = float(np.mean(nll_ref))
        out["nll_test"] = float(np.mean(nll_test))
    return out


def read_logits(path: str, vocab: int) -> np.ndarray:
    size = os.path.getsize(path)
    if size == 0 or size % (4 * vocab):
        raise SystemExit(f"{path}: {size} bytes is not a whole number of float32 rows of {vocab}")
    return np.memmap(path, dtype="<f4", mode="r").reshape(-1, vocab)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref")
    ap.add_argument("test")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--ids", help="JSON array of the ids fed (for the next-token NLL)")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N positions")
    args = ap.parse_args()
    ref, test = read_logits(args.ref, args.vocab), read_logits(args.test, args.vocab)
    if ref.shape != test.shape:
        raise SystemExit(f"{args.ref} holds {ref.shape[0]} positions, {args.test} {test.shape[0]}")
    ids = None
    if args.ids:
        with open(args.ids) as f:
            ids = json.load(f)
        if len(ids) != ref.shape[0]:
            raise SystemExit(f"{args.ids}: {len(ids)} ids for {ref.shape[0]} positions of logits")
        ids = ids[args.skip:]
    out = compare(ref[args.skip:], test[args.skip:], ids)
    out.update({"ref": args.ref, "test": args.test, "skip": args.skip})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
