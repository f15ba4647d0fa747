#!/usr/bin/env python3
"""Golden fixtures for the text models, produced by HF transformers on generated weights.

For a checkpoint written by `omnisage synth --preset tiny [--arch ...] --seed S`, runs the
reference implementation in float32 (the bf16 weights are exact in float32, so this is the same
model as the engine's bf16-weights / fp32-activations arithmetic) and writes to OUT_DIR:

  meta.json    arch, preset, seed, transformers/torch versions, input_ids, logits shape,
               greedy_prompt and greedy_ids (32 tokens, argmax, no sampling)
  logits.f32   float32 little-endian logits [len(input_ids), vocab] for every position

With --text, the logits prompt is that text as the model's tokenizer.json encodes it (meta.json
then holds "text"), and --greedy-text the greedy prompt's text: for trained weights (the
reference MoE, docs/reference-moe.md), where real text is what the model knows.

Usage: make_golden.py --model DIR --arch qwen3_omni_moe|qwen3_moe --seed S --out OUT_DIR
                      [--text TEXT --greedy-text TEXT]
"""
import argparse
import json
import os
import random

import numpy as np
import torch
import transformers


def load(path, arch):
    if arch == "qwen3_omni_moe":
        model = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
            path, dtype=torch.float32)
        return model.thinker
    return transformers.Qwen3MoeForCausalLM.from_pretrained(path, dtype=torch.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--arch", required=True, choices=["qwen3_omni_moe", "qwen3_moe"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens", type=int, default=24, help="length of the logits prompt")
    ap.add_argument("--greedy", type=int, default=32, help="greedy tokens to generate")
    ap.add_argument("--text", help="logits prompt as text (encoded by the model's tokenizer.json)")
    ap.add_argument("--greedy-text", help="greedy prompt as text (with --text)")
    args = ap.parse_args()

    torch.manual_seed(0)
    model = load(args.model, args.arch).eval()
    vocab = model.config.get_text_config().vocab_size if hasattr(model.config, "get_text_config") else model.config.vocab_size
    rng = random.Random(1234)
    # Ordinary BPE ids (no specials), deterministic.
    input_ids = [rng.randrange(0, min(vocab, 4000)) for _ in range(args.tokens)]
    greedy_prompt = input_ids[:8]
    if args.text:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
        input_ids = tok.encode(args.text, add_special_tokens=False).ids
        greedy_prompt = tok.encode(args.greedy_text or args.text, add_special_tokens=False).ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([input_ids])).logits[0].float().numpy()
        ids = list(greedy_prompt)
        for _ in range(args.greedy):
            out = model(input_ids=torch.tensor([ids])).logits[0, -1]
            ids.append(int(torch.argmax(out)))
    os.makedirs(args.out, exist_ok=True)
    logits.astype("<f4").tofile(os.path.join(args.out, "logits.f32"))
    meta = {
        "arch": args.arch,
        "preset": args.preset,
        "seed": args.seed,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "dtype": "float32",
        "input_ids": input_ids,
        "logits_shape": list(logits.shape),
        "greedy_prompt": greedy_prompt,
        "greedy_ids": ids[len(greedy_prompt):],
    }
    if args.text:
        meta["text"] = args.text
        meta["greedy_text"] = args.greedy_text or args.text
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{args.out}: logits {logits.shape}, greedy {meta['greedy_ids']}")


if __name__ == "__main__":
    main()
