#!/usr/bin/env python3
"""Golden fixtures for images the decoders must treat as PIL does (tests/golden/vision/edge).

Usage:
  tools/reference/make_image_edge_golden.py --out tests/golden/vision/edge [--model DIR]

Writes small files and what transformers' load_image (PIL: exif_transpose, convert("RGB")) makes
of them:
  - animated.png: an animated PNG (APNG, 3 frames of 40x30, written by PIL with save_all); PIL
    shows its default image (the first frame);
  - deep16.png: a 16-bit RGB PNG (37x23, written here chunk by chunk: PIL cannot write 16-bit RGB);
    PIL reduces each sample to its high byte;
  - OUT/<name>.rgb: load_image's pixels [height, width, 3] uint8;
  - OUT/meta.json: per file its size and, with --model (a `synth --preset tiny --seed 0`
    checkpoint), Qwen2VLImageProcessorPil's image_grid_thw and the image's token count.
"""
import argparse
import json
import os
import struct
import zlib

import numpy as np
import PIL
import PIL.Image
import transformers


def frame(t, h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 9 + t * 80) % 256, (y * 7 + t * 40) % 256, ((x ^ y) * 5 + t) % 256],
                    axis=-1).astype(np.uint8)


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def write_png16(path, rgb16):
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[r].astype(">u2").tobytes() for r in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="omnisage synth --preset tiny --seed 0 checkpoint")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    animated = os.path.join(args.out, "animated.png")
    frames = [PIL.Image.fromarray(frame(t, 30, 40), "RGB") for t in range(3)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100, loop=0)
    deep = os.path.join(args.out, "deep16.png")
    y, x = np.mgrid[0:23, 0:37]
    rgb16 = np.stack([x * 1771 + y * 13, y * 2833 + x, (x * y * 97) % 65536], axis=-1) % 65536
    write_png16(deep, rgb16.astype(np.uint16))

    meta = {"transformers": transformers.__version__, "pillow": PIL.__version__, "files": []}
    proc = None
    if args.model:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import \
            Qwen2VLImageProcessorPil
        proc = Qwen2VLImageProcessorPil.from_pretrained(args.model)
    for path in (animated, deep):
        with PIL.Image.open(path) as im:
            n_frames = getattr(im, "n_frames", 1)
        img = transformers.image_utils.load_image(path)
        rgb = np.asarray(img, dtype=np.uint8)
        rgb.tofile(path[:-4] + ".rgb")
        entry = {"file": os.path.basename(path), "width": img.width, "height": img.height,
                 "frames": n_frames}
        if proc is not None:
            grid = [int(v) for v in proc(images=[img], return_tensors="np")["image_grid_thw"][0]]
            entry["grid_thw"] = grid
            entry["tokens"] = grid[0] * grid[1] * grid[2] // 4
        meta["files"].append(entry)
        print(entry)
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
