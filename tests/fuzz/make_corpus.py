#!/usr/bin/env python3
"""Writes the seed corpus of safetensors_header_fuzz: a few small valid and invalid files.

Usage: tests/fuzz/make_corpus.py [OUT_DIR]
(default: tests/fuzz/corpus/safetensors_header next to this script). Standard library only; the
output is deterministic, so re-running it leaves the committed corpus unchanged.
"""

import json
import os
import struct
import sys

DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}


def raw_file(header, data=b"", length=None):
    """8-byte little-endian header length (or `length`), the header bytes, then data."""
    if isinstance(header, str):
        header = header.encode()
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def numel(shape):
    out = 1
    for d in shape:
        out *= d
    return out


def st_file(tensors, metadata=None, pad=True):
    """A valid file as the reference writer lays it out: tensors back to back, header padded
    with spaces to a multiple of 8. `tensors` is a list of (name, dtype, shape)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape in tensors:
        nbytes = numel(shape) * DTYPE_SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + nbytes]}
        data += bytes((len(data) + i) * 37 % 256 for i in range(nbytes))
    text = json.dumps(header, separators=(",", ":"))
    if pad:
        text += " " * (-len(text) % 8)
    return raw_file(text, data)


def one(fields, data=b""):
    """A file with one tensor "w" whose entry is the JSON object text `fields`."""
    return raw_file('{"w":' + fields + "}", data)


def seeds():
    s = {}
    # Valid files.
    s["valid_writer_style"] = st_file(
        [("model.embed_tokens.weight", "BF16", [4, 2]), ("model.norm.weight", "F32", [2]),
         ("lm_head.scale", "F8_E4M3", [])], metadata={"format": "pt"})
    s["valid_all_dtypes"] = st_file([("t_" + d, d, [2]) for d in DTYPE_SIZES])
    s["valid_empty_tensors"] = st_file(
        [("a", "F32", [0]), ("b", "F16", [1, 3]), ("c", "BF16", [2, 0, 5])], metadata={})
    s["valid_empty_header"] = raw_file("{}")
    s["valid_unpadded_unordered"] = raw_file(
        '{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},'
        '"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
        '"__metadata__":{"format":"pt","k":"v"}}', b"abcd")
    s["valid_gap_and_trailing_bytes"] = raw_file(
        '{"x":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 12)
    # Invalid files.
    s["invalid_empty"] = b""
    s["invalid_short"] = b"\x02\x00\x00"
    s["invalid_length_past_end"] = raw_file("{}", length=1000)
    s["invalid_length_zero"] = raw_file("", length=0)
    s["invalid_length_over_limit"] = raw_file("{}", length=100_000_001)
    s["invalid_json"] = raw_file('{"w":{"dtype":')
    s["invalid_not_object"] = raw_file("[1,2,3]")
    s["invalid_entry_not_object"] = raw_file('{"w":[]}')
    s["invalid_missing_dtype"] = one('{"shape":[1],"data_offsets":[0,1]}', b"a")
    s["invalid_unknown_dtype"] = one('{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}', b"a")
    s["invalid_missing_shape"] = one('{"dtype":"U8","data_offsets":[0,1]}', b"a")
    s["invalid_negative_dim"] = one('{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}')
    s["invalid_float_dim"] = one('{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}', b"a")
    s["invalid_nested_dim"] = one(
        '{"dtype":"U8","shape":[' + "[" * 64 + "]" * 64 + '],"data_offsets":[0,0]}')
    s["invalid_shape_overflow"] = one(
        '{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}')
    s["invalid_bytes_overflow"] = one(
        '{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}')
    s["invalid_shape_range_mismatch"] = one(
        '{"dtype":"F32","shape":[2],"data_offsets":[0,4]}', b"abcd")
    s["invalid_end_before_begin"] = one(
        '{"dtype":"U8","shape":[2],"data_offsets":[4,2]}', b"abcd")
    s["invalid_offsets_arity"] = one('{"dtype":"U8","shape":[2],"data_offsets":[0,2,4]}', b"ab")
    s["invalid_overlap"] = raw_file(
        '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
        '"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}', b"abcdef")
    s["invalid_past_eof"] = one('{"dtype":"F32","shape":[4],"data_offsets":[0,16]}', b"abcd")
    s["invalid_metadata_not_object"] = raw_file('{"__metadata__":"pt"}')
    s["invalid_metadata_value"] = raw_file('{"__metadata__":{"format":1}}')
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "safetensors_header")
    os.makedirs(out, exist_ok=True)
    for name, content in sorted(seeds().items()):
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(content)
    print(f"wrote {len(seeds())} seeds to {out}")


if __name__ == "__main__":
    main()
