#!/usr/bin/env python3
"""What a GGUF holds, by role: bytes, weights and the tensor types llama.cpp stored.

    python3 bench/llamacpp/gguf_summary.py MODEL.gguf        (one JSON object on stdout)

Roles: `experts` (the stacked ffn_{gate,up,down}_exps), `attention` (attn_q/k/v/output),
`token_embd`, `output` (lm_head), `router` (ffn_gate_inp) and `norms` (every other 1-D tensor).
For each: bytes, weights (elements) and {type name: tensor count}; `expert_bits_per_weight` is
8 × expert bytes ÷ expert weights. Needs the `gguf` package.
"""

from __future__ import annotations

import json
import os
import sys


def role_of(name: str) -> str:
    if "_exps." in name:
        return "experts"
    if name.startswith("token_embd."):
        return "token_embd"
    if name.startswith("output."):
        return "output"
    if ".ffn_gate_inp." in name:
        return "router"
    if ".attn_" in name and not name.endswith("_norm.weight"):
        return "attention"
    return "norms"


def summarize(path: str) -> dict:
    from gguf import GGUFReader

    r = GGUFReader(path)
    roles: dict[str, dict] = {}
    for t in r.tensors:
        role = roles.setdefault(role_of(t.name), {"bytes": 0, "weights": 0, "types": {}})
        role["bytes"] += int(t.n_bytes)
        role["weights"] += int(t.n_elements)
        tname = t.tensor_type.name
        role["types"][tname] = role["types"].get(tname, 0) + 1
    ex = roles.get("experts", {"bytes": 0, "weights": 0})
    return {
        "file_bytes": os.path.getsize(path),
        "tensor_bytes": sum(v["bytes"] for v in roles.values()),
        "expert_bytes": ex["bytes"], "expert_weights": ex["weights"],
        "expert_bits_per_weight": 8 * ex["bytes"] / ex["weights"] if ex["weights"] else None,
        "roles": roles,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gguf_summary.py MODEL.gguf")
    print(json.dumps(summarize(sys.argv[1])))
