#!/usr/bin/env python3
"""Convert a Qwen3-MoE checkpoint (as written by `omnisage synth --arch qwen3_moe`) to GGUF.

The output is what llama.cpp's own converter produces for Qwen3-MoE in BF16: architecture
`qwen3moe`, matrices kept in BF16 (the bytes are copied, never rounded), norms and the router in
F32, the routed experts stacked into one 3-D tensor per projection and layer, and the
tokenizer.json BPE vocabulary as a gpt2-style tokenizer with the `qwen2` pre-tokenizer.

    python3 bench/llamacpp/to_gguf.py CHECKPOINT_DIR OUT.gguf

Needs only `gguf` and `numpy` (no torch, no transformers). Tensors are read on demand and the
GGUF is written tensor by tensor, so peak memory is about one stacked expert tensor (128 experts
x 768 x 2048 x 2 bytes = 384 MiB for the Qwen3-30B-A3B shapes) or the embedding, not the model. Per-expert checkpoints (`mlp.experts.E.{gate,up,down}_proj.weight`) and fused ones
(`synth --fused`: `mlp.experts.gate_up_proj` [E, 2I, H] and `mlp.experts.down_proj` [E, H, I])
are both accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover - message for the user
    sys.exit("to_gguf.py needs the `gguf` package: pip install gguf numpy")

BF16 = gguf.GGMLQuantizationType.BF16
F32 = gguf.GGMLQuantizationType.F32


# --------------------------------------------------------------------------------------------
# safetensors, read with numpy memory maps


class Checkpoint:
    """All tensors of a (possibly sharded) safetensors checkpoint, by name, read on demand.

    Reads use pread into fresh arrays rather than memory maps, so pages already written out do
    not stay in the process's resident set."""

    def __init__(self, directory: Path):
        self.dir = directory
        index = directory / "model.safetensors.index.json"
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            files = sorted(set(weight_map.values()))
        elif (directory / "model.safetensors").is_file():
            files = ["model.safetensors"]
        else:
            raise SystemExit(f"{directory}: no model.safetensors.index.json or model.safetensors")
        self.entries: dict[str, tuple[int, str, list[int], int, int]] = {}
        for fname in files:
            path = directory / fname
            with open(path, "rb") as f:
                (hlen,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(hlen))
            fd = os.open(path, os.O_RDONLY)
            base = 8 + hlen
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                begin, end = info["data_offsets"]
                self.entries[name] = (fd, info["dtype"], list(info["shape"]), base + begin, base + end)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def names(self):
        return self.entries.keys()

    def shape(self, name: str) -> list[int]:
        return self.entries[name][2]

    def dtype(self, name: str) -> str:
        return self.entries[name][1]

    def raw(self, name: str) -> np.ndarray:
        """The tensor's elements as stored: BF16 as uint16, F32 as float32, F16 as float16."""
        fd, dtype, shape, begin, end = self.entries[name]
        np_dtype = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}.get(dtype)
        if np_dtype is None:
            raise SystemExit(f"{name}: dtype {dtype} is not supported (BF16, F16, F32 are)")
        buf = np.empty(end - begin, dtype=np.uint8)
        view, done = memoryview(buf), 0
        while done < len(buf):
            n = os.preadv(fd, [view[done:]], begin + done)
            if n <= 0:
                raise SystemExit(f"{name}: the file ends before the tensor does")
            done += n
        return buf.view(np_dtype).reshape(shape)


def to_f32(a: np.ndarray) -> np.ndarray:
    """BF16 (as uint16), F16 or F32 to F32, exactly."""
    if a.dtype == np.uint16:
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def to_bf16(a: np.ndarray) -> np.ndarray:
    """Keep BF16 bytes as they are; round F16/F32 to BF16 (nearest even) otherwise."""
    if a.dtype == np.uint16:
        return a
    u = a.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


# --------------------------------------------------------------------------------------------
# the plan: GGUF tensor name -> how to produce its data


class Out:
    def __init__(self, name: str, shape: tuple[int, ...], qtype, produce):
        self.name = name
        self.shape = shape  # numpy (row-major) order; GGUF stores it reversed
        self.qtype = qtype
        self.produce = produce  # () -> np.ndarray of the final dtype and shape

    @property
    def nbytes(self) -> int:
        n = int(np.prod(self.shape))
        return n * (4 if self.qtype == F32 else 2)


