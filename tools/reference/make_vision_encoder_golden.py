#!/usr/bin/env python3
"""Golden fixtures for the vision encoder and images in the thinker, produced by HF transformers.

DIR (--model) is a checkpoint written by `omnisage synth --preset tiny --seed 0`.

  encoder  thinker.visual (Qwen3OmniMoeVisionEncoder, float32) on pixel values that the C++ test
           rebuilds bit for bit: either an image processor fixture of tests/golden/vision
           (<case>.f32, from make_vision_golden.py) or synthetic patches
           ((i·7919 + seed·104729) mod 2001 − 1000) / 1000 in float32, for a list of grids:
             exact:  the 96×64 image, grid (1, 4, 6)
             two:    exact and mixed in one call, grids (1, 4, 6) and (1, 2, 4)
             wide:   synthetic (1, 10, 14): a grid wider than the 8×8 position table
             video:  synthetic (3, 4, 6): three frames, attention within each
           Writes encoder/<case>.f32: the merger output [tokens, out] then each deepstack level
           [tokens, out], float32 little-endian.

  thinker  Qwen3OmniMoeForConditionalGeneration(...).thinker (float32) on ChatML prompts with
           images (the PNG files of tests/golden/vision through Qwen2VLImageProcessorPil with the
           checkpoint's preprocessor_config.json) and audio (audio_clips.test_clip):
             image:        exact.png, then a question
             two_images:   exact.png and mixed.png with text between them
             audio_image:  a 0.7 s clip and down.png in one turn
           Per prompt: the expanded ids, float32 logits of the last LAST positions, the argmax at
           every position and 16 greedy tokens (the whole sequence re-run each step).

Usage: make_vision_encoder_golden.py --out tests/golden/vision --model DIR [--parts encoder,thinker]
"""
import argparse
import json
import os

import numpy as np
import PIL
import torch
import transformers
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from audio_clips import test_clip

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "tests", "golden", "vision")

# name: [(source, grid)], source = a processor fixture name or ("synthetic", seed)
ENCODER_CASES = {
    "exact": [("exact", [1, 4, 6])],
    "two": [("exact", [1, 4, 6]), ("mixed", [1, 2, 4])],
    "wide": [(("synthetic", 3), [1, 10, 14])],
    "video": [(("synthetic", 4), [3, 4, 6])],
}


def synthetic(seed, patches, dim=1536):
    i = np.arange(patches * dim, dtype=np.int64)
    v = ((i * 7919 + seed * 104729) % 2001 - 1000).astype(np.float32) / np.float32(1000)
    return v.reshape(patches, dim)


def pixels(source, grid):
    n = grid[0] * grid[1] * grid[2]
    if isinstance(source, tuple):
        return synthetic(source[1], n)
    v = np.fromfile(os.path.join(FIXTURES, source + ".f32"), dtype="<f4").reshape(-1, 1536)
    assert v.shape[0] == n, (source, v.shape, grid)
    return v


def load_thinker(path):
    model = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        path, dtype=torch.float32)
    return model.thinker.eval()


def write_encoder(out_dir, thinker):
    d = os.path.join(out_dir, "encoder")
    os.makedirs(d, exist_ok=True)
    visual = thinker.model.visual
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "model": "synth --preset tiny --seed 0", "dtype": "float32",
            "inv_freq": visual.rotary_pos_emb.inv_freq.tolist(), "cases": {}}
    for case, items in ENCODER_CASES.items():
        pv = torch.from_numpy(np.concatenate([pixels(s, g) for s, g in items]))
        grid = torch.tensor([g for _, g in items])
        with torch.no_grad():
            out = visual(pv, grid_thw=grid)
        parts = [out.pooler_output] + list(out.deepstack_features)
        arr = np.stack([p.float().numpy() for p in parts]).astype("<f4")
        arr.tofile(os.path.join(d, case + ".f32"))
        meta["cases"][case] = {
            "items": [{"source": s if isinstance(s, str) else {"synthetic": s[1]}, "grid": g}
                      for s, g in items],
            "tokens": int(arr.shape[1]), "width": int(arr.shape[2]), "levels": len(parts) - 1,
            "file": case + ".f32"}
        print(f"encoder {case}: {list(arr.shape)}")
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)


