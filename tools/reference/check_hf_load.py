#!/usr/bin/env python3
"""Prove that HF transformers reads checkpoints written by `omnisage synth` as the real thing.

For every checkpoint given:
  1. Build the transformers model from the checkpoint's config.json on the meta device and
     compare its state_dict (names and shapes) with the safetensors headers: no missing and no
     unexpected tensors, identical shapes. Works on `--preset full --sparse` (headers only).
  2. With --load: `from_pretrained` for real (tiny/small checkpoints), assert transformers
     reports no missing, unexpected or mismatched keys, run the thinker (or the Qwen3-MoE model)
     on a few tokens and check every layer's hidden states are finite and non-trivial.

Usage: check_hf_load.py [--load] CHECKPOINT_DIR [CHECKPOINT_DIR ...]
Exit status 0 when every check passes.
"""
import argparse
import json
import os
import re
import sys

import torch
from safetensors import safe_open
import transformers
from transformers import AutoConfig
from transformers.core_model_loading import revert_weight_conversion


def model_class(config):
    if config.model_type == "qwen3_omni_moe":
        return transformers.Qwen3OmniMoeForConditionalGeneration
    if config.model_type == "qwen3_moe":
        return transformers.Qwen3MoeForCausalLM
    raise SystemExit(f"unsupported model_type {config.model_type}")


def checkpoint_tensors(path):
    index_path = os.path.join(path, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index_path))["weight_map"].values()))
    shapes = {}
    for name in files:
        with safe_open(os.path.join(path, name), framework="pt") as f:
            for key in f.keys():
                shapes[key] = tuple(f.get_slice(key).get_shape())
    return shapes


EXPERT = re.compile(r"^(.*\.mlp\.experts)\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$")


def fold_experts(shapes):
    """Per-expert 2-D names -> the fused 3-D names transformers v5 uses in its state_dict.

    gate_up_proj is [E, 2I, H] (gate rows, then up rows); down_proj is [E, H, I]."""
    folded, groups = {}, {}
    for name, shape in shapes.items():
        m = EXPERT.match(name)
        if not m:
            folded[name] = shape
            continue
        g = groups.setdefault(m.group(1), {"experts": set(), "gate": None, "up": None, "down": None})
        g["experts"].add(int(m.group(2)))
        g[m.group(3).split("_")[0]] = shape
    for prefix, g in groups.items():
        n = len(g["experts"])
        if n != max(g["experts"]) + 1:
            raise SystemExit(f"{prefix}: expert indices are not 0..{n - 1}")
        folded[prefix + ".gate_up_proj"] = (n, g["gate"][0] + g["up"][0], g["gate"][1])
        folded[prefix + ".down_proj"] = (n, *g["down"])
    return folded


def check_names_and_shapes(path):
    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = model_class(config)._from_config(config, torch_dtype=torch.bfloat16)
    # transformers v5 renames some modules and fuses per-expert weights at load time. Ask it how it
    # would save itself (the reverse of its load-time conversion; shapes only, on meta tensors),
    # and compare in both layouts: as saved, and folded into the in-memory fused layout.
    saved = {k: tuple(v.shape) for k, v in revert_weight_conversion(model, model.state_dict()).items()}
    raw = checkpoint_tensors(path)
    if any(EXPERT.match(k) for k in raw):
        expected, actual = saved, raw
    else:
        expected, actual = fold_experts(saved), fold_experts(raw)
    n_params = sum(v.numel() for v in model.state_dict().values())
    print(f"{path}: transformers {transformers.__version__} builds {len(model.state_dict())} "
          f"tensors ({n_params:,} parameters) and would save {len(saved)}; the checkpoint holds "
          f"{len(raw)} ({sum(int(torch.Size(s).numel()) for s in raw.values()):,} parameters)")
    return expected, actual


def load_and_run(path):
    config = AutoConfig.from_pretrained(path)
    cls = model_class(config)
    model, info = cls.from_pretrained(path, torch_dtype=torch.bfloat16, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    print(f"{path}: from_pretrained loading info: {info}")
    if problems:
        return [f"from_pretrained reported {problems}"]
    errors = []
    torch.manual_seed(0)
    if config.model_type == "qwen3_omni_moe":
        lm = model.thinker
        vocab = config.thinker_config.text_config.vocab_size
    else:
        lm = model
        vocab = config.vocab_size
    ids = torch.randint(0, min(vocab, 3000), (1, 16))
    with torch.no_grad():
        out = lm(input_ids=ids, output_hidden_states=True)
    for i, h in enumerate(out.hidden_states):
        h = h.float()
        std = h.std().item()
        print(f"  hidden_states[{i}]: std {std:.4f}, max |x| {h.abs().max().item():.3f}")
        if not torch.isfinite(h).all():
            errors.append(f"hidden_states[{i}] not finite")
        if not (1e-3 < std < 1e3):
            errors.append(f"hidden_states[{i}] std {std} outside (1e-3, 1e3)")
    logits = out.logits.float()
    probs = logits.softmax(-1)
    top = probs.max(-1).values
    print(f"  logits: std {logits.std().item():.3f}, top-1 probability mean {top.mean().item():.4f}")
    if not torch.isfinite(logits).all():
        errors.append("logits not finite")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--load", action="store_true", help="also from_pretrained and run the model")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    failures = 0
    for path in args.paths:
        expected, actual = check_names_and_shapes(path)
        errors = []
        missing = sorted(set(expected) - set(actual))
        unexpected = sorted(set(actual) - set(expected))
        if missing:
            errors.append(f"{len(missing)} missing, e.g. {missing[:8]}")
        if unexpected:
            errors.append(f"{len(unexpected)} unexpected, e.g. {unexpected[:5]}")
        for k in sorted(set(expected) & set(actual)):
            if expected[k] != actual[k]:
                errors.append(f"shape of {k}: transformers {expected[k]}, checkpoint {actual[k]}")
        if args.load and not errors:
            errors += load_and_run(path)
        for e in errors[:20]:
            print(f"  FAIL: {e}")
        print(f"{path}: {'OK' if not errors else 'FAILED'}")
        failures += bool(errors)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