def plan_tensors(ck: Checkpoint, cfg: dict) -> list[Out]:
    n_layer = cfg["num_hidden_layers"]
    n_expert = expert_count(cfg)
    used: set[str] = set()
    outs: list[Out] = []

    def need(name: str) -> str:
        if name not in ck:
            raise SystemExit(f"tensor {name} is missing from the checkpoint")
        used.add(name)
        return name

    def matrix(gguf_name: str, hf_name: str, qtype=BF16):
        hf_name = need(hf_name)
        conv = to_f32 if qtype == F32 else to_bf16
        outs.append(Out(gguf_name, tuple(ck.shape(hf_name)), qtype, lambda: conv(ck.raw(hf_name))))

    def norm(gguf_name: str, hf_name: str):
        matrix(gguf_name, hf_name, F32)

    matrix("token_embd.weight", "model.embed_tokens.weight")
    for i in range(n_layer):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        norm(b + "attn_norm.weight", p + "input_layernorm.weight")
        matrix(b + "attn_q.weight", p + "self_attn.q_proj.weight")
        matrix(b + "attn_k.weight", p + "self_attn.k_proj.weight")
        matrix(b + "attn_v.weight", p + "self_attn.v_proj.weight")
        matrix(b + "attn_output.weight", p + "self_attn.o_proj.weight")
        norm(b + "attn_q_norm.weight", p + "self_attn.q_norm.weight")
        norm(b + "attn_k_norm.weight", p + "self_attn.k_norm.weight")
        norm(b + "ffn_norm.weight", p + "post_attention_layernorm.weight")
        # The router stays F32, as llama.cpp's converter and quantizer keep it.
        matrix(b + "ffn_gate_inp.weight", p + "mlp.gate.weight", F32)

        fused_gu = p + "mlp.experts.gate_up_proj"
        if fused_gu in ck or fused_gu + ".weight" in ck:
            gu = need(fused_gu if fused_gu in ck else fused_gu + ".weight")
            dn_name = p + "mlp.experts.down_proj"
            dn = need(dn_name if dn_name in ck else dn_name + ".weight")
            e, two_i, h = ck.shape(gu)
            inter = two_i // 2
            outs.append(Out(b + "ffn_gate_exps.weight", (e, inter, h), BF16,
                            lambda gu=gu, inter=inter: np.ascontiguousarray(to_bf16(ck.raw(gu)[:, :inter, :]))))
            outs.append(Out(b + "ffn_up_exps.weight", (e, inter, h), BF16,
                            lambda gu=gu, inter=inter: np.ascontiguousarray(to_bf16(ck.raw(gu)[:, inter:, :]))))
            outs.append(Out(b + "ffn_down_exps.weight", tuple(ck.shape(dn)), BF16,
                            lambda dn=dn: to_bf16(ck.raw(dn))))
        else:
            for proj, gname in (("gate_proj", "ffn_gate_exps"), ("up_proj", "ffn_up_exps"),
                                ("down_proj", "ffn_down_exps")):
                names = [need(f"{p}mlp.experts.{x}.{proj}.weight") for x in range(n_expert)]
                shape = tuple(ck.shape(names[0]))
                for n in names:
                    if tuple(ck.shape(n)) != shape:
                        raise SystemExit(f"{n}: shape {ck.shape(n)} differs from expert 0's {shape}")

                def stack(names=names, shape=shape):
                    out = np.empty((len(names),) + shape, dtype=np.uint16)
                    for x, n in enumerate(names):
                        out[x] = to_bf16(ck.raw(n))
                    return out

                outs.append(Out(b + gname + ".weight", (n_expert,) + shape, BF16, stack))

    norm("output_norm.weight", "model.norm.weight")
    if "lm_head.weight" in ck:
        matrix("output.weight", "lm_head.weight")
    elif not cfg.get("tie_word_embeddings", False):
        raise SystemExit("lm_head.weight is missing and tie_word_embeddings is false")
    # (tied embeddings: llama.cpp falls back to token_embd when output.weight is absent)

    left = sorted(set(ck.names()) - used)
    if left:
        raise SystemExit(f"{len(left)} checkpoint tensors have no GGUF counterpart, e.g. {left[:5]}")
    return outs


# --------------------------------------------------------------------------------------------
# hyper-parameters


def expert_count(cfg: dict) -> int:
    """num_experts (transformers 4) or num_local_experts (5)."""
    for key in ("num_experts", "num_local_experts"):
        if isinstance(cfg.get(key), int):
            return cfg[key]
    raise SystemExit("config.json has neither num_experts nor num_local_experts")


def write_hparams(w: gguf.GGUFWriter, cfg: dict, name: str) -> None:
    if cfg.get("model_type") not in ("qwen3_moe", None):
        raise SystemExit(f"config.json model_type is {cfg.get('model_type')!r}, expected qwen3_moe")
    if cfg.get("mlp_only_layers") or cfg.get("decoder_sparse_step", 1) != 1:
        raise SystemExit("dense (mlp_only) layers are not supported: every layer must be MoE")
    if not cfg.get("norm_topk_prob", True):
        print("warning: norm_topk_prob is false; llama.cpp's qwen3moe always renormalises the top-k",
              file=sys.stderr)
    # transformers 5 writes rope_parameters {rope_theta, rope_type} where 4 wrote rope_theta and
    # rope_scaling
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    if rope.get("rope_type", rope.get("type", "default")) not in ("default", None):
        raise SystemExit(f"rope scaling {rope} is not supported by this converter")
    rope_theta = cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 1000000.0))

    head_dim = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_name(name)
    w.add_type("model")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_freq_base(float(rope_theta))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    w.add_expert_count(expert_count(cfg))
    w.add_expert_used_count(cfg["num_experts_per_tok"])
    w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)


