#!/usr/bin/env python3
"""Draws training logs (train.py's train_log.jsonl) as one SVG: training loss (a running mean over
25 steps) and held-out loss against tokens seen, one colour per run. Standard library only.

Usage: plot_log.py --out loss.svg NAME=train_log.jsonl [NAME=train_log.jsonl ...]
"""
import argparse
import json
import math

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def read_log(path):
    tokens_per_step, train, held = None, [], []
    for line in open(path):
        rec = json.loads(line)
        if rec.get("event") == "start":
            a = rec["args"]
            tokens_per_step = a["batch"] * a["seq"]
        if "step" not in rec or "loss" not in rec:
            continue
        train.append((rec["step"], rec["loss"]))
        if "heldout_loss" in rec:
            held.append((rec["step"], rec["heldout_loss"]))
    # A resumed run logs steps again from its last save: keep the last record of each step.
    train = sorted(dict(train).items())
    held = sorted(dict(held).items())
    return tokens_per_step, train, held


def smooth(points, window=25):
    out, acc = [], []
    for step, loss in points:
        acc.append(loss)
        if len(acc) > window:
            acc.pop(0)
        out.append((step, sum(acc) / len(acc)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("runs", nargs="+")
    args = ap.parse_args()
    runs = []
    for spec in args.runs:
        name, path = spec.split("=", 1)
        runs.append((name,) + read_log(path))

    W, H, L, R, T, B = 720, 400, 60, 170, 30, 50
    max_tokens = max(tps * train[-1][0] for _, tps, train, _ in runs)
    losses = [l for _, _, train, held in runs for _, l in smooth(train) + held]
    lo, hi = math.floor(min(losses)), math.ceil(min(max(losses), 8.5))
    x = lambda t: L + (W - L - R) * t / max_tokens
    y = lambda l: T + (H - T - B) * (hi - min(l, hi)) / (hi - lo)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="18" font-size="14">Reference MoE and dense twin: loss per token '
           f'(nats) against training tokens</text>']
    for l in range(lo, hi + 1):
        svg.append(f'<line x1="{L}" x2="{W - R}" y1="{y(l):.1f}" y2="{y(l):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{L - 8}" y="{y(l) + 4:.1f}" text-anchor="end">{l}</text>')
    step = 10 ** math.floor(math.log10(max_tokens / 2))
    t = 0
    while t <= max_tokens:
        svg.append(f'<text x="{x(t):.1f}" y="{H - B + 18}" text-anchor="middle">{t / 1e6:g}M</text>')
        t += step
    svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">tokens</text>')
    for i, (name, tps, train, held) in enumerate(runs):
        c = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{x(s * tps):.1f},{y(l):.1f}" for s, l in smooth(train))
        svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        if held:
            pts = " ".join(f"{x(s * tps):.1f},{y(l):.1f}" for s, l in held)
            svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5" '
                       f'stroke-dasharray="5,3"/>')
            for s, l in held:
                svg.append(f'<circle cx="{x(s * tps):.1f}" cy="{y(l):.1f}" r="2.5" fill="{c}"/>')
        ly = T + 20 + 40 * i
        svg.append(f'<line x1="{W - R + 15}" x2="{W - R + 40}" y1="{ly}" y2="{ly}" stroke="{c}" '
                   f'stroke-width="2"/><text x="{W - R + 46}" y="{ly + 4}">{name} train</text>')
        svg.append(f'<line x1="{W - R + 15}" x2="{W - R + 40}" y1="{ly + 16}" y2="{ly + 16}" '
                   f'stroke="{c}" stroke-width="2" stroke-dasharray="5,3"/>'
                   f'<text x="{W - R + 46}" y="{ly + 20}">{name} held-out'
                   + (f' {held[-1][1]:.2f}' if held else '') + '</text>')
    svg.append("</svg>")
    tmp = args.out + ".part"
    with open(tmp, "w") as f:
        f.write("\n".join(svg) + "\n")
    import os
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
