#!/usr/bin/env python3
"""Tables (Markdown) from the work directory of bench/quant/accuracy.sh and bench/quant/speed.sh.

    report.py accuracy WORK     the accuracy table: for each quantized model, its expert bits per
                                weight and bytes, mean / p99 / max KL of the next-token
                                distribution against the bf16 model of the same engine, top-1
                                agreement and the text's perplexity; llama.cpp's BF16 against
                                OmniSage's bf16 as the engines' own difference; what llama.cpp's
                                types store each tensor as
    report.py speed WORK        the speed table: prefill and decode tok/s of each store at each
                                budget and of each GGUF, decode as a ratio of the same engine's
                                bf16 (same budget) and of llama.cpp's matching type, MiB read per
                                decoded token, the load average around each run

Every number comes from the files in WORK; a step that failed or is missing says so. Python 3's
standard library only.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys

# OmniSage store -> the llama.cpp type of about the same width
MATCHING = {"bf16": "BF16", "int8": "Q8_0", "int8-dense8": "Q8_0", "int4-g128": "Q4_K_M",
            "int4-g64": "Q4_K_M", "int4-g32": "Q4_K_M"}


def load(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def mib(b) -> str:
    return "—" if b is None else f"{b / 2**20:,.1f}"


def sci(v) -> str:
    """KL values: 3 significant digits, exponent form below 0.01."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v:.2e}" if abs(v) < 0.01 else f"{v:.3f}"


def pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def ratio(a, b) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def fmt(v, digits=1) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def gguf_label(name: str) -> str:
    """Q8_0-experts (bench/llamacpp/mix.py) -> Q8_0, experts only."""
    return name[:-len("-experts")] + ", experts only" if name.endswith("-experts") else name


def store_label(name: str, rounding=None) -> str:
    """int4-g128 -> int4 g128; int4-g128-minmax with its manifest's rounding -> int4 g128, minmax;
    int8-dense8 -> int8, dense int8 (extract --quant-dense)."""
    if name.endswith("-dense8"):
        return store_label(name[:-len("-dense8")]) + ", dense int8"
    if name.startswith("int4-g"):
        group = name[len("int4-g"):].split("-", 1)[0]
        return f"int4 g{group}" + (f", {rounding}" if rounding else "")
    return name.replace("-", " ")


def order_key(name: str):
    """bf16, int8, then int4 by decreasing group, min–max rounding (-minmax) before search."""
    if name == "bf16":
        return (0, 0)
    if name == "int8":
        return (1, 0)
    if name == "int8-dense8":
        return (1, 1)
    if name.startswith("int4-g"):
        group, _, rounding = name[len("int4-g"):].partition("-")
        try:
            return (2, -int(group), rounding != "minmax", rounding)
        except ValueError:
            pass
    return (3, name)


def store_sizes(store_dir: str) -> dict:
    """Expert bytes and weight bytes of an expert store, from its manifest."""
    m = load(os.path.join(store_dir, "manifest.json"))
    if m is None:
        return {}
    expert = total = 0
    for f in m.get("files", []):
        if f.get("kind") == "extra":
            continue
        b = sum(t.get("bytes", 0) for t in f.get("tensors", []))
        total += b
        if f.get("kind") == "expert":
            expert += b
    q = (m.get("quantization") or {}).get("experts") or {}
    fmt = q.get("format", "bf16")
    # int4 stores from before the rounding was recorded were all min–max rounded
    rounding = q.get("rounding", "minmax") if fmt == "int4" else None
    return {"expert_bytes": expert, "weight_bytes": total, "format": fmt, "group": q.get("group"),
            "rounding": rounding}


def checkpoint_bytes(model_dir: str):
    try:
        return sum(os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir)
                   if f.endswith(".safetensors"))
    except OSError:
        return None


def load_line(run: dict) -> str:
    s, e = run.get("load_start"), run.get("load_end")
    if not s:
        return "—"
    text = "start " + " ".join(f"{x:.2f}" for x in s)
    if e:
        text += ", end " + " ".join(f"{x:.2f}" for x in e)
    return text


# --------------------------------------------------------------------------------------------
# accuracy


