#!/usr/bin/env python3
"""Trains the reference MoE (Qwen3-MoE layout) or its dense twin on prepare.py's tokens.

The MoE: 6 layers, hidden 256, 4 query heads and 2 key/value heads of 64, 64 experts of
intermediate 64 with 8 active per token, untied embeddings over the tiny preset's 4096-token
vocabulary: 22.3M parameters (44.6 MB in bf16), 3.6M active per token. The dense twin has the same
attention and one MLP of intermediate 512, so its active parameters per token equal the MoE's.

Deterministic for a seed (one process, fixed thread count, seeded batches). Resumable: the state
(model, optimizer, step, data position) is saved every --save-every steps to OUT/state.pt through a
temporary file, and a run started again continues from it; --steps may change on resume (the
cosine schedule then follows the new length from the step reached). Every step is logged to
OUT/train_log.jsonl; held-out loss every --eval-every steps. At the end the weights are written in
bf16 as a Hugging Face checkpoint to OUT/model/ (config.json, model.safetensors, the tokenizer)
with OUT/summary.json.

Usage: train.py --data PREPARED_DIR --tokenizer TOKENIZER_DIR --out OUT_DIR [--dense]
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch

VOCAB = 4096


def model_config(args, tok_cfg):
    common = dict(
        vocab_size=VOCAB, hidden_size=256, num_hidden_layers=6, num_attention_heads=4,
        num_key_value_heads=2, head_dim=64, max_position_embeddings=4096, rope_theta=1e6,
        rms_norm_eps=1e-6, tie_word_embeddings=False, attention_bias=False, hidden_act="silu",
        initializer_range=0.02, bos_token_id=tok_cfg["eot"], eos_token_id=tok_cfg["im_end"],
        pad_token_id=tok_cfg["eot"], use_cache=False)
    if args.dense:
        from transformers import Qwen3Config
        return Qwen3Config(intermediate_size=512, **common)
    from transformers import Qwen3MoeConfig
    return Qwen3MoeConfig(
        intermediate_size=512, moe_intermediate_size=64, num_experts=64, num_experts_per_tok=8,
        norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[],
        router_aux_loss_coef=args.aux, output_router_logits=True,
        experts_implementation=args.experts_impl, **common)


def build_model(cfg, dense):
    from transformers import Qwen3ForCausalLM, Qwen3MoeForCausalLM
    cls = Qwen3ForCausalLM if dense else Qwen3MoeForCausalLM
    return cls(cfg)


class Batches:
    """Seeded random windows of seq+1 tokens; the position is the step, so resuming replays."""

    def __init__(self, tokens, batch, seq, seed):
        self.tokens, self.batch, self.seq, self.seed = tokens, batch, seq, seed

    def get(self, step):
        g = np.random.default_rng([self.seed, step])
        starts = g.integers(0, len(self.tokens) - self.seq - 1, size=self.batch)
        x = np.stack([self.tokens[s:s + self.seq + 1] for s in starts]).astype(np.int64)
        return torch.from_numpy(x)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def heldout_loss(model, tokens, seq, max_windows):
    model.eval()
    n = min(max_windows, (len(tokens) - 1) // seq)
    total, count = 0.0, 0
    for i in range(0, n, 8):
        rows = [tokens[j * seq:j * seq + seq + 1] for j in range(i, min(n, i + 8))]
        x = torch.from_numpy(np.stack(rows).astype(np.int64))
        logits = model(input_ids=x[:, :-1]).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        count += x[:, 1:].numel()
    model.train()
    return total / count


def progress(step, steps, loss, rate, eta):
    if not sys.stderr.isatty():
        return
    width = 30
    done = int(width * step / steps)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{steps} loss {loss:.3f} "
                     f"{rate:,.0f} tok/s ETA {eta / 60:.1f} min ")
    sys.stderr.flush()


def atomic_save(obj, path):
    tmp = path + ".part"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dense", action="store_true")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--aux", type=float, default=0.001, help="router load-balancing loss weight")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-windows", type=int, default=256)
    ap.add_argument("--experts-impl", default="grouped_mm",
                    help="transformers' experts implementation (eager, batched_mm, grouped_mm)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    tok_cfg = {"eot": tok.token_to_id("<|endoftext|>"), "im_end": tok.token_to_id("<|im_end|>")}
    assert tok.get_vocab_size() <= VOCAB

    train_tokens = np.fromfile(os.path.join(args.data, "train.bin"), dtype=np.uint16)
    held_tokens = np.fromfile(os.path.join(args.data, "heldout.bin"), dtype=np.uint16)
    cfg = model_config(args, tok_cfg)
    model = build_model(cfg, args.dense)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    batches = Batches(train_tokens, args.batch, args.seq, args.seed)
    log_path = os.path.join(args.out, "train_log.jsonl")
    state_path = os.path.join(args.out, "state.pt")
    step = 0
    if os.path.exists(state_path):
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        torch.set_rng_state(state["rng"])
        with open(log_path, "a") as f:
            f.write(json.dumps({"event": "resumed", "step": step, "steps": args.steps}) + "\n")
        print(f"train: resumed at step {step} of {args.steps}", file=sys.stderr)
    else:
        with open(log_path, "w") as f:
            f.write(json.dumps({"event": "start", "args": vars(args),
                                "parameters": sum(p.numel() for p in model.parameters())}) + "\n")
    model.train()
    t0, tokens_done = time.time(), 0
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        x = batches.get(step)
        out = model(input_ids=x[:, :-1])
        logits = out.logits.float()
        lm_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), x[:, 1:].reshape(-1))
        loss = lm_loss
        aux = getattr(out, "aux_loss", None)
        if aux is not None:
            loss = loss + args.aux * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
        opt.step()
        step += 1
        tokens_done += x[:, :-1].numel()
        rate = tokens_done / (time.time() - t0)
        rec = {"step": step, "loss": round(lm_loss.item(), 5), "lr": lr_at(step - 1, args),
               "grad_norm": round(gnorm, 4), "tok_per_s": round(rate, 1)}
        if aux is not None:
            rec["aux_loss"] = round(aux.item(), 5)
        if step % args.eval_every == 0 or step == args.steps:
            rec["heldout_loss"] = round(heldout_loss(model, held_tokens, args.seq, args.eval_windows), 5)
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        progress(step, args.steps, lm_loss.item(), rate,
                 (args.steps - step) * args.batch * args.seq / max(rate, 1e-9))
        if step % args.save_every == 0 or step == args.steps:
            atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                         "rng": torch.get_rng_state()}, state_path)
    if sys.stderr.isatty():
        sys.stderr.write("\n")

    # Final: full held-out perplexity and the bf16 checkpoint.
    full_held = heldout_loss(model, held_tokens, args.seq, 10**9)
    model_dir = os.path.join(args.out, "model")
    tmp_dir = model_dir + ".part"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    cfg.output_router_logits = False
    cfg.use_cache = True
    model.to(torch.bfloat16).save_pretrained(tmp_dir, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(args.tokenizer, name)
        if os.path.exists(src):
            shutil.copy(src, tmp_dir)
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(tmp_dir, model_dir)
    summary = {"kind": "dense" if args.dense else "moe", "steps": step,
               "parameters": sum(p.numel() for p in model.parameters()),
               "heldout_loss": round(full_held, 5), "heldout_perplexity": round(math.exp(full_held), 3),
               "heldout_tokens": int(len(held_tokens)), "train_tokens_seen": step * args.batch * args.seq}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