# --------------------------------------------------------------------------------------------
# tokenizer: tokenizer.json (HF tokenizers, ByteLevel BPE) -> gpt2 vocabulary, pre-tokenizer qwen2


def looks_like_control(text: str) -> bool:
    return text.startswith("<|") and text.endswith("|>")


def write_tokenizer(w: gguf.GGUFWriter, directory: Path, cfg: dict) -> int:
    tj = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    model = tj["model"]
    if model.get("type") != "BPE":
        raise SystemExit(f"tokenizer.json model type {model.get('type')!r}, expected BPE")
    tc_path = directory / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text(encoding="utf-8")) if tc_path.is_file() else {}

    by_id: dict[int, tuple[str, int]] = {}
    for text, i in model["vocab"].items():
        by_id[i] = (text, gguf.TokenType.NORMAL)
    for a in tj.get("added_tokens", []):
        ttype = gguf.TokenType.CONTROL if a.get("special") or looks_like_control(a["content"]) \
            else gguf.TokenType.USER_DEFINED
        by_id[a["id"]] = (a["content"], ttype)

    n_vocab = cfg.get("vocab_size", max(by_id) + 1)
    if max(by_id) >= n_vocab:
        raise SystemExit(f"tokenizer has id {max(by_id)} but vocab_size is {n_vocab}")
    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):  # ids the tokenizer does not use pad the vocabulary to the matrix rows
        text, ttype = by_id.get(i, (f"[PAD{i}]", gguf.TokenType.UNUSED))
        tokens.append(text)
        types.append(int(ttype))

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    if not merges:
        raise SystemExit("tokenizer.json has no merges")

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)

    ids = {text: i for i, (text, _) in by_id.items()}

    def special_id(key: str) -> int | None:
        tok = tc.get(key)
        if isinstance(tok, dict):
            tok = tok.get("content")
        if isinstance(tok, str) and tok in ids:
            return ids[tok]
        v = cfg.get(f"{key}_id")  # config.json fallback, as llama.cpp's SpecialVocab does
        return v if isinstance(v, int) else None

    if (i := special_id("bos_token")) is not None:
        w.add_bos_token_id(i)
    if (i := special_id("eos_token")) is not None:
        w.add_eos_token_id(i)
    if (i := special_id("pad_token")) is not None:
        w.add_pad_token_id(i)
    if (i := special_id("unk_token")) is not None:
        w.add_unk_token_id(i)
    w.add_add_bos_token(bool(tc.get("add_bos_token", False)))
    if isinstance(tc.get("chat_template"), str):
        w.add_chat_template(tc["chat_template"])
    return n_vocab


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path, help="checkpoint directory (config.json, safetensors, tokenizer.json)")
    ap.add_argument("out", type=Path, help="GGUF file to write")
    ap.add_argument("--name", default=None, help="general.name (default: the directory name)")
    args = ap.parse_args()

    t0 = time.time()
    cfg = json.loads((args.checkpoint / "config.json").read_text())
    ck = Checkpoint(args.checkpoint)
    outs = plan_tensors(ck, cfg)

    w = gguf.GGUFWriter(args.out, "qwen3moe")
    write_hparams(w, cfg, args.name or args.checkpoint.name)
    n_vocab = write_tokenizer(w, args.checkpoint, cfg)
    for o in outs:
        # tensor_dtype uint16 with raw_dtype BF16: the shape is taken as given (elements, not bytes)
        w.add_tensor_info(o.name, o.shape, np.dtype(np.float32 if o.qtype == F32 else np.uint16),
                          o.nbytes, raw_dtype=o.qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    total = 0
    for k, o in enumerate(outs):
        data = o.produce()
        if tuple(data.shape) != o.shape or data.nbytes != o.nbytes:
            raise SystemExit(f"{o.name}: produced {data.shape} {data.dtype}, planned {o.shape}")
        w.write_tensor_data(data)
        total += o.nbytes
        if sys.stderr.isatty():
            print(f"\r{k + 1}/{len(outs)} tensors, {total / 2**30:.2f} GiB", end="", file=sys.stderr)
    w.close()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: qwen3moe, {len(outs)} tensors, vocab {n_vocab}, "
          f"{size:,} bytes ({size / 2**30:.2f} GiB) in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
