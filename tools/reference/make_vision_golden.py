"""Golden fixtures for the image processor (tests/golden/vision, spec §7.1).

Usage:
  tools/reference/make_vision_golden.py --out tests/golden/vision --model DIR

DIR is a checkpoint written by `omnisage synth --preset tiny --seed 0`; its preprocessor_config.json
(spec §1.6) configures transformers' Qwen2VLImageProcessorPil (the PIL path of
Qwen2VLImageProcessor: PIL bicubic resize, numpy rescale/normalise, merge-block patchify; needs
pillow 12: Pillow 13 orders the two resize passes differently, docs/vision.md). Writes:
  - OUT/<case>.png: the test images, written losslessly by PIL; the C++ test decodes the same files;
  - OUT/<case>.f32: pixel_values [patches, 1536] float32 little-endian;
  - OUT/meta.json: per case the image size, the size override passed to the call (if any) and
    image_grid_thw; and smart_resize's answers for a list of sizes (including 20000x20000).
"""
import argparse
import json
import os

import numpy as np
import PIL
import PIL.Image
import torch
import transformers
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    Qwen2VLImageProcessorPil, smart_resize)


def pattern(h, w, seed):
    """Edges, gradients and a noisy band: every resampling weight matters somewhere."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 7 + y * 3 + seed) % 256
    g = np.where((x // 5 + y // 3) % 2 == 0, 30 + (y * 11) % 200, 250 - (x * 5) % 120)
    b = ((x ^ y) * 5 + seed * 17) % 256
    img = np.stack([r, g, b], axis=-1).astype(np.uint8)
    rng = np.random.RandomState(seed)
    band = slice(h // 3, h // 3 + max(1, h // 6))
    img[band] = rng.randint(0, 256, size=img[band].shape).astype(np.uint8)
    return img


# (name, height, width, size override for the call or None)
CASES = [
    ("exact", 64, 96, None),          # already multiples of 32 within the bounds: no resampling
    ("dot", 1, 1, None),              # up to the minimum: 64 x 64
    ("down", 203, 150, {"shortest_edge": 1024, "longest_edge": 4096}),  # shrink ~3x: 64 x 32
    ("mixed", 45, 61, {"shortest_edge": 1024, "longest_edge": 12845056}),  # rows down, columns up
]

# smart_resize(h, w, factor 32, min, max) cases: ties of round(), both bounds, extreme shapes.
RESIZE_CASES = [
    (48, 80), (80, 48), (16, 16), (1, 1), (1, 199), (199, 1), (448, 448), (720, 1280),
    (1080, 1920), (3000, 4000), (20000, 20000), (4321, 1234), (33, 33), (47, 49), (96, 3),
    (10000, 60), (511, 513), (7, 1300),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True, help="omnisage synth --preset tiny --seed 0 checkpoint")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    proc = Qwen2VLImageProcessorPil.from_pretrained(args.model)
    cfg = json.load(open(os.path.join(args.model, "preprocessor_config.json")))
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "pillow": PIL.__version__, "processor": "Qwen2VLImageProcessorPil",
            "cases": [], "smart_resize": []}
    for i, (name, h, w, size) in enumerate(CASES):
        png = os.path.join(args.out, name + ".png")
        PIL.Image.fromarray(pattern(h, w, 5 + i), "RGB").save(png, optimize=True)
        img = transformers.image_utils.load_image(png)  # what the processor's callers pass
        kwargs = {"size": size} if size else {}
        out = proc(images=[img], return_tensors="np", **kwargs)
        pv = np.ascontiguousarray(out["pixel_values"], dtype="<f4")
        grid = [int(v) for v in out["image_grid_thw"][0]]
        pv.tofile(os.path.join(args.out, name + ".f32"))
        meta["cases"].append({"name": name, "height": h, "width": w, "size": size,
                              "grid_thw": grid, "patches": int(pv.shape[0]),
                              "patch_dim": int(pv.shape[1])})
    factor = cfg["patch_size"] * cfg["merge_size"]
    for h, w in RESIZE_CASES:
        for lo, hi in [(cfg["min_pixels"], cfg["max_pixels"]), (1024, 4096)]:
            rh, rw = smart_resize(h, w, factor=factor, min_pixels=lo, max_pixels=hi)
            meta["smart_resize"].append([h, w, lo, hi, rh, rw])
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
