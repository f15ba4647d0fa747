#!/usr/bin/env python3
"""Small checkpoints in the published quantized formats, written by the formats' own packages,
with the weights those packages dequantize them to (tests/golden/quant/, docs/quantization.md).

compressed-tensors (pip install compressed-tensors; 0.20.1 here): a few Linear weights quantized
and packed by its PackedQuantizationCompressor ("pack-quantized": int32 words, 32/num_bits values
each, weight_scale, weight_zero_point packed along the output dimension, weight_shape), the
config.json's quantization_config from its QuantizationConfig, and the weights its decompress
gives back, as float32, in reference.safetensors (same names, ".weight").

AutoAWQ GEMM (awq/): the autoawq package does not install beside this torch, so the packing is
AutoAWQ's WQLinear_GEMM.from_linear loop written out here (qweight [in, out/8] with the order
[0, 2, 4, 6, 1, 3, 5, 7] inside each word, qzeros the same, scales fp16 [groups, out]); the
reference weights come from compressed-tensors' own AutoAWQ converter (AutoAWQConverter:
unpack_awq, reverse_awq_order) and its dequantize, not from this packing.

GPTQ (gptq/): gptqmodel (an sdist) does not build here, and auto-gptq 0.7.1 installs only without
its dependencies (pip install --no-deps auto-gptq==0.7.1: its package __init__ then fails on
accelerate), so its QuantLinear (qlinear_cuda_old.py, loaded from its file) packs the layers
without activation order — qweight [in·bits/32, out] packed along the inputs, qzeros [groups,
out·bits/32] along the outputs and stored minus one (the v1 "gptq" format), scales fp16 — and
its CPU forward on an identity input gives the reference weights (fp16, as its kernels compute
them). Its pack ignores g_idx, so the act-order layer is packed by the same loop written out here
with a permuted g_idx, its reference scales[g_idx] · (q − z) computed from the integers before
packing. Cases: 4-bit asym g32, 8-bit per channel (auto-gptq); 4-bit sym act-order (here).

  /opt/ref-venv/bin/python tools/reference/make_quant_fixtures.py --out tests/golden/quant
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

import compressed_tensors
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
from compressed_tensors.quantization import (QuantizationArgs, QuantizationConfig,
                                             QuantizationScheme)


def minmax_qparams(w, args):
    """Scale and zero point per group (or per row) from the min and max, as the minmax observer."""
    out, inp = w.shape
    group = args.group_size if args.strategy == "group" else inp
    g = w.float().reshape(out, inp // group, group)
    lo = torch.clamp(g.amin(-1), max=0)
    hi = torch.clamp(g.amax(-1), min=0)
    qmin, qmax = -(1 << (args.num_bits - 1)), (1 << (args.num_bits - 1)) - 1
    if args.symmetric:
        scale = torch.maximum(lo.abs(), hi.abs()) / ((qmax - qmin) / 2)
        zp = torch.zeros_like(scale, dtype=torch.int8)
    else:
        scale = (hi - lo) / (qmax - qmin)
        zp = torch.clamp(torch.round(qmin - lo / scale), qmin, qmax).to(torch.int8)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale).to(w.dtype)
    return scale, zp


def compressed_tensors_fixture(out_dir):
    torch.manual_seed(0)
    modules = {
        # name: (out, in, weight args, group targets)
        "model.layers.0.mlp.experts.0.gate_proj": (16, 64, dict(num_bits=4, symmetric=True,
                                                                strategy="group", group_size=32)),
        "model.layers.0.mlp.experts.0.down_proj": (64, 16, dict(num_bits=4, symmetric=False,
                                                                strategy="group", group_size=16)),
        "model.layers.0.self_attn.q_proj": (24, 64, dict(num_bits=8, symmetric=False,
                                                         strategy="channel")),
        "model.layers.0.self_attn.o_proj": (20, 40, dict(num_bits=4, symmetric=True,
                                                         strategy="channel")),
    }
    groups, tensors, reference = {}, {}, {}
    for i, (name, (out, inp, wargs)) in enumerate(modules.items()):
        args = QuantizationArgs(type="int", **wargs)
        scheme = QuantizationScheme(targets=[f"re:{name.replace('.', chr(92) + '.')}$"],
                                    weights=args, format="pack-quantized")
        groups[f"group_{i}"] = scheme
        w = (torch.randn(out, inp) * 0.05).to(torch.bfloat16)
        scale, zp = minmax_qparams(w, args)
        packed = PackedQuantizationCompressor.compress(
            {"weight": w, "weight_scale": scale, "weight_zero_point": zp}, scheme)
        for k, v in packed.items():
            tensors[f"{name}.{k}"] = v.contiguous()
        back = PackedQuantizationCompressor.decompress(dict(packed), scheme)
        reference[f"{name}.weight"] = back["weight"].float().contiguous()
    # A module the config leaves unquantized, and the router it ignores by regex.
    tensors["model.layers.0.mlp.gate.weight"] = (torch.randn(8, 64) * 0.05).to(torch.bfloat16)
    tensors["lm_head.weight"] = (torch.randn(32, 64) * 0.05).to(torch.bfloat16)
    config = QuantizationConfig(config_groups=groups, format="pack-quantized",
                                quantization_status="compressed",
                                ignore=["lm_head", "re:.*mlp\\.gate$"])
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, f"{out_dir}/model.safetensors")
    save_file(reference, f"{out_dir}/reference.safetensors",
              metadata={"compressed_tensors": compressed_tensors.__version__,
                        "torch": torch.__version__})
    with open(f"{out_dir}/config.json", "w") as f:
        json.dump({"quantization_config": config.model_dump(exclude_none=False, mode="json")}, f,
                  indent=1)


def awq_pack(iweight_t):
    """AutoAWQ GEMM: [in, out] ints in [0, 15] -> int32 [in, out/8], order [0,2,4,6,1,3,5,7]."""
    order_map = [0, 2, 4, 6, 1, 3, 5, 7]
    rows, cols = iweight_t.shape
    packed = torch.zeros((rows, cols // 8), dtype=torch.int64)
    for col in range(cols // 8):
        for i in range(8):
            packed[:, col] |= iweight_t[:, col * 8 + order_map[i]].to(torch.int64) << (i * 4)
    return packed.to(torch.int32)  # wraps like AutoAWQ's int32 buffers


def awq_fixture(out_dir):
    from compressed_tensors.entrypoints.convert.converters.autoawq import AutoAWQConverter
    from compressed_tensors.quantization.lifecycle.forward import dequantize
    torch.manual_seed(1)
    modules = {"model.layers.0.mlp.experts.0.gate_proj": (16, 64, 32),
               "model.layers.0.mlp.experts.0.down_proj": (64, 16, 16),
               "model.layers.0.self_attn.q_proj": (32, 128, 128)}
    tensors, reference = {}, {}
    for name, (out, inp, group) in modules.items():
        groups = inp // group
        q = torch.randint(0, 16, (out, inp))
        z = torch.randint(0, 16, (out, groups))
        scales = (torch.rand(groups, out) * 0.01 + 1e-3).to(torch.float16)
        tensors[f"{name}.qweight"] = awq_pack(q.T.contiguous())
        tensors[f"{name}.qzeros"] = awq_pack(z.T.contiguous())
        tensors[f"{name}.scales"] = scales
        conv = AutoAWQConverter(bits=4, group_size=group, zero_point=True)
        w, s, zp = conv._convert_gemm_module(tensors[f"{name}.qweight"], scales,
                                             tensors[f"{name}.qzeros"])
        args = QuantizationArgs(num_bits=4, type="int", symmetric=False, strategy="group",
                                group_size=group)
        back = dequantize(x_q=w, scale=s.float(), zero_point=zp, args=args)
        reference[f"{name}.weight"] = back.float().contiguous()
    tensors["model.layers.0.mlp.gate.weight"] = (torch.randn(8, 64) * 0.05).to(torch.bfloat16)
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, f"{out_dir}/model.safetensors")
    save_file(reference, f"{out_dir}/reference.safetensors",
              metadata={"compressed_tensors": compressed_tensors.__version__})
    with open(f"{out_dir}/config.json", "w") as f:
        # Per-module group sizes differ here, which one AWQ config cannot say: the test reads each
        # module with its own; the config is the common form.
        json.dump({"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 32,
                                           "zero_point": True, "version": "gemm",
                                           "modules_to_not_convert": ["mlp.gate"]},
                   "omnisage_test_group_sizes": {k: v[2] for k, v in modules.items()}}, f, indent=1)


def gptq_pack(q, z, bits):
    """AutoGPTQ's QuantLinear.pack: q [out, in], z [groups, out] (true zeros) -> qweight, qzeros."""
    out, inp = q.shape
    pack = 32 // bits
    intweight = q.T.contiguous().to(torch.int64)  # [in, out]
    qweight = torch.zeros((inp // pack, out), dtype=torch.int64)
    for j in range(pack):
        qweight |= intweight[j::pack, :] << (bits * j)
    zeros = (z - 1).to(torch.int64) & ((1 << bits) - 1)  # v1: stored minus one
    qzeros = torch.zeros((z.shape[0], out // pack), dtype=torch.int64)
    for j in range(pack):
        qzeros |= zeros[:, j::pack] << (bits * j)
    wrap = lambda t: ((t + (1 << 31)) % (1 << 32) - (1 << 31)).to(torch.int32)
    return wrap(qweight), wrap(qzeros)


def auto_gptq_quant_linear():
    """auto-gptq's QuantLinear, loaded from its file (the package __init__ needs accelerate)."""
    import importlib.util
    spec = importlib.util.find_spec("auto_gptq")
    if spec is None:
        raise SystemExit("pip install --no-deps auto-gptq==0.7.1 (see the docstring)")
    path = f"{spec.submodule_search_locations[0]}/nn_modules/qlinear/qlinear_cuda_old.py"
    mod_spec = importlib.util.spec_from_file_location("qlinear_cuda_old", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.QuantLinear


def gptq_fixture(out_dir):
    QuantLinear = auto_gptq_quant_linear()
    torch.manual_seed(2)
    # name: (out, in, bits, group, sym, act_order)
    # auto-gptq packs whole words of 32 outputs and inputs.
    modules = {"model.layers.0.mlp.experts.0.gate_proj": (32, 64, 4, 32, False, False),
               "model.layers.0.mlp.experts.0.up_proj": (16, 64, 4, 32, True, True),
               "model.layers.0.self_attn.q_proj": (32, 64, 8, -1, False, False)}
    tensors, reference, schemes = {}, {}, {}
    for name, (out, inp, bits, group, sym, act) in modules.items():
        g = inp if group == -1 else group
        groups = inp // g
        maxq = (1 << bits) - 1
        if not act:
            # GPTQ's min-max quantizer per group, then auto-gptq's pack and CPU forward.
            w = (torch.randn(out, inp) * 0.05).to(torch.float16)
            wg = w.float().reshape(out, groups, g)
            lo, hi = torch.clamp(wg.amin(-1), max=0), torch.clamp(wg.amax(-1), min=0)
            scale = ((hi - lo) / maxq).clamp(min=1e-5)
            zero = torch.round(-lo / scale).clamp(1, maxq)  # v1 cannot store a zero of 0
            linear = torch.nn.Linear(inp, out, bias=False)
            linear.weight.data = w
            ql = QuantLinear(bits, g, inp, out, bias=False)
            ql.pack(linear, scale.to(torch.float16), zero.to(torch.float16),
                    torch.arange(inp) // g)
            tensors[f"{name}.qweight"] = ql.qweight.contiguous()
            tensors[f"{name}.qzeros"] = ql.qzeros.contiguous()
            tensors[f"{name}.scales"] = ql.scales.contiguous()
            tensors[f"{name}.g_idx"] = ql.g_idx.to(torch.int32).contiguous()
            with torch.no_grad():
                ref = ql(torch.eye(inp, dtype=torch.float16)).T
            reference[f"{name}.weight"] = ref.float().contiguous()
        else:
            q = torch.randint(0, 1 << bits, (out, inp))
            z = torch.full((groups, out), 1 << (bits - 1))
            scales = (torch.rand(groups, out) * 0.01 + 1e-3).to(torch.float16)
            g_idx = (torch.arange(inp) // g)[torch.randperm(inp)]
            qweight, qzeros = gptq_pack(q, z, bits)
            tensors[f"{name}.qweight"] = qweight
            tensors[f"{name}.qzeros"] = qzeros
            tensors[f"{name}.scales"] = scales
            tensors[f"{name}.g_idx"] = g_idx.to(torch.int32)
            w = scales.float()[g_idx].T * (q.float() - z.float()[g_idx].T)
            reference[f"{name}.weight"] = w.contiguous()
        schemes[name] = {"bits": bits, "group_size": group, "sym": sym, "desc_act": act}
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, f"{out_dir}/model.safetensors")
    save_file(reference, f"{out_dir}/reference.safetensors", metadata={"auto_gptq": "0.7.1"})
    with open(f"{out_dir}/config.json", "w") as f:
        json.dump({"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 32,
                                           "desc_act": False, "sym": False,
                                           "checkpoint_format": "gptq"},
                   "omnisage_test_schemes": schemes}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden/quant")
    args = ap.parse_args()
    compressed_tensors_fixture(f"{args.out}/compressed_tensors")
    awq_fixture(f"{args.out}/awq")
    gptq_fixture(f"{args.out}/gptq")


if __name__ == "__main__":
    main()
