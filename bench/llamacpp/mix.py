#!/usr/bin/env python3
"""A GGUF with only its routed experts quantized: the expert tensors of a quantized GGUF (as
llama.cpp's quantizer wrote them, byte for byte) and every other tensor of the BF16 one.

    python3 bench/llamacpp/mix.py BF16.gguf QUANT.gguf OUT.gguf

Both files must come from the same checkpoint (bench/llamacpp/to_gguf.py, then quantize.py):
the same tensor names and shapes. The metadata is BF16.gguf's. This is llama.cpp's quantization
of the experts with the attention, embeddings and output left in BF16, as OmniSage's
`extract --quant` leaves them. Prints gguf_summary.py's JSON of the result. Needs `gguf`.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_summary import role_of, summarize  # noqa: E402


def main() -> int:
    if len(sys.argv) != 4:
        sys.exit("usage: mix.py BF16.gguf QUANT.gguf OUT.gguf")
    src, quant, out = sys.argv[1:]
    import gguf

    base = gguf.GGUFReader(src)
    q = {t.name: t for t in gguf.GGUFReader(quant).tensors}
    arch = base.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(out + ".tmp", arch)
    for field in base.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue  # written by the writer itself
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    chosen = []
    for t in base.tensors:
        if role_of(t.name) == "experts":
            if t.name not in q:
                sys.exit(f"{quant}: tensor {t.name} is missing")
            qt = q[t.name]
            if list(qt.shape) != list(t.shape):
                sys.exit(f"{quant}: tensor {t.name} has shape {list(qt.shape)}, {src} {list(t.shape)}")
            t = qt
        chosen.append(t)
        w.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for t in chosen:
        w.write_tensor_data(t.data)
    w.close()
    os.replace(out + ".tmp", out)
    print(json.dumps(dict(summarize(out), source=src, experts_from=quant, file=out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
