#!/usr/bin/env python3
"""Writes a synthetic routing trace (docs/simulate.md) for trying `omnisage simulate`.

The routing is made up, not recorded from a model: each layer has its own Zipf-like popularity over
the experts, and each token picks k distinct experts from it. The shapes default to the Qwen3-Omni
thinker (48 MoE layers, 128 experts, k = 8, 9 MiB per expert). Hit rates measured on such a trace
say how the policies behave on skewed random routing, nothing about a real model's.

  scripts/synthetic-trace.py --prefill 32 --decode 64 --seed 1 > /tmp/synthetic.jsonl
"""
import argparse
import json
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--experts", type=int, default=128)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--expert-bytes", type=int, default=9 * 1024 * 1024)
    ap.add_argument("--prefill", type=int, default=32, help="prompt tokens (one step)")
    ap.add_argument("--decode", type=int, default=64, help="generated tokens (a step each)")
    ap.add_argument("--skew", type=float, default=1.0, help="Zipf exponent of expert popularity")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    popularity = []
    for _ in range(a.layers):
        ranks = list(range(1, a.experts + 1))
        rng.shuffle(ranks)
        popularity.append([r ** -a.skew for r in ranks])

    header = {
        "omnisage_trace": 1,
        "model": "synthetic",
        "total_expert_bytes": a.layers * a.experts * a.expert_bytes,
        "components": [{
            "component": "thinker", "layers": a.layers, "experts": a.experts, "k": a.k,
            "expert_bytes": a.expert_bytes, "moe_layers": list(range(a.layers)),
        }],
    }
    print(json.dumps(header, separators=(",", ":")))

    def route(layer):
        chosen = set()
        while len(chosen) < a.k:
            chosen.add(rng.choices(range(a.experts), weights=popularity[layer])[0])
        experts = sorted(chosen)
        return experts, [round(1.0 / a.k, 6)] * a.k

    # A step runs every layer for all of its tokens: the prefill batch, then one token per step.
    steps = [list(range(a.prefill))] + [[a.prefill + i] for i in range(a.decode)]
    for step, positions in enumerate(steps):
        for layer in range(a.layers):
            for pos in positions:
                experts, weights = route(layer)
                print(json.dumps({"step": step, "pos": pos, "component": "thinker",
                                  "layer": layer, "experts": experts, "weights": weights},
                                 separators=(",", ":")))


if __name__ == "__main__":
    main()
