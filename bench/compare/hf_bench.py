#!/usr/bin/env python3
"""HF transformers on the CPU: load a checkpoint with from_pretrained (bf16) and time greedy
generation from given prompt ids, the way `omnisage bench` does.

    hf_bench.py CHECKPOINT_DIR --prompt-ids @FILE [--gen-tokens 64] [--repeat 3] [--warmup 1]
                [--threads 2]

One repetition: a forward pass over the whole prompt with an empty KV cache (logits of the last
position only), its argmax is the first token (time to first token = prefill time), then
gen-tokens - 1 single-token forward passes, each fed the previous argmax with the KV cache —
the same 1 + (gen-1) passes as `omnisage bench`. prefill tok/s = prompt tokens / prefill time,
decode tok/s = (gen-1) / decode time. JSON on stdout (medians, min and max over the timed
repetitions, every repetition, load time, and VmHWM after loading and at the end); progress on
stderr. Runs inside the reference venv (tools/reference/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def log(*a):
    print("hf:", *a, file=sys.stderr, flush=True)


def proc_status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out


def summary(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def read_ids(text: str) -> list[int]:
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    return [int(x) for x in text.replace("[", " ").replace("]", " ").replace(",", " ").split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="checkpoint directory (config.json + safetensors)")
    ap.add_argument("--prompt-ids", required=True, help="comma-separated ids or @FILE")
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, choices=(0, 1))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--forced-ids", metavar="IDS",
                    help="teacher forcing: decode step i feeds id i of this list (ids or @file, "
                         "gen-tokens - 1 of them) instead of the argmax")
    args = ap.parse_args()
    if args.gen_tokens < 2 or args.repeat < 1:
        raise SystemExit("--gen-tokens must be at least 2 and --repeat at least 1")
    prompt = read_ids(args.prompt_ids)
    if not prompt:
        raise SystemExit("--prompt-ids: no ids")
    forced = read_ids(args.forced_ids) if args.forced_ids else None
    if forced is not None and len(forced) < args.gen_tokens - 1:
        raise SystemExit(f"--forced-ids: {len(forced)} ids, fewer than gen-tokens - 1 = {args.gen_tokens - 1}")

    t_import = time.perf_counter()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    import_s = time.perf_counter() - t_import
    before_load = proc_status()
    log(f"transformers {transformers.__version__}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; loading {args.model}")
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16)
    model.eval()
    load_s = time.perf_counter() - t0
    after_load = proc_status()
    log(f"loaded in {load_s:.1f} s, peak RSS {after_load['VmHWM'] / 2**30:.2f} GiB")

    ids = torch.tensor([prompt], dtype=torch.long)

    def one_rep() -> dict:
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            tok = int(out.logits[0, -1].argmax())
            t1 = time.perf_counter()
            tokens = [tok]
            past = out.past_key_values
            for i in range(args.gen_tokens - 1):
                feed = forced[i] if forced is not None else tok
                out = model(input_ids=torch.tensor([[feed]], dtype=torch.long),
                            past_key_values=past, use_cache=True)
                past = out.past_key_values
                tok = int(out.logits[0, -1].argmax())
                tokens.append(tok)
            t2 = time.perf_counter()
        return {"prefill_s": t1 - t0, "decode_s": t2 - t1, "ttft_s": t1 - t0,
                "prefill_tok_s": len(prompt) / (t1 - t0),
                "decode_tok_s": (args.gen_tokens - 1) / (t2 - t1), "tokens": tokens}

    reps = []
    start = time.perf_counter()
    for i in range(-args.warmup, args.repeat):
        r = one_rep()
        what = "warm-up" if i < 0 else f"rep {i + 1}/{args.repeat}"
        log(f"{what}: prefill {r['prefill_tok_s']:.1f} tok/s, decode {r['decode_tok_s']:.2f} tok/s, "
            f"TTFT {r['ttft_s']:.2f} s ({time.perf_counter() - start:.0f} s elapsed)")
        if i >= 0:
            reps.append(r)
    end = proc_status()
    result = {
        "engine": f"HF transformers {transformers.__version__} (torch {torch.__version__})",
        "model": os.path.abspath(args.model),
        "dtype": "bfloat16",
        "threads": torch.get_num_threads(),
        "prompt_tokens": len(prompt),
        "gen_tokens": args.gen_tokens,
        "teacher_forced": forced is not None,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "import_s": import_s,
        "load_s": load_s,
        "rss_before_load_bytes": before_load.get("VmRSS"),
        "load_peak_rss_bytes": after_load.get("VmHWM"),
        "rss_after_load_bytes": after_load.get("VmRSS"),
        "peak_rss_bytes": end.get("VmHWM"),
        "rss_end": end,
        "prefill_tok_s": summary([r["prefill_tok_s"] for r in reps]),
        "decode_tok_s": summary([r["decode_tok_s"] for r in reps]),
        "ttft_s": summary([r["ttft_s"] for r in reps]),
        "repetitions": [{k: v for k, v in r.items() if k != "tokens"} for r in reps],
        "first_tokens": reps[0]["tokens"][:8],
        "same_tokens_every_rep": all(r["tokens"] == reps[0]["tokens"] for r in reps),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