LAST = 6
GREEDY = 16
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
AUDIO = "<|audio_start|><|audio_pad|><|audio_end|>"


def chat(user):
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


THINKER_CASES = {
    "image": {"text": chat(IMAGE + "What is in the picture?"), "images": ["exact.png"]},
    "two_images": {"text": chat(IMAGE + " and " + IMAGE + " Which is brighter?"),
                   "images": ["exact.png", "mixed.png"]},
    "audio_image": {"text": chat(AUDIO + IMAGE + "Does the sound match?"),
                    "images": ["down.png"], "clips": [(11, 11200)]},
}


def write_thinker(out_dir, model_dir, thinker):
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    proc = Qwen2VLImageProcessorPil.from_pretrained(model_dir)
    fe = transformers.WhisperFeatureExtractor.from_pretrained(model_dir)
    cfg = thinker.config
    merge = cfg.vision_config.spatial_merge_size
    n_window = cfg.audio_config.n_window
    d = os.path.join(out_dir, "thinker")
    os.makedirs(d, exist_ok=True)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "pillow": PIL.__version__, "model": "synth --preset tiny --seed 0",
            "dtype": "float32", "last": LAST, "cases": {}}
    for name, c in THINKER_CASES.items():
        imgs = [transformers.image_utils.load_image(os.path.join(FIXTURES, f)) for f in c["images"]]
        iv = proc(images=imgs, return_tensors="pt")
        grids = iv["image_grid_thw"]
        image_tokens = (grids.prod(-1) // merge ** 2).tolist()
        kwargs = {"pixel_values": iv["pixel_values"], "image_grid_thw": grids}
        audio_tokens = []
        if c.get("clips"):
            clips = [test_clip(seed, n) for seed, n in c["clips"]]
            feats = fe(clips, sampling_rate=16000, padding=True, truncation=False,
                       return_attention_mask=True, return_tensors="pt")
            audio_tokens = transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe \
                ._get_feat_extract_output_lengths(feats["attention_mask"].sum(-1), n_window).tolist()
            kwargs.update(input_features=feats["input_features"],
                          feature_attention_mask=feats["attention_mask"])
        ids, ki, ka = [], 0, 0
        for t in tok(c["text"])["input_ids"]:
            if t == cfg.image_token_id:
                ids += [t] * image_tokens[ki]
                ki += 1
            elif t == cfg.audio_token_id:
                ids += [t] * audio_tokens[ka]
                ka += 1
            else:
                ids.append(t)
        assert ki == len(imgs) and ka == len(audio_tokens)
        with torch.no_grad():
            x = torch.tensor([ids])
            logits = thinker(input_ids=x, attention_mask=torch.ones_like(x), **kwargs).logits[0]
            greedy = list(ids)
            for _ in range(GREEDY):
                x = torch.tensor([greedy])
                out = thinker(input_ids=x, attention_mask=torch.ones_like(x), **kwargs).logits[0, -1]
                greedy.append(int(torch.argmax(out)))
        logits = logits.float().numpy()
        logits[-LAST:].astype("<f4").tofile(os.path.join(d, f"{name}.f32"))
        meta["cases"][name] = {
            "text": c["text"], "images": c["images"], "grids": grids.tolist(),
            "image_tokens": image_tokens, "clips": [list(x) for x in c.get("clips", [])],
            "audio_tokens": audio_tokens, "ids": ids, "argmax": logits.argmax(-1).tolist(),
            "vocab": int(logits.shape[1]), "file": f"{name}.f32", "greedy": greedy[len(ids):]}
        print(f"thinker {name}: {len(ids)} tokens (images {image_tokens}, audio {audio_tokens}), "
              f"greedy {greedy[len(ids):]}")
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True, help="omnisage synth --preset tiny --seed 0 checkpoint")
    ap.add_argument("--parts", default="encoder,thinker")
    args = ap.parse_args()
    parts = args.parts.split(",")
    thinker = load_thinker(args.model)
    if "encoder" in parts:
        write_encoder(args.out, thinker)
    if "thinker" in parts:
        write_thinker(args.out, args.model, thinker)


if __name__ == "__main__":
    main()
