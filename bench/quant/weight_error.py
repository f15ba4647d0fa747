#!/usr/bin/env python3
"""How far an int4 or int8 expert store's weights are from the checkpoint it was extracted from.

    python3 bench/quant/weight_error.py MODEL STORE [STORE ...] [--max-files N]

MODEL is the bf16 checkpoint (per-expert tensors), each STORE an `omnisage extract --quant` store
of it. Every routed-expert projection of the store is dequantized as the engine does
(docs/quantization.md: int4 w = scale · (q − zero), GGML Q4_0 nibble order; int8 w = scale · q)
and compared with the source tensor. Prints one JSON object per store: its quantization, the
relative squared error Σ (w − ŵ)² / Σ w² overall and per projection (gate, up, down), and the
tensors compared. --max-files takes the first N expert files (in the manifest's order) only.
Needs numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"BF16": np.uint16, "F32": np.float32, "U8": np.uint8, "I8": np.int8}


class Safetensors:
    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            self.header = json.loads(f.read(n))
        self.base = 8 + n

    def names(self):
        return [k for k in self.header if k != "__metadata__"]

    def get(self, name: str) -> np.ndarray:
        t = self.header[name]
        begin, end = t["data_offsets"]
        a = np.fromfile(self.path, dtype=DTYPES[t["dtype"]], count=(end - begin) //
                        np.dtype(DTYPES[t["dtype"]]).itemsize, offset=self.base + begin)
        a = a.reshape(t["shape"])
        if t["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        return a


def dequantize(st: Safetensors, name: str, fmt: str, group) -> np.ndarray:
    q = st.get(name)
    scale = st.get(name + "_scale")
    if fmt == "int8":
        return q.astype(np.float32) * scale[:, None]
    rows = q.shape[0]
    blocks = q.reshape(rows, -1, 16)  # 32 values per 16 bytes: element j low, j + 16 high
    values = np.concatenate([blocks & 0x0F, blocks >> 4], axis=2).reshape(rows, -1)
    zero = st.get(name + "_zero_point").astype(np.float32)
    g = np.repeat(np.arange(values.shape[1] // group), group)
    return scale[:, g] * (values.astype(np.float32) - zero[:, g])


def source_index(model: str) -> dict:
    index = {}
    for f in sorted(os.listdir(model)):
        if f.endswith(".safetensors"):
            st = Safetensors(os.path.join(model, f))
            for name in st.names():
                index[name] = st
    return index


def measure(model_index: dict, store: str, max_files) -> dict:
    with open(os.path.join(store, "manifest.json")) as f:
        manifest = json.load(f)
    q = (manifest.get("quantization") or {}).get("experts") or {}
    fmt, group = q.get("format"), q.get("group")
    if fmt not in ("int4", "int8"):
        raise SystemExit(f"{store}: not an int4 or int8 store (quantization {q})")
    err, ref, tensors = {}, {}, 0
    files = [f for f in manifest["files"] if f["kind"] == "expert"]
    for f in files[:max_files] if max_files else files:
        st = Safetensors(os.path.join(store, f["path"]))
        for t in f["tensors"]:
            name = t["name"]
            if name.endswith("_scale") or name.endswith("_zero_point"):
                continue
            if name not in model_index:
                raise SystemExit(f"{store}: {name} is not a tensor of the checkpoint (fused "
                                 "sources are not supported)")
            w = model_index[name].get(name).astype(np.float64)
            d = dequantize(st, name, fmt, group).astype(np.float64) - w
            proj = name.split(".")[-2]
            err[proj] = err.get(proj, 0.0) + float((d * d).sum())
            ref[proj] = ref.get(proj, 0.0) + float((w * w).sum())
            tensors += 1
    return {"store": store, "format": fmt, "group": group, "rounding": q.get("rounding", "minmax"),
            "tensors": tensors, "relative_squared_error": sum(err.values()) / sum(ref.values()),
            "per_projection": {p: err[p] / ref[p] for p in sorted(err)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("stores", nargs="+")
    ap.add_argument("--max-files", type=int, default=0)
    a = ap.parse_args()
    index = source_index(a.model)
    for store in a.stores:
        print(json.dumps(measure(index, store, a.max_files)))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