def accuracy(work: str) -> str:
    run = load(os.path.join(work, "run.json")) or {}
    ids = load(os.path.join(work, "ids.json")) or []
    bf16_gguf = load(os.path.join(work, "gguf", "BF16.json")) or {}
    expert_weights = bf16_gguf.get("expert_weights")
    lines = [
        f"Model `{run.get('model', '?')}`, text `{run.get('text', '?')}` ({len(ids)} tokens, "
        f"teacher-forced), {run.get('threads', '?')} threads, {run.get('cpu_model', '?')} "
        f"({run.get('logical_cpus', '?')} logical CPUs); {run.get('started', '?')} to "
        f"{run.get('finished', '?')}; load average {load_line(run)}.",
        "",
        f"Command: `{run.get('command', '?')}`",
        "",
        "| engine | weights | expert bits / weight | weight bytes | against | mean KL (nats) | p99 KL "
        "| max KL | top-1 agreement | perplexity of the text | Δ NLL (nats / token) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(engine, weights, bits, nbytes, against, k, error=None):
        if error:
            lines.append(f"| {engine} | {weights} | {bits} | — | — | not measured: {error} "
                         "| — | — | — | — | — |")
            return
        if k is None:
            lines.append(f"| {engine} | {weights} | {bits} | {nbytes} | {against} | missing | — | — "
                         "| — | — | — |")
            return
        ppl = math.exp(k["nll_test"]) if "nll_test" in k else None
        dn = k["nll_test"] - k["nll_ref"] if "nll_test" in k else None
        lines.append(f"| {engine} | {weights} | {bits} | {nbytes} | {against} | {sci(k['mean_kl'])} "
                     f"| {sci(k['p99_kl'])} | {sci(k['max_kl'])} | {pct(k['top1'])} "
                     f"| {fmt(ppl, 2)} | {'—' if dn is None else f'{dn:+.4f}'} |")

    def bits_of(expert_bytes):
        return "—" if not expert_weights or expert_bytes is None else f"{8 * expert_bytes / expert_weights:.2f}"

    # the references: each engine's bf16
    ref_nll = next((k.get("nll_ref") for k in map(load, sorted(glob.glob(os.path.join(work, "kl", "*.json"))))
                    if k and str(k.get("ref", "")).endswith("omnisage-bf16.f32")), None)
    ck_bytes = checkpoint_bytes(run["model"]) if run.get("model") else None
    lines.append(f"| OmniSage | bf16 (the checkpoint) | 16.00 | {mib_or_gib(ck_bytes)} | — | — | — | — | — "
                 f"| {fmt(math.exp(ref_nll) if ref_nll is not None else None, 2)} | — |")
    stores_dir = os.path.join(work, "stores")
    names = set()
    for p in glob.glob(os.path.join(stores_dir, "*")):
        base = os.path.basename(p)
        if base.endswith(".error"):
            names.add(base[:-6])
        elif os.path.isdir(p) and base != "bf16":
            names.add(base)
    for name in sorted(names, key=order_key):
        err_path = os.path.join(stores_dir, name + ".error")
        if os.path.exists(err_path):
            with open(err_path) as f:
                row("OmniSage", store_label(name), "—", None, None, None, error=f.read().strip() or "extract failed")
            continue
        s = store_sizes(os.path.join(stores_dir, name))
        row("OmniSage", store_label(name, s.get("rounding")), bits_of(s.get("expert_bytes")),
            mib_or_gib(s.get("weight_bytes")),
            "OmniSage bf16", load(os.path.join(work, "kl", f"omnisage-{name}.json")))
    types = sorted((os.path.basename(p)[:-5] for p in glob.glob(os.path.join(work, "gguf", "*.json"))),
                   key=lambda t: (t != "BF16", t))
    for t in types:
        g = load(os.path.join(work, "gguf", t + ".json")) or {}
        against = "OmniSage bf16" if t == "BF16" else "llama.cpp BF16"
        row("llama.cpp", gguf_label(t), fmt(g.get("expert_bits_per_weight"), 2), mib_or_gib(g.get("tensor_bytes")),
            against, load(os.path.join(work, "kl", f"llamacpp-{t}.json")))
    lines += ["", "What llama.cpp stored (tensor type: count of tensors, per role):", "",
              "| type | experts | attention | token_embd | output | router | norms |",
              "|---|---|---|---|---|---|---|"]
    for t in types:
        roles = (load(os.path.join(work, "gguf", t + ".json")) or {}).get("roles", {})

        def cell(r):
            ty = roles.get(r, {}).get("types", {})
            return ", ".join(f"{k} ×{v}" for k, v in sorted(ty.items())) or "—"

        lines.append(f"| {gguf_label(t)} | " + " | ".join(cell(r) for r in
                     ("experts", "attention", "token_embd", "output", "router", "norms")) + " |")
    return "\n".join(lines) + "\n"


def mib_or_gib(b) -> str:
    if b is None:
        return "—"
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"


# --------------------------------------------------------------------------------------------
# speed


def med(x):
    """A {median, min, max} summary's median, or a plain number."""
    if isinstance(x, dict):
        return x.get("median")
    return x


def span(x, digits=1) -> str:
    if isinstance(x, dict) and x.get("median") is not None:
        return f"{x['median']:.{digits}f} ({x['min']:.{digits}f}–{x['max']:.{digits}f})"
    return fmt(x, digits)


def read_load(path: str) -> str:
    try:
        with open(path) as f:
            parts = [line.split(None, 1) for line in f if line.strip()]
    except OSError:
        return "—"
    return " → ".join(p[1].split()[0] for p in parts if len(p) == 2)


def speed(work: str) -> str:
    run = load(os.path.join(work, "speed", "run.json")) or {}
    runs = {}
    for p in glob.glob(os.path.join(work, "speed", "omnisage-*.json")):
        base = os.path.basename(p)[len("omnisage-"):-5]
        store, _, budget = base.rpartition("-")
        runs[(store, budget)] = (load(p), read_load(p[:-5] + ".load"))
    llama = {}
    for p in glob.glob(os.path.join(work, "speed", "llamacpp-*.json")):
        t = os.path.basename(p)[len("llamacpp-"):-5]
        llama[t] = (load(p), read_load(p[:-5] + ".load"))

    def budget_key(b):
        return (0, 0) if b == "unlimited" else (1, -float(b)) if b.replace(".", "").isdigit() else (2, b)

    lines = [
        f"Model `{run.get('model', '?')}`, text `{run.get('text', '?')}`: {run.get('prompt_tokens', '?')} "
        f"prompt tokens, {run.get('gen_tokens', '?')} generated (teacher-forced), "
        f"{run.get('repeat', '?')} timed repetitions after 1 warm-up, {run.get('threads', '?')} threads, "
        f"{run.get('cpu_model', '?')} ({run.get('logical_cpus', '?')} logical CPUs); started "
        f"{run.get('started', '?')}.",
        "",
        f"Command: `{run.get('command', '?')}`",
        "",
        "| engine | weights | budget | expert bytes held | prefill tok/s | decode tok/s "
        "| decode ÷ bf16 (same engine, budget) | decode ÷ llama.cpp (matching type) "
        "| MiB read / decoded token | hit rate | load average before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for store, budget in sorted(runs, key=lambda k: (order_key(k[0]), budget_key(k[1]))):
        j, ld = runs[(store, budget)]
        label = "unlimited" if budget == "unlimited" else budget + "%"
        if j is None:
            lines.append(f"| OmniSage | {store_label(store)} | {label} | failed | — | — | — | — | — | — | {ld} |")
            continue
        held = j.get("budget_bytes") or j.get("total_expert_bytes")
        dec = med(j.get("decode_tok_s"))
        base = runs.get(("bf16", budget), (None, None))[0]
        m = llama.get(MATCHING.get(store, ""), (None, None))[0]
        read = med(j.get("decode_bytes_read_per_token"))
        lines.append(
            f"| OmniSage | {store_label(store)} | {label} | {mib_or_gib(held)} | {span(j.get('prefill_tok_s'))} "
            f"| {span(j.get('decode_tok_s'), 2)} | {ratio(dec, med(base.get('decode_tok_s')) if base else None)} "
            f"| {ratio(dec, m.get('decode_tok_s') if m else None)} "
            f"| {'0 (resident)' if budget == 'unlimited' else mib(read)} "
            f"| {pct(med(j.get('cache_hit_rate')))} | {ld} |")
    for t in sorted(llama, key=lambda t: (t != "BF16", t)):
        j, ld = llama[t]
        if j is None:
            lines.append(f"| llama.cpp | {t} | mmap, resident | failed | — | — | — | — | — | — | {ld} |")
            continue
        base = llama.get("BF16", (None, None))[0]
        touched = (j.get("bytes_per_decoded_token") or {}).get("weights_per_token")
        quiet = "" if j.get("all_reps_quiet", True) else " (other load during some repetitions)"
        lines.append(
            f"| llama.cpp | {t} | mmap, resident | {mib_or_gib(j.get('model_bytes'))} "
            f"| {fmt(j.get('prefill_tok_s'))} | {fmt(j.get('decode_tok_s'), 2)}{quiet} "
            f"| {ratio(j.get('decode_tok_s'), base.get('decode_tok_s') if base else None)} | — "
            f"| 0 (resident; {mib(touched)} of weights touched) | — | {ld} |")
    return "\n".join(lines) + "\n"


def cgroup_line(err_path: str):
    """(peak bytes, the cgroup's limit-reached count, last error line) from a memory_cgroup.sh
    stderr file."""
    try:
        with open(err_path) as f:
            text = f.read()
    except OSError:
        return None, None, None
    m = re.search(r"cgroup: limit (\d+) bytes .*?peak (\d+) bytes.*?limit reached: ([^,]*), exit (\d+)", text)
    errors = [l.strip() for l in text.splitlines() if "error" in l.lower()]
    peak = int(m.group(2)) if m else None
    return peak, (m.group(3).strip() if m else None), (errors[-1] if errors else None)


def limits(work: str) -> str:
    """The memory-limit regime of speed.sh (LIMITS): every engine inside the same cgroup."""
    rows = {}
    for p in glob.glob(os.path.join(work, "speed", "limit*-*.err")):
        base = os.path.basename(p)[:-4]
        share, engine, name = re.match(r"limit([\d.]+)-(omnisage|llamacpp)-(.+)", base).groups()
        rows[(float(share), engine, name)] = p[:-4]
    if not rows:
        return ""
    ckpt = checkpoint_bytes((load(os.path.join(work, "speed", "run.json")) or {}).get("model", ""))
    lines = [
        "",
        "Inside one memory limit (LIMITS): each engine alone in a fresh memory cgroup of the limit, "
        "page cache dropped first and counted; OmniSage `--memory LIMIT --embeddings disk --io "
        "direct`, llama.cpp mapping its GGUF.",
        "",
        "| limit | engine | weights | weight bytes | cgroup peak (with page cache) | prefill tok/s "
        "| decode tok/s | decode ÷ llama.cpp (matching type, same limit) | MiB read / decoded token "
        "| hit rate | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    decode = {}
    for key, stem in rows.items():
        j = load(stem + ".json")
        if j is not None:
            decode[key] = med(j.get("decode_tok_s"))
    for key in sorted(rows, key=lambda k: (-k[0], k[1] != "omnisage",
                                          order_key(k[2]) if k[1] == "omnisage" else (k[2] != "BF16", k[2]))):
        share, engine, name = key
        stem = rows[key]
        j = load(stem + ".json")
        peak, reached, error = cgroup_line(stem + ".err")
        limit = f"{share:g}% ({mib_or_gib(ckpt * share / 100) if ckpt else '?'})"
        if engine == "omnisage":
            s = store_sizes(os.path.join(work, "stores", name))
            weights, nbytes = store_label(name), s.get("weight_bytes")
        else:
            g = load(os.path.join(work, "gguf", name + ".json")) or {}
            weights, nbytes = name, g.get("tensor_bytes")
        if j is None:
            lines.append(f"| {limit} | {'OmniSage' if engine == 'omnisage' else 'llama.cpp'} | {weights} "
                         f"| {mib_or_gib(nbytes)} | {mib_or_gib(peak)} | — | — | — | — | — "
                         f"| did not run: {(error or 'failed (timeout or killed)').replace('|', '/')} |")
            continue
        if engine == "omnisage":
            m = decode.get((share, "llamacpp", MATCHING.get(name, "")))
            lines.append(
                f"| {limit} | OmniSage | {weights} | {mib_or_gib(nbytes)} | {mib_or_gib(peak)} "
                f"| {span(j.get('prefill_tok_s'))} | {span(j.get('decode_tok_s'), 2)} "
                f"| {ratio(med(j.get('decode_tok_s')), m)} | {mib(med(j.get('decode_bytes_read_per_token')))} "
                f"| {pct(med(j.get('cache_hit_rate')))} | |")
        else:
            lines.append(
                f"| {limit} | llama.cpp | {weights} | {mib_or_gib(nbytes)} | {mib_or_gib(peak)} "
                f"| {fmt(j.get('prefill_tok_s'))} | {fmt(j.get('decode_tok_s'), 2)} | — | — | — | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", choices=("accuracy", "speed"))
    ap.add_argument("work", help="the work directory of bench/quant/accuracy.sh / speed.sh")
    args = ap.parse_args()
    if not os.path.isdir(args.work):
        raise SystemExit(f"{args.work}: not a directory")
    sys.stdout.write(accuracy(args.work) if args.table == "accuracy"
                     else speed(args.work) + limits(args.work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
