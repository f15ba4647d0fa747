#!/usr/bin/env python3
"""Markdown tables from bench/reference_moe.sh's output directories, one column group per run.

Usage: reference_moe_report.py NAME=DIR [NAME=DIR ...]
"""
import json
import os
import sys

BUDGETS = [5, 10, 25, 50]
POLICIES = ["lru", "lfu", "cycle", "trust"]


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    runs = [arg.split("=", 1) for arg in sys.argv[1:]]
    if not runs:
        sys.exit(__doc__)
    print("### Routing locality (teacher-forced text, every expert resident)\n")
    print("| model | tokens | reused at the next token | reused within 8 tokens | "
          "top tenth of experts' share of uses | usage entropy / uniform |")
    print("|---|---|---|---|---|---|")
    for name, d in runs:
        loc = load(os.path.join(d, "sim-25.json"))["locality"]
        tokens = max(l["tokens"] for l in loc["layers"])
        print(f"| {name} | {tokens} | {100 * loc['reuse_next']:.1f}% | "
              f"{100 * loc['reuse_window']:.1f}% | {100 * loc['top_decile_share']:.1f}% | "
              f"{loc['usage_entropy']:.3f} |")
    print("\nPer layer (next / within 8 / top tenth):\n")
    print("| model | " + " | ".join(f"layer {l['layer']}" for l in
                                    load(os.path.join(runs[0][1], "sim-25.json"))["locality"]["layers"]) + " |")
    print("|---|" + "---|" * len(load(os.path.join(runs[0][1], "sim-25.json"))["locality"]["layers"]))
    for name, d in runs:
        loc = load(os.path.join(d, "sim-25.json"))["locality"]
        cells = [f"{100 * l['reuse_next']:.0f} / {100 * l['reuse_window']:.0f} / "
                 f"{100 * l['top_decile_share']:.0f}%" for l in loc["layers"]]
        print(f"| {name} | " + " | ".join(cells) + " |")

    print("\n### Simulator: hit rate by policy against Belady (same trace)\n")
    print("| model | budget | " + " | ".join(POLICIES + ["belady"]) + " |")
    print("|---|---|" + "---|" * (len(POLICIES) + 1))
    for name, d in runs:
        for b in BUDGETS:
            sim = load(os.path.join(d, f"sim-{b}.json"))
            rates = {r["policy"]: r["hit_rate"] for r in sim["results"]}
            print(f"| {name} | {b}% | " + " | ".join(
                f"{100 * rates[p]:.1f}%" for p in POLICIES + ["belady"]) + " |")

    print("\n### Live runs: hit rate (decode), next-layer prediction accuracy, bytes read per "
          "decoded token\n")
    print("| model | budget | policy | hit rate | of which prefetched | prediction right | "
          "KiB read / token | decode tok/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, d in runs:
        for b in BUDGETS:
            for p in POLICIES:
                j = load(os.path.join(d, f"live-{p}-{b}.json"))
                c = j["repetitions"][0]["cache_decode"]
                pre = c["prefetch_hits"] / c["accesses"] if c["accesses"] else 0
                print(f"| {name} | {b}% | {p} | {100 * c['hit_rate']:.1f}% | {100 * pre:.1f}% | "
                      f"{100 * c['prediction_accuracy']:.1f}% | "
                      f"{j['decode_bytes_read_per_token']['median'] / 1024:.0f} | "
                      f"{j['decode_tok_s']['median']:.0f} |")

    print("\n### SAGE against exact routing (bench/sage_vs_exact)\n")
    for name, d in runs:
        print(f"{name}:\n")
        with open(os.path.join(d, "sage.md")) as f:
            print(f.read())


if __name__ == "__main__":
    main()
